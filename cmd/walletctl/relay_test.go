package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentic-commerce/wallet-ledger/command"
	"github.com/agentic-commerce/wallet-ledger/eventstore"
	"github.com/agentic-commerce/wallet-ledger/internal/auth"
	"github.com/agentic-commerce/wallet-ledger/internal/pgtest"
	"github.com/agentic-commerce/wallet-ledger/migrations"
	"github.com/agentic-commerce/wallet-ledger/relay"
)

// ctlDB is a fresh migrated database that walletctl's DATABASE_URL points at.
func ctlDB(t *testing.T) *pgxpool.Pool {
	t.Helper()
	dbURL := pgtest.NewDatabase(t, migrations.Apply)
	t.Setenv("DATABASE_URL", dbURL)
	pool, err := pgxpool.New(context.Background(), dbURL)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	return pool
}

// walletctl runs the CLI and returns its exit code, stdout and stderr.
func walletctl(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := run(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

func quarantined(t *testing.T, pool *pgxpool.Pool) []string {
	t.Helper()
	rows, err := pool.Query(context.Background(), `SELECT event_id FROM relay_quarantine ORDER BY quarantined_at, event_id`)
	require.NoError(t, err)
	var ids []string
	for rows.Next() {
		var id string
		require.NoError(t, rows.Scan(&id))
		ids = append(ids, id)
	}
	require.NoError(t, rows.Err())
	return ids
}

// The operator lists the quarantine as a table or as JSON, and releases events by id or all at once: each released
// event is appended to the outbox again with its event id, payload and metadata (plus the release mark) for the
// relay to publish, and leaves the quarantine. Bad input is refused and changes nothing.
func TestRelayQuarantineListAndRelease(t *testing.T) {
	ctx := context.Background()
	pool := ctlDB(t)

	code, out, errOut := walletctl("relay", "quarantine", "list")
	require.Equal(t, 0, code, errOut)
	assert.Equal(t, "no quarantined events\n", out)
	code, out, _ = walletctl("relay", "quarantine", "list", "--json")
	require.Equal(t, 0, code)
	assert.JSONEq(t, `[]`, out)

	first, second := uuid.NewString(), uuid.NewString()
	longError := "nats: maximum payload exceeded\n" + strings.Repeat("x", 300)
	for i, id := range []string{first, second} {
		payload := `{"event_id":"` + id + `","type":"transaction.committed","version":1}`
		_, err := pool.Exec(ctx, `INSERT INTO relay_quarantine (event_id, event_type, payload, metadata, attempts, last_error, quarantined_at)
			VALUES ($1, 'transaction.committed', $2, '{"event_type":"transaction.committed","traceparent":"00-abc"}', 5, $3,
				now() - make_interval(mins => $4))`, id, payload, longError, 10-i)
		require.NoError(t, err)
	}

	code, out, errOut = walletctl("relay", "quarantine", "list")
	require.Equal(t, 0, code, errOut)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, 3, out)
	assert.Regexp(t, `^EVENT ID\s+TYPE\s+ATTEMPTS\s+QUARANTINED AT\s+LAST ERROR$`, lines[0])
	assert.Regexp(t, `^`+first+`\s+transaction\.committed\s+5\s+\d{4}-\d\d-\d\dT\S+Z\s+nats: maximum payload exceeded x+…$`, lines[1])
	assert.Contains(t, lines[2], second)

	code, out, errOut = walletctl("relay", "quarantine", "list", "--json")
	require.Equal(t, 0, code, errOut)
	var listed []relay.QuarantinedEvent
	require.NoError(t, json.Unmarshal([]byte(out), &listed))
	require.Len(t, listed, 2)
	assert.Equal(t, first, listed[0].EventID)
	assert.Equal(t, "transaction.committed", listed[0].EventType)
	assert.Equal(t, 5, listed[0].Attempts)
	assert.Equal(t, longError, listed[0].LastError, "JSON keeps the whole error")
	assert.WithinDuration(t, time.Now().Add(-10*time.Minute), listed[0].QuarantinedAt, time.Minute)

	for _, bad := range [][]string{
		{"relay", "quarantine", "release"},
		{"relay", "quarantine", "release", first, "--all"},
		{"relay", "quarantine", "release", strings.Repeat("a", 37)},
		{"relay", "quarantine", "release", first, uuid.NewString()},
		{"relay", "quarantine", "list", "extra"},
		{"relay", "quarantine", "drop", first},
		{"relay", "status"},
	} {
		code, _, errOut := walletctl(bad...)
		assert.Equal(t, 1, code, "%v", bad)
		assert.NotEmpty(t, errOut, "%v", bad)
	}
	code, _, errOut = walletctl("relay", "quarantine", "release", first, "no-such-event")
	require.Equal(t, 1, code)
	assert.Contains(t, errOut, "no-such-event: not in quarantine; nothing was released")
	assert.Equal(t, []string{first, second}, quarantined(t, pool))
	var outboxRows int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM outbox_events`).Scan(&outboxRows))
	assert.Zero(t, outboxRows)

	code, out, errOut = walletctl("relay", "quarantine", "release", second)
	require.Equal(t, 0, code, errOut)
	assert.Contains(t, out, "released 1 events")
	assert.Contains(t, out, second)
	assert.Equal(t, []string{first}, quarantined(t, pool))
	var payload, metaRaw string
	require.NoError(t, pool.QueryRow(ctx, `SELECT payload::text, metadata::text FROM outbox_events WHERE uuid = $1`, second).
		Scan(&payload, &metaRaw))
	assert.JSONEq(t, `{"event_id":"`+second+`","type":"transaction.committed","version":1}`, payload)
	var meta map[string]string
	require.NoError(t, json.Unmarshal([]byte(metaRaw), &meta))
	assert.Equal(t, "transaction.committed", meta[eventstore.MetadataEventType])
	assert.Equal(t, "00-abc", meta["traceparent"], "the writer's trace goes along")
	assert.NotEmpty(t, meta[relay.MetadataReleasedAt])

	code, out, errOut = walletctl("relay", "quarantine", "release", "--all")
	require.Equal(t, 0, code, errOut)
	assert.Contains(t, out, "released 1 events")
	assert.Contains(t, out, first)
	assert.Empty(t, quarantined(t, pool))
	code, out, _ = walletctl("relay", "quarantine", "release", "--all")
	require.Equal(t, 0, code)
	assert.Equal(t, "no quarantined events to release\n", out)
}

// `walletctl outbox prune` deletes relayed rows older than --older-than, keeps the rest, and refuses a bad age.
func TestOutboxPrune(t *testing.T) {
	ctx := context.Background()
	pool := ctlDB(t)
	store, err := eventstore.NewStore(pool)
	require.NoError(t, err)
	cmds, err := command.New(store, uuid.MustParse("00000000-0000-0000-0000-000000000001"), 24*time.Hour)
	require.NoError(t, err)
	t.Cleanup(cmds.Close)
	admin := auth.Caller{Sub: "ops", Scopes: []string{auth.ScopeAdmin}}
	for range 5 {
		k := uuid.NewString()
		_, err := cmds.CreateWallet.Run(ctx, admin, command.Idempotency{Sub: admin.Sub, Key: k, Hash: []byte(k)},
			command.CreateWallet{WalletID: uuid.New(), Asset: "NZD", Owner: "o"})
		require.NoError(t, err)
	}
	var offsets []int64
	rows, err := pool.Query(ctx, `SELECT "offset" FROM outbox_events ORDER BY "offset"`)
	require.NoError(t, err)
	for rows.Next() {
		var o int64
		require.NoError(t, rows.Scan(&o))
		offsets = append(offsets, o)
	}
	require.NoError(t, rows.Err())
	require.Len(t, offsets, 5)

	code, out, errOut := walletctl("outbox", "prune")
	require.Equal(t, 0, code, errOut)
	assert.Equal(t, "the relay has acked no event yet; nothing pruned\n", out)

	// The relay has published the first four rows and the read side has read everything; three rows are old.
	_, err = pool.Exec(ctx, `INSERT INTO watermill_offsets_outbox_events (consumer_group, offset_acked, last_processed_transaction_id)
		VALUES ('relay', $1, '0')`, offsets[3])
	require.NoError(t, err)
	_, err = pool.Exec(ctx, `UPDATE read_side_checkpoints SET last_xid = (SELECT transaction_id FROM outbox_events ORDER BY transaction_id DESC LIMIT 1),
		last_offset = $1`, offsets[4])
	require.NoError(t, err)
	_, err = pool.Exec(ctx, `UPDATE outbox_events SET created_at = created_at - interval '2 days' WHERE "offset" <> $1`, offsets[2])
	require.NoError(t, err)

	for _, bad := range [][]string{
		{"outbox", "prune", "--older-than", "0"},
		{"outbox", "prune", "--older-than", "-1h"},
		{"outbox", "prune", "--older-than", "7d"},
		{"outbox", "prune", "--batch", "0"},
		{"outbox", "prune", "now"},
		{"outbox", "vacuum"},
	} {
		code, _, errOut := walletctl(bad...)
		assert.Equal(t, 1, code, "%v", bad)
		assert.NotEmpty(t, errOut, "%v", bad)
	}
	code, out, errOut = walletctl("outbox", "prune")
	require.Equal(t, 0, code, errOut)
	assert.Equal(t, "pruned 0 outbox rows relayed up to offset "+fmt.Sprint(offsets[3])+" and older than 168h0m0s\n", out)

	code, out, errOut = walletctl("outbox", "prune", "--older-than", "24h", "--batch", "1")
	require.Equal(t, 0, code, errOut)
	assert.Equal(t, "pruned 2 outbox rows relayed up to offset "+fmt.Sprint(offsets[3])+" and older than 24h0m0s\n", out)
	var left []int64
	rows, err = pool.Query(ctx, `SELECT "offset" FROM outbox_events ORDER BY "offset"`)
	require.NoError(t, err)
	for rows.Next() {
		var o int64
		require.NoError(t, rows.Scan(&o))
		left = append(left, o)
	}
	require.NoError(t, rows.Err())
	assert.Equal(t, offsets[2:], left, "kept: the third row is a day young, the fifth not yet relayed")
}
