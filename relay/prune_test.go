package relay_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentic-commerce/wallet-ledger/relay"
)

// outboxRow is one outbox row as the prune tests see it.
type outboxRow struct {
	Offset int64
	XID    string
	UUID   string
}

func (l *ledger) outbox(ctx context.Context) []outboxRow {
	l.t.Helper()
	rows, err := l.pool.Query(ctx, `SELECT "offset", transaction_id::text, uuid FROM outbox_events ORDER BY "offset"`)
	require.NoError(l.t, err)
	var out []outboxRow
	for rows.Next() {
		var r outboxRow
		require.NoError(l.t, rows.Scan(&r.Offset, &r.XID, &r.UUID))
		out = append(out, r)
	}
	require.NoError(l.t, rows.Err())
	return out
}

func (l *ledger) setGroupOffset(ctx context.Context, group string, offset int64) {
	l.t.Helper()
	_, err := l.pool.Exec(ctx, `INSERT INTO watermill_offsets_outbox_events (consumer_group, offset_acked, last_processed_transaction_id)
		VALUES ($1, $2, '0') ON CONFLICT (consumer_group) DO UPDATE SET offset_acked = excluded.offset_acked`, group, offset)
	require.NoError(l.t, err)
}

// Each row that must stay has one reason to, and the rows around it go: a quarantined event (a gap the prune
// steps over), rows above the relay's acked offset or a slower consumer group's, a row the history projector has
// not read and a row younger than the retention (where the prune stops: later rows are younger or unread too).
// Nothing goes before the relay's own group has acked anything.
func TestPruneOutboxDeletesOnlyWhatEveryConsumerIsDoneWith(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l := newLedger(t)
	for range 8 {
		l.wallet(ctx)
	}
	rows := l.outbox(ctx)
	require.Len(t, rows, 8)
	o := func(i int) int64 { return rows[i-1].Offset } // rows numbered 1..8 below
	offsets := func() []int64 {
		var out []int64
		for _, r := range l.outbox(ctx) {
			out = append(out, r.Offset)
		}
		return out
	}
	readUpTo := func(consumer string, i int) {
		_, err := l.pool.Exec(ctx, `UPDATE read_side_checkpoints SET last_xid = $2::xid8, last_offset = $3
			WHERE consumer = $1`, consumer, rows[i-1].XID, o(i))
		require.NoError(t, err)
	}
	_, err := l.pool.Exec(ctx, `UPDATE outbox_events SET created_at = created_at - interval '8 days' WHERE "offset" <> $1`, o(7))
	require.NoError(t, err)
	_, err = l.pool.Exec(ctx, `INSERT INTO relay_quarantine (event_id, event_type, payload, metadata, attempts, last_error)
		VALUES ($1, 'wallet.created', '{}', '{}', 5, 'test')`, rows[1].UUID)
	require.NoError(t, err)
	readUpTo("history", 5)
	readUpTo("audit", 8)
	week := relay.PruneOptions{OlderThan: 7 * 24 * time.Hour, BatchSize: 2}

	_, err = relay.PruneOutbox(ctx, l.pool, relay.PruneOptions{})
	require.Error(t, err, "an age of zero would prune everything relayed; refused")

	l.setGroupOffset(ctx, "other", o(8))
	res, err := relay.PruneOutbox(ctx, l.pool, week)
	require.NoError(t, err)
	assert.Equal(t, relay.PruneResult{Deleted: 0, Floor: 0}, res, "the relay's group has acked nothing yet")

	l.setGroupOffset(ctx, relay.DefaultConsumerGroup, o(6))
	l.setGroupOffset(ctx, "other", o(3))
	res, err = relay.PruneOutbox(ctx, l.pool, week)
	require.NoError(t, err)
	assert.Equal(t, relay.PruneResult{Deleted: 2, Floor: o(3)}, res, "the slower group bounds the prune")
	assert.Equal(t, []int64{o(2), o(4), o(5), o(6), o(7), o(8)}, offsets())

	l.setGroupOffset(ctx, "other", o(8))
	res, err = relay.PruneOutbox(ctx, l.pool, week)
	require.NoError(t, err)
	assert.Equal(t, relay.PruneResult{Deleted: 2, Floor: o(6)}, res)
	assert.Equal(t, []int64{o(2), o(6), o(7), o(8)}, offsets(),
		"kept: 2 quarantined, 6 unread by the history projector, 7 and 8 not yet relayed")

	readUpTo("history", 8)
	l.setGroupOffset(ctx, relay.DefaultConsumerGroup, o(8))
	res, err = relay.PruneOutbox(ctx, l.pool, week)
	require.NoError(t, err)
	assert.Equal(t, relay.PruneResult{Deleted: 2, Floor: o(8)}, res)
	assert.Equal(t, []int64{o(2), o(7)}, offsets(), "kept: 2 quarantined, 7 younger than a week")
}

// The active relay prunes what it has relayed while writers keep writing: every event still arrives exactly once
// after dedup and in per-wallet order (so no unpublished row was ever deleted and the relay's position survived),
// the outbox shrinks to what is left in quarantine, and a poison event stays there.
func TestRelayPrunesWhatItRelayedWhileWritesFlow(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l := newLedger(t)
	// No read side runs in this test: its checkpoints would otherwise hold every row.
	_, err := l.pool.Exec(ctx, `DELETE FROM read_side_checkpoints`)
	require.NoError(t, err)
	cfg := testConfig(t, relay.PublisherSQL)
	cfg.OutboxRetention = time.Millisecond
	cfg.PruneInterval = 50 * time.Millisecond
	got := subscribeSQL(t, l.pool, relay.DefaultSQLTopic)
	wallets := fundedWallets(t, l, 4)
	poison := insertPoison(t, l)
	r := startRelay(t, cfg, l.pool)

	stop := make(chan struct{})
	wait := writeLoad(t, l, wallets, 2, stop)
	time.Sleep(1500 * time.Millisecond)
	close(stop)
	require.Positive(t, wait())

	txs, ws := l.journal(ctx)
	want := len(txs) + len(wallets)
	waitFor(t, patience, fmt.Sprintf("%d events downstream", want), func() bool { return len(got.unique()) >= want })
	checkExactlyTheJournal(t, got.unique(), txs, ws)
	checkWalletOrder(t, got.unique())
	waitFor(t, patience, "the outbox pruned down to the quarantined event", func() bool {
		rows := l.outbox(ctx)
		return len(rows) == 1 && rows[0].UUID == poison
	})
	waitDrained(t, r, patience)

	// The relay's position survived the prune of every row it had read, the last one included.
	w := l.wallet(ctx)
	waitFor(t, patience, "an event written after the prune", func() bool {
		u := got.unique()
		return u[len(u)-1].Payload.WalletID != nil && *u[len(u)-1].Payload.WalletID == w
	})
}

func TestOutboxRetentionConfig(t *testing.T) {
	for _, tc := range []struct {
		retention, interval string
		want                time.Duration
		wantErr             string
	}{
		{"", "", relay.DefaultOutboxRetention, ""},
		{"0", "", 0, ""},
		{"36h", "1m", 36 * time.Hour, ""},
		{"-1h", "", 0, "OUTBOX_RETENTION"},
		{"7d", "", 0, "OUTBOX_RETENTION"},
		{"", "0", 0, "OUTBOX_PRUNE_INTERVAL"},
	} {
		t.Run(tc.retention+"/"+tc.interval, func(t *testing.T) {
			t.Setenv("OUTBOX_RETENTION", tc.retention)
			t.Setenv("OUTBOX_PRUNE_INTERVAL", tc.interval)
			c, err := relay.LoadConfig()
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, c.OutboxRetention)
			assert.Positive(t, c.PruneInterval)
		})
	}
}
