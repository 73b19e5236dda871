package relay_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	watermillsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentic-commerce/wallet-ledger/command"
	"github.com/agentic-commerce/wallet-ledger/eventstore"
	"github.com/agentic-commerce/wallet-ledger/relay"
)

// subscribeSQL reads the downstream SQL topic with Watermill's SQL subscriber, as a downstream team would.
func subscribeSQL(t testing.TB, pool *pgxpool.Pool, topic string) *collector {
	t.Helper()
	c := &collector{}
	sub, err := watermillsql.NewSubscriber(watermillsql.BeginnerFromPgx(pool), watermillsql.SubscriberConfig{
		ConsumerGroup: "test", PollInterval: 20 * time.Millisecond,
		SchemaAdapter: watermillsql.DefaultPostgreSQLSchema{}, OffsetsAdapter: watermillsql.DefaultPostgreSQLOffsetsAdapter{},
	}, watermill.NopLogger{})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	msgs, err := sub.Subscribe(ctx, topic)
	require.NoError(t, err)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for m := range msgs {
			c.add(t, m.UUID, m.Payload, m.Metadata)
			m.Ack()
		}
	}()
	t.Cleanup(func() {
		cancel()
		_ = sub.Close()
		<-done
	})
	return c
}

// TestEveryCommittedWriteAndNothingElseGoesDownstream drives writes through the command package, including refused
// ones (insufficient funds, same wallet, a replayed key, a 503), and checks each publisher delivers exactly the
// journal.
func TestEveryCommittedWriteAndNothingElseGoesDownstream(t *testing.T) {
	for _, publisher := range []string{relay.PublisherSQL, relay.PublisherNATS} {
		t.Run(publisher, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			l := newLedger(t)
			cfg := testConfig(t, publisher)
			var got *collector
			if publisher == relay.PublisherNATS {
				got = subscribeNATS(t, natsURL(), cfg)
			} else {
				got = subscribeSQL(t, l.pool, relay.DefaultSQLTopic)
			}
			r := startRelay(t, cfg, l.pool)

			a, b, c := l.wallet(ctx), l.wallet(ctx), l.wallet(ctx)
			l.fund(ctx, a, 1000)
			for i := 0; i < 5; i++ {
				status, err := l.transfer(ctx, a, b, 10)
				require.NoError(t, err)
				require.Equal(t, 201, status)
			}
			status, err := l.transfer(ctx, c, a, 1) // c holds nothing
			require.NoError(t, err)
			require.Equal(t, 422, status, "insufficient funds must be refused")
			_, err = l.transfer(ctx, b, b, 1)
			require.Error(t, err, "a transfer to the same wallet must be refused")
			key := idem()
			one := int64(7)
			cmd, err := command.ValidateTransfer(command.TransferRequest{FromWalletID: a.String(), ToWalletID: c.String(), Amount: &one, Asset: "USD"})
			require.NoError(t, err)
			for i := 0; i < 2; i++ { // the replay of a key commits nothing new
				out, err := l.cmds.Transfer.Run(ctx, admin, key, cmd)
				require.NoError(t, err)
				require.Equal(t, 201, out.Status)
			}

			// A write that fails closed (503: its deadline passes while another transaction holds b's row) commits
			// nothing, so nothing of it may go downstream.
			lock, err := l.pool.Begin(ctx)
			require.NoError(t, err)
			_, err = lock.Exec(ctx, `SELECT 1 FROM balance_projections WHERE wallet_id = $1 FOR UPDATE`, b)
			require.NoError(t, err)
			short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
			_, err = l.transfer(short, a, b, 3)
			cancel()
			require.ErrorIs(t, err, eventstore.ErrUnavailable)
			require.NoError(t, lock.Rollback(ctx))

			txs, wallets := l.journal(ctx)
			require.Len(t, txs, 7) // funding, five transfers, the keyed transfer once
			want := len(txs) + 3
			waitFor(t, patience, "every event downstream", func() bool { return len(got.unique()) >= want })
			// Anything extra would arrive in the next poll cycles: give it the time, then look.
			waitDrained(t, r, patience)
			time.Sleep(300 * time.Millisecond)
			checkExactlyTheJournal(t, got.unique(), txs, wallets)
			checkWalletOrder(t, got.unique())
			assert.Len(t, got.unique(), want)
			for _, ev := range got.unique() {
				assert.Equal(t, eventstore.EventSchemaVersion, ev.Payload.Version)
				assert.Equal(t, ev.Type, ev.Meta[eventstore.MetadataEventType])
				assert.NotEmpty(t, ev.Meta[eventstore.MetadataPartitionKey])
			}
		})
	}
}

// TestPoisonEventIsQuarantinedAndCountedNotSkipped puts an outbox row whose envelope is malformed between two good
// ones: it is retried MaxAttempts times, set aside in relay_quarantine, and the events after it still flow.
func TestPoisonEventIsQuarantinedAndCountedNotSkipped(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l := newLedger(t)
	cfg := testConfig(t, relay.PublisherSQL)
	got := subscribeSQL(t, l.pool, relay.DefaultSQLTopic)

	before := l.wallet(ctx)
	poison := insertPoison(t, l)
	after := l.wallet(ctx)

	startRelay(t, cfg, l.pool)
	waitFor(t, patience, "the good events around the poison one", func() bool { return len(got.unique()) == 2 })
	ids := []uuid.UUID{*got.unique()[0].Payload.WalletID, *got.unique()[1].Payload.WalletID}
	assert.Equal(t, []uuid.UUID{before, after}, ids)

	var attempts int
	var lastError string
	require.NoError(t, l.pool.QueryRow(ctx, `SELECT attempts, last_error FROM relay_quarantine WHERE event_id = $1`, poison).
		Scan(&attempts, &lastError))
	assert.Equal(t, cfg.MaxAttempts, attempts)
	assert.Contains(t, lastError, "differs from the message UUID")
	var left int
	require.NoError(t, l.pool.QueryRow(ctx, `SELECT count(*) FROM relay_failures`).Scan(&left))
	assert.Zero(t, left, "the failure counter is cleared once the event is quarantined")
}

// TestHealthAndReadiness: liveness always; readiness needs the database and the broker.
func TestHealthAndReadiness(t *testing.T) {
	t.Parallel()
	l := newLedger(t)
	cfg := testConfig(t, relay.PublisherNATS)
	r := startRelay(t, cfg, l.pool)
	srv := httptest.NewServer(r.HealthHandler(nil))
	defer srv.Close()

	get := func(path string) (int, map[string]any) {
		resp, err := http.Get(srv.URL + path)
		require.NoError(t, err)
		defer resp.Body.Close()
		var body map[string]any
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
		return resp.StatusCode, body
	}
	status, body := get("/v1/health")
	assert.Equal(t, 200, status)
	assert.Equal(t, "ok", body["status"])
	waitFor(t, patience, "leadership", r.IsLeader)
	waitFor(t, patience, "a lag measurement", func() bool { return !r.LastLag().MeasuredAt.IsZero() })
	status, body = get("/v1/ready")
	assert.Equal(t, 200, status, body)
	assert.Equal(t, true, body["leader"])
	assert.Equal(t, 0.0, body["outbox_backlog"], body)

	// A relay that has not measured its backlog yet says it does not know it, never that it is zero.
	down, err := relay.NewDownstream(cfg, l.pool, nil)
	require.NoError(t, err)
	defer down.Close()
	idle, err := relay.New(cfg, l.pool, down)
	require.NoError(t, err)
	srv3 := httptest.NewServer(idle.HealthHandler(nil))
	defer srv3.Close()
	resp, err := http.Get(srv3.URL + "/v1/ready")
	require.NoError(t, err)
	var unmeasured map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&unmeasured))
	resp.Body.Close()
	assert.Equal(t, 200, resp.StatusCode, unmeasured)
	assert.Contains(t, unmeasured, "outbox_backlog")
	assert.Nil(t, unmeasured["outbox_backlog"])

	// The same relay pointed at a broker that is not there is alive but not ready.
	dead := cfg
	dead.NATSURL = "nats://127.0.0.1:1"
	dead.LockKey = 42
	r2 := startRelay(t, dead, l.pool)
	srv2 := httptest.NewServer(r2.HealthHandler(nil))
	defer srv2.Close()
	resp, err = http.Get(srv2.URL + "/v1/ready")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	assert.Equal(t, "application/problem+json", resp.Header.Get("Content-Type"))
}

// TestReferenceSubscriberPrintsEachEventOnce builds the example subscriber and runs it against the SQL topic: it
// prints every event the relay published, once.
func TestReferenceSubscriberPrintsEachEventOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l := newLedger(t)
	bin := filepath.Join(t.TempDir(), "subscriber")
	build := exec.Command("go", "build", "-o", bin, "./example/subscriber")
	out, err := build.CombinedOutput()
	require.NoError(t, err, string(out))

	a, b := l.wallet(ctx), l.wallet(ctx)
	l.fund(ctx, a, 100)
	_, err = l.transfer(ctx, a, b, 40)
	require.NoError(t, err)
	startRelay(t, testConfig(t, relay.PublisherSQL), l.pool)

	var stdout syncBuffer
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), "DATABASE_URL="+l.url, "SUBSCRIBE_FROM=sql", "CONSUMER_NAME=reference-test")
	cmd.Stdout = &stdout
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	lines := func() []string { return strings.Split(strings.TrimSpace(stdout.String()), "\n") }
	waitFor(t, patience, "four events printed", func() bool { return len(lines()) >= 4 })
	time.Sleep(300 * time.Millisecond)
	ids := map[string]bool{}
	var types []string
	for _, line := range lines() {
		var rec struct {
			Event map[string]any `json:"event"`
		}
		require.NoError(t, json.Unmarshal([]byte(line), &rec), line)
		ids[rec.Event["event_id"].(string)] = true
		types = append(types, rec.Event["type"].(string))
	}
	assert.Len(t, ids, 4)
	assert.Equal(t, []string{"wallet.created", "wallet.created", "transaction.committed", "transaction.committed"}, types)
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
