package relay_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	watermillsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/agentic-commerce/wallet-ledger/command"
	"github.com/agentic-commerce/wallet-ledger/eventstore"
	"github.com/agentic-commerce/wallet-ledger/internal/auth"
	"github.com/agentic-commerce/wallet-ledger/internal/config"
	"github.com/agentic-commerce/wallet-ledger/internal/leaktest"
	"github.com/agentic-commerce/wallet-ledger/internal/pgtest"
	"github.com/agentic-commerce/wallet-ledger/migrations"
	"github.com/agentic-commerce/wallet-ledger/relay"
)

// natsURL is the shared JetStream server the suite needs (scripts/ensure_nats.sh starts it).
func natsURL() string {
	if v := os.Getenv("NATS_URL"); v != "" {
		return v
	}
	return relay.DefaultNATSURL
}

func TestMain(m *testing.M) {
	nc, err := nats.Connect(natsURL(), nats.Timeout(3*time.Second))
	if err != nil {
		fmt.Fprintf(os.Stderr, "relay tests need NATS JetStream at %s (%v): run scripts/ensure_nats.sh (make test does) "+
			"or set NATS_URL\n", natsURL(), err)
		os.Exit(1)
	}
	nc.Close()
	os.Exit(leaktest.Check(m.Run()))
}

var admin = auth.Caller{Sub: "relay-test", Scopes: []string{auth.ScopeAdmin}}

// ledger is a fresh migrated database with the real write side on it.
type ledger struct {
	t    testing.TB
	url  string
	pool *pgxpool.Pool
	cmds *command.Commands
}

func newLedger(t testing.TB) *ledger {
	t.Helper()
	url := pgtest.NewDatabase(t, migrations.Apply)
	pool, err := pgxpool.New(context.Background(), url)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	store, err := eventstore.NewStore(pool)
	require.NoError(t, err)
	cmds, err := command.New(store, uuid.MustParse(config.DefaultSystemWalletID), 48*time.Hour)
	require.NoError(t, err)
	t.Cleanup(cmds.Close)
	return &ledger{t: t, url: url, pool: pool, cmds: cmds}
}

func idem() command.Idempotency {
	k := uuid.NewString()
	return command.Idempotency{Sub: admin.Sub, Key: k, Hash: command.RequestHash("POST", "/test", []byte(k))}
}

func (l *ledger) wallet(ctx context.Context) uuid.UUID {
	l.t.Helper()
	cmd, err := l.cmds.ValidateCreateWallet(admin, command.CreateWalletRequest{Asset: "USD"})
	require.NoError(l.t, err)
	out, err := l.cmds.CreateWallet.Run(ctx, admin, idem(), cmd)
	require.NoError(l.t, err)
	require.Equal(l.t, 201, out.Status, string(out.Body))
	return cmd.WalletID
}

func (l *ledger) fund(ctx context.Context, w uuid.UUID, amount int64) {
	l.t.Helper()
	reason := "test funding"
	cmd, err := command.ValidateAdjustment(command.AdjustmentRequest{WalletID: w.String(), Amount: &amount, Asset: "USD", Reason: &reason})
	require.NoError(l.t, err)
	out, err := l.cmds.Adjust.Run(ctx, admin, idem(), cmd)
	require.NoError(l.t, err)
	require.Equal(l.t, 201, out.Status, string(out.Body))
}

// transfer returns the outcome's status (201, or a refusal such as 422).
func (l *ledger) transfer(ctx context.Context, from, to uuid.UUID, amount int64) (int, error) {
	cmd, err := command.ValidateTransfer(command.TransferRequest{FromWalletID: from.String(), ToWalletID: to.String(), Amount: &amount, Asset: "USD"})
	if err != nil {
		return 0, err
	}
	out, err := l.cmds.Transfer.Run(ctx, admin, idem(), cmd)
	if err != nil {
		return 0, err
	}
	return out.Status, nil
}

// journal returns what the database committed: every transaction id, and every wallet id with its kind.
func (l *ledger) journal(ctx context.Context) (txs map[string]bool, wallets map[string]string) {
	l.t.Helper()
	txs, wallets = map[string]bool{}, map[string]string{}
	rows, err := l.pool.Query(ctx, `SELECT transaction_id::text FROM journal_transactions`)
	require.NoError(l.t, err)
	for rows.Next() {
		var id string
		require.NoError(l.t, rows.Scan(&id))
		txs[id] = true
	}
	require.NoError(l.t, rows.Err())
	rows, err = l.pool.Query(ctx, `SELECT wallet_id::text, kind FROM wallets`)
	require.NoError(l.t, err)
	for rows.Next() {
		var id, kind string
		require.NoError(l.t, rows.Scan(&id, &kind))
		wallets[id] = kind
	}
	require.NoError(l.t, rows.Err())
	return txs, wallets
}

// testConfig is a relay config with short intervals, publishing to NATS under a prefix unique to the test.
func testConfig(t testing.TB, publisher string) relay.Config {
	id := strings.ReplaceAll(uuid.NewString()[:8], "-", "")
	return relay.Config{
		Publisher: publisher, NATSURL: natsURL(), SubjectPrefix: "test" + id + ".events", NATSStream: "TEST_" + id,
		// Pages gather as deployed (RELAY_PAGE_GATHER), shorter: every test runs with it.
		PollInterval: 20 * time.Millisecond, PageGather: 10 * time.Millisecond, LagInterval: 50 * time.Millisecond, AckDeadline: 2 * time.Second,
		RetryMin: 20 * time.Millisecond, RetryMax: 200 * time.Millisecond, MaxAttempts: 3, ShutdownTimeout: 5 * time.Second,
	}
}

// running is a relay started in the background.
type running struct {
	*relay.Relay
	cancel context.CancelFunc
	done   chan struct{}
}

func startRelay(t testing.TB, cfg relay.Config, pool *pgxpool.Pool) *running {
	t.Helper()
	down, err := relay.NewDownstream(cfg, pool, nil)
	require.NoError(t, err)
	return startRelayOn(t, cfg, pool, down)
}

// startRelayOn is startRelay publishing to down, which it closes when the relay stops.
func startRelayOn(t testing.TB, cfg relay.Config, pool *pgxpool.Pool, down relay.Downstream) *running {
	t.Helper()
	r, err := relay.New(cfg, pool, down, relay.WithLogger(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))))
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	rr := &running{Relay: r, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(rr.done)
		defer down.Close()
		_ = r.Run(ctx)
	}()
	t.Cleanup(rr.stop)
	return rr
}

// stop cancels the relay and waits (bounded) for it to return.
func (r *running) stop() {
	r.cancel()
	select {
	case <-r.done:
	case <-time.After(patience):
		panic("relay did not stop within " + patience.String())
	}
}

// received is one event as a subscriber saw it.
type received struct {
	ID      string
	Type    string
	Payload eventstore.Event
	Meta    map[string]string
}

// collector gathers every event downstream, in delivery order, duplicates included.
type collector struct {
	mu    sync.Mutex
	seen  []received
	onAdd func(id string) // called on every delivery, before it is recorded
}

func (c *collector) add(t testing.TB, id string, data []byte, meta map[string]string) {
	var ev eventstore.Event
	if err := json.Unmarshal(data, &ev); err != nil {
		t.Errorf("downstream payload of %s is not an event: %v", id, err)
		return
	}
	c.mu.Lock()
	if c.onAdd != nil {
		c.onAdd(id)
	}
	c.seen = append(c.seen, received{ID: id, Type: ev.Type, Payload: ev, Meta: meta})
	c.mu.Unlock()
}

// setOnAdd installs a hook called on every later delivery.
func (c *collector) setOnAdd(f func(id string)) {
	c.mu.Lock()
	c.onAdd = f
	c.mu.Unlock()
}

func (c *collector) snapshot() []received {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]received(nil), c.seen...)
}

// unique returns the events deduplicated by event_id, first delivery kept, in delivery order.
func (c *collector) unique() []received {
	var out []received
	seen := map[string]bool{}
	for _, r := range c.snapshot() {
		if !seen[r.ID] {
			seen[r.ID] = true
			out = append(out, r)
		}
	}
	return out
}

// subscribeNATS reads the test's whole stream with an ordered consumer (from its first message).
func subscribeNATS(t testing.TB, url string, cfg relay.Config) *collector {
	t.Helper()
	c := &collector{}
	nc, err := nats.Connect(url, nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond), nats.RetryOnFailedConnect(true))
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// Created here too (same config as the relay's), so the consumer can attach before the first publish.
	_, err = js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{Name: cfg.NATSStream, Subjects: []string{cfg.SubjectPrefix + ".>"},
		Storage: jetstream.FileStorage, Duplicates: 2 * time.Minute})
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = js.DeleteStream(ctx, cfg.NATSStream)
	})
	cons, err := js.OrderedConsumer(ctx, cfg.NATSStream, jetstream.OrderedConsumerConfig{FilterSubjects: []string{cfg.SubjectPrefix + ".>"}})
	require.NoError(t, err)
	cc, err := cons.Consume(func(m jetstream.Msg) {
		meta := map[string]string{}
		for k, v := range m.Headers() {
			meta[k] = v[0]
		}
		id := m.Headers().Get("_watermill_message_uuid")
		if want := cfg.SubjectPrefix + "." + meta[eventstore.MetadataEventType]; m.Subject() != want {
			t.Errorf("event %s on subject %s, want %s", id, m.Subject(), want)
		}
		c.add(t, id, m.Data(), meta)
	})
	require.NoError(t, err)
	t.Cleanup(cc.Stop)
	return c
}

// waitDrained waits for a lag measurement taken after the call that finds no backlog: an earlier one, or none
// yet (Backlog is zero then too), proves nothing.
func waitDrained(t testing.TB, r *running, d time.Duration) {
	t.Helper()
	since := time.Now()
	waitFor(t, d, "the outbox drained", func() bool {
		l := r.LastLag()
		return l.MeasuredAt.After(since) && l.Backlog == 0
	})
}

// patience bounds every wait for the relay to do something: generous, because a busy machine (make load beside make
// test) can be many times slower than an idle one, and a wait that ends as soon as its condition holds costs nothing.
const patience = 2 * time.Minute

// waitFor polls cond until it holds or d passes; it never hangs.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// checkExactlyTheJournal: after dedup, the events downstream are exactly one wallet.created per wallet and one
// transaction.committed per journal transaction: nothing lost, nothing invented.
func checkExactlyTheJournal(t testing.TB, got []received, txs map[string]bool, wallets map[string]string) {
	t.Helper()
	gotTx, gotWallets := map[string]int{}, map[string]int{}
	for _, r := range got {
		switch r.Type {
		case eventstore.EventTransactionCommitted:
			gotTx[r.Payload.TransactionID.String()]++
		case eventstore.EventWalletCreated:
			gotWallets[r.Payload.WalletID.String()]++
		default:
			t.Errorf("unexpected event type %q", r.Type)
		}
		if r.Payload.EventID.String() != r.ID {
			t.Errorf("message UUID %s differs from event_id %s", r.ID, r.Payload.EventID)
		}
	}
	for id := range txs {
		if gotTx[id] != 1 {
			t.Errorf("transaction %s: %d events downstream, want 1", id, gotTx[id])
		}
	}
	for id := range gotTx {
		if !txs[id] {
			t.Errorf("event for transaction %s that the journal does not hold", id)
		}
	}
	for id, kind := range wallets {
		// User wallets are created by a request and announce it; system wallets appear on first use.
		if (kind == eventstore.KindUser && gotWallets[id] != 1) || gotWallets[id] > 1 {
			t.Errorf("%s wallet %s: %d wallet.created events", kind, id, gotWallets[id])
		}
	}
	for id := range gotWallets {
		if _, ok := wallets[id]; !ok {
			t.Errorf("wallet.created for %s that the database does not hold", id)
		}
	}
}

// checkWalletOrder: for every wallet, the deduplicated events that touch it arrive in journal order (positions
// strictly increase) and its wallet.created comes first.
func checkWalletOrder(t testing.TB, got []received) {
	t.Helper()
	last := map[uuid.UUID]int64{}
	for _, r := range got {
		for _, w := range r.Payload.WalletIDs {
			prev, seen := last[w]
			if r.Type == eventstore.EventWalletCreated {
				if seen {
					t.Errorf("wallet %s: wallet.created after its transactions", w)
				}
				last[w] = 0
				continue
			}
			if seen && r.Payload.Position <= prev {
				t.Errorf("wallet %s: position %d delivered after %d", w, r.Payload.Position, prev)
			}
			last[w] = r.Payload.Position
		}
	}
}

// freePort returns a TCP port nothing listens on right now.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// insertPoison writes an outbox row whose envelope names another event id, which the relay can never publish,
// and returns its event id.
func insertPoison(t *testing.T, l *ledger) string {
	t.Helper()
	poison := uuid.NewString()
	msg := message.NewMessage(poison, []byte(`{"event_id":"not-this-one","type":"wallet.created","version":1}`))
	msg.Metadata.Set(eventstore.MetadataEventType, "wallet.created")
	q, err := (watermillsql.DefaultPostgreSQLSchema{GenerateMessagesTableName: func(string) string { return eventstore.OutboxTopic }}).
		InsertQuery(watermillsql.InsertQueryParams{Topic: eventstore.OutboxTopic, Msgs: message.Messages{msg}})
	require.NoError(t, err)
	_, err = l.pool.Exec(context.Background(), q.Query, q.Args...)
	require.NoError(t, err)
	return poison
}
