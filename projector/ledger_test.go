package projector_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/agentic-commerce/wallet-ledger/command"
	"github.com/agentic-commerce/wallet-ledger/eventstore"
	"github.com/agentic-commerce/wallet-ledger/internal/auth"
	"github.com/agentic-commerce/wallet-ledger/internal/leaktest"
	"github.com/agentic-commerce/wallet-ledger/internal/pgtest"
	"github.com/agentic-commerce/wallet-ledger/migrations"
)

// The tests share one package database and run one at a time: each leaves the ledger consistent, because the full
// sweeps look at every wallet.

// Every test has a database of its own (freshPool): the audits, rebuilds and read-side checkpoints these tests
// exercise read or rewrite a whole database, so a shared one would let one test's wallets show up in another's.
func TestMain(m *testing.M) { leaktest.Main(m) }

// freshPool returns a pool on a new migrated database, both closed and dropped when t ends.
func freshPool(t testing.TB) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), pgtest.NewDatabase(t, migrations.Apply))
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	return pool
}

var systemBase = uuid.MustParse("00000000-0000-0000-0000-000000000001")

// ledger writes through the real write side (command), the path whose locks the read side relies on.
type ledger struct {
	t     testing.TB
	pool  *pgxpool.Pool
	store *eventstore.Store
	cmd   *command.Commands
}

var keys atomic.Int64

func newLedger(t testing.TB, pool *pgxpool.Pool) *ledger {
	t.Helper()
	store, err := eventstore.NewStore(pool)
	require.NoError(t, err)
	c, err := command.New(store, systemBase, 24*time.Hour)
	require.NoError(t, err)
	t.Cleanup(c.Close)
	return &ledger{t: t, pool: pool, store: store, cmd: c}
}

func (l *ledger) idem(sub string) command.Idempotency {
	k := fmt.Sprintf("k-%d-%s", keys.Add(1), uuid.NewString())
	return command.Idempotency{Sub: sub, Key: k, Hash: []byte(k)}
}

var admin = auth.Caller{Sub: "treasury", Scopes: []string{auth.ScopeAdmin}}

func (l *ledger) wallet(asset string) uuid.UUID {
	l.t.Helper()
	id := uuid.New()
	out, err := l.cmd.CreateWallet.Run(context.Background(), admin, l.idem(admin.Sub),
		command.CreateWallet{WalletID: id, Asset: asset, Owner: "owner-" + id.String()[:8]})
	require.NoError(l.t, err)
	require.Equal(l.t, 201, out.Status, "%s", out.Body)
	return id
}

func (l *ledger) adjust(w uuid.UUID, asset string, amount int64) {
	l.t.Helper()
	out, err := l.cmd.Adjust.Run(context.Background(), admin, l.idem(admin.Sub),
		command.Adjustment{WalletID: w, Asset: asset, Amount: amount, Reason: "test"})
	require.NoError(l.t, err)
	require.Equal(l.t, 201, out.Status, "%s", out.Body)
}

// transfer moves amount; it reports whether the ledger accepted it (insufficient funds is a valid refusal).
func (l *ledger) transfer(ctx context.Context, from, to uuid.UUID, asset string, amount int64) (bool, error) {
	out, err := l.cmd.Transfer.Run(ctx, admin, l.idem(admin.Sub),
		command.Transfer{FromWalletID: from, ToWalletID: to, Asset: asset, Amount: amount})
	if err != nil {
		if errors.Is(err, eventstore.ErrUnavailable) {
			return false, nil // lock timeout under contention: nothing committed
		}
		return false, err
	}
	return out.Status == 201, nil
}

// randomWorkload runs workers goroutines of random transfers among wallets until n transfers were attempted.
func (l *ledger) randomWorkload(wallets []uuid.UUID, asset string, workers, n int) int64 {
	l.t.Helper()
	var done, committed atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for g := 0; g < workers; g++ {
		wg.Add(1)
		go func(seed int) {
			defer wg.Done()
			for i := seed; done.Add(1) <= int64(n); i += 7 {
				from := wallets[(i*31+seed)%len(wallets)]
				to := wallets[(i*17+3)%len(wallets)]
				if from == to {
					continue
				}
				ok, err := l.transfer(context.Background(), from, to, asset, int64(1+i%97))
				if err != nil {
					errs <- err
					return
				}
				if ok {
					committed.Add(1)
				}
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(l.t, err)
	}
	return committed.Load()
}

// logBuffer captures slog output for assertions on the per-discrepancy log line.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) lines(substr string) []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for _, l := range strings.Split(b.buf.String(), "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return out
}

func newLogger() (*slog.Logger, *logBuffer) {
	b := &logBuffer{}
	return slog.New(slog.NewJSONHandler(b, nil)), b
}

// patience bounds every wait for a worker to do something: generous, because a busy machine can be many times
// slower than an idle one, and a wait that ends as soon as its condition holds costs nothing.
const patience = 2 * time.Minute

// eventually polls cond until it holds or d passes.
func eventually(t testing.TB, d time.Duration, cond func() bool, msg string) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s: %s", d, msg)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
