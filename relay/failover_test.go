package relay_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os/exec"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentic-commerce/wallet-ledger/relay"
)

// writeLoad runs writers transfers among wallets until stop closes, several at once so transactions that share
// a wallet race for it. It returns how many transfers committed.
func writeLoad(t *testing.T, l *ledger, wallets []uuid.UUID, writers int, stop <-chan struct{}) func() int64 {
	var committed atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				i := rand.IntN(len(wallets))
				j := (i + 1 + rand.IntN(len(wallets)-1)) % len(wallets)
				status, err := l.transfer(context.Background(), wallets[i], wallets[j], 1)
				if err != nil {
					t.Errorf("transfer: %v", err)
					return
				}
				if status == 201 {
					committed.Add(1)
				}
			}
		}()
	}
	return func() int64 {
		wg.Wait()
		return committed.Load()
	}
}

func fundedWallets(t *testing.T, l *ledger, n int) []uuid.UUID {
	ctx := context.Background()
	ws := make([]uuid.UUID, n)
	for i := range ws {
		ws[i] = l.wallet(ctx)
		l.fund(ctx, ws[i], 1_000_000)
	}
	return ws
}

// TestRelayKilledMidStreamLosesNothing cancels the relay's context again and again while writes flow (often in
// the middle of a subscriber batch), restarting it each time: every event arrives, each exactly once after dedup,
// in journal order per wallet.
func TestRelayKilledMidStreamLosesNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l := newLedger(t)
	cfg := testConfig(t, relay.PublisherNATS)
	got := subscribeNATS(t, natsURL(), cfg)
	wallets := fundedWallets(t, l, 6)

	stop := make(chan struct{})
	wait := writeLoad(t, l, wallets, 4, stop)
	for i := 0; i < 6; i++ {
		r := startRelay(t, cfg, l.pool)
		time.Sleep(time.Duration(150+rand.IntN(250)) * time.Millisecond)
		r.stop()
	}
	close(stop)
	committed := wait()
	require.Positive(t, committed)
	r := startRelay(t, cfg, l.pool)

	txs, ws := l.journal(ctx)
	want := len(txs) + len(wallets)
	waitFor(t, patience, fmt.Sprintf("%d events downstream", want), func() bool { return len(got.unique()) >= want })
	waitDrained(t, r, patience)
	time.Sleep(200 * time.Millisecond)
	checkExactlyTheJournal(t, got.unique(), txs, ws)
	checkWalletOrder(t, got.unique())
	t.Logf("%d transfers committed, %d deliveries for %d events", committed, len(got.snapshot()), len(got.unique()))
}

// TestTwoRelaysAtOnce runs two replicas on one database: one leads, the other stands by and takes over when the
// leader goes away. Nothing is lost and per-wallet order holds across the hand-over.
func TestTwoRelaysAtOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l := newLedger(t)
	cfg := testConfig(t, relay.PublisherNATS)
	got := subscribeNATS(t, natsURL(), cfg)
	wallets := fundedWallets(t, l, 6)

	a, b := startRelay(t, cfg, l.pool), startRelay(t, cfg, l.pool)
	waitFor(t, patience, "a leader", func() bool { return a.IsLeader() || b.IsLeader() })
	leader, standby := a, b
	if b.IsLeader() {
		leader, standby = b, a
	}
	// Never two leaders at once, sampled while writes flow.
	var both atomic.Bool
	sampling := make(chan struct{})
	go func() {
		for {
			select {
			case <-sampling:
				return
			case <-time.After(5 * time.Millisecond):
				if a.IsLeader() && b.IsLeader() {
					both.Store(true)
				}
			}
		}
	}()
	stop := make(chan struct{})
	wait := writeLoad(t, l, wallets, 4, stop)
	time.Sleep(700 * time.Millisecond)
	leader.stop()
	waitFor(t, patience, "the standby to take over", standby.IsLeader)
	time.Sleep(700 * time.Millisecond)
	close(stop)
	wait()
	close(sampling)

	txs, ws := l.journal(ctx)
	want := len(txs) + len(wallets)
	waitFor(t, patience, fmt.Sprintf("%d events downstream", want), func() bool { return len(got.unique()) >= want })
	waitDrained(t, standby, patience)
	time.Sleep(200 * time.Millisecond)
	checkExactlyTheJournal(t, got.unique(), txs, ws)
	checkWalletOrder(t, got.unique())
	assert.False(t, both.Load(), "two relays led at the same time")
}

// natsServer is a private nats-server with JetStream on its own port and store, for tests that stop it.
type natsServer struct {
	t     *testing.T
	port  int
	store string
	cmd   *exec.Cmd
}

func newNATSServer(t *testing.T) *natsServer {
	bin, err := exec.LookPath("nats-server")
	require.NoError(t, err, "nats-server is not installed: run scripts/ensure_nats.sh (make test does)")
	s := &natsServer{t: t, port: freePort(t), store: t.TempDir()}
	s.cmd = exec.Command(bin)
	s.start()
	t.Cleanup(s.kill)
	return s
}

func (s *natsServer) url() string { return fmt.Sprintf("nats://127.0.0.1:%d", s.port) }

func (s *natsServer) start() {
	s.t.Helper()
	s.cmd = exec.Command(s.cmd.Path, "-a", "127.0.0.1", "-p", fmt.Sprint(s.port), "-js", "-sd", s.store)
	require.NoError(s.t, s.cmd.Start())
	waitFor(s.t, patience, "nats-server to listen", func() bool {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", s.port), time.Second)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
}

// kill stops the server hard (SIGKILL), the way a crashed broker goes away.
func (s *natsServer) kill() {
	if s.cmd.Process == nil || s.cmd.ProcessState != nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGKILL)
	_ = s.cmd.Wait()
}

// TestNATSDownForAWhile: the broker dies while events are written; the relay retries without quarantining
// anything, the lag rises, and when the broker returns the backlog drains, the lag falls, and nothing is lost.
func TestNATSDownForAWhile(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := newNATSServer(t)
	l := newLedger(t)
	cfg := testConfig(t, relay.PublisherNATS)
	cfg.NATSURL = srv.url()
	got := subscribeNATS(t, srv.url(), cfg)
	wallets := fundedWallets(t, l, 4)
	r := startRelay(t, cfg, l.pool)
	waitFor(t, patience, "the first events", func() bool { return len(got.unique()) >= len(wallets) })

	srv.kill()
	for i := 0; i < 20; i++ {
		status, err := l.transfer(ctx, wallets[i%4], wallets[(i+1)%4], 1)
		require.NoError(t, err)
		require.Equal(t, 201, status)
	}
	waitFor(t, patience, "the lag to rise", func() bool {
		lag := r.LastLag()
		return lag.Backlog >= 20 && lag.OldestAge >= 1
	})
	peak := r.LastLag()
	srv.start()

	txs, ws := l.journal(ctx)
	want := len(txs) + len(wallets)
	waitFor(t, patience, fmt.Sprintf("%d events downstream", want), func() bool { return len(got.unique()) >= want })
	waitFor(t, patience, "the lag to fall", func() bool {
		lag := r.LastLag()
		return lag.Backlog == 0 && lag.OldestAge == 0
	})
	time.Sleep(200 * time.Millisecond)
	checkExactlyTheJournal(t, got.unique(), txs, ws)
	checkWalletOrder(t, got.unique())
	var quarantined int
	require.NoError(t, l.pool.QueryRow(ctx, `SELECT count(*) FROM relay_quarantine`).Scan(&quarantined))
	assert.Zero(t, quarantined, "a broker outage must never quarantine events")
	t.Logf("lag peaked at %d events, oldest %.1fs", peak.Backlog, peak.OldestAge)
}
