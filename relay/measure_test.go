package relay_test

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/agentic-commerce/wallet-ledger/eventstore"
	"github.com/agentic-commerce/wallet-ledger/relay"
)

// The measurements of docs/performance.md ("Relay"). They are benchmarks, so `make test` does not run them:
//
//	go test -run '^$' -bench 'BenchmarkRelay' -benchtime 1x ./relay/

// BenchmarkRelayThroughput fills the outbox with a backlog, then times the relay draining it.
func BenchmarkRelayThroughput(b *testing.B) {
	const backlog = 5000
	for _, publisher := range []string{relay.PublisherNATS, relay.PublisherSQL} {
		b.Run(publisher, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				rate := measureDrain(b, publisher, backlog)
				b.ReportMetric(rate, "events/s")
			}
		})
	}
}

func measureDrain(b *testing.B, publisher string, backlog int) float64 {
	ctx := context.Background()
	l := newLedger(b)
	cfg := benchConfig(b, publisher)
	got := subscribeFor(b, l, cfg)
	// The backlog goes straight into the outbox, in batches of 100 per transaction.
	for n := 0; n < backlog; n += 100 {
		batch := &pgx.Batch{}
		var events []eventstore.Event
		for i := 0; i < 100; i++ {
			events = append(events, eventstore.NewWalletEvent(eventstore.Wallet{ID: uuid.New(), Asset: "USD", Owner: "bench",
				Kind: eventstore.KindUser, CreatedAt: time.Now()}, "bench"))
		}
		require.NoError(b, eventstore.QueueEvents(batch, events, nil))
		require.NoError(b, l.pool.SendBatch(ctx, batch).Close())
	}
	b.ResetTimer()
	start := time.Now()
	startRelay(b, cfg, l.pool)
	waitFor(b, 120*time.Second, "the backlog drained", func() bool { return len(got.unique()) >= backlog })
	elapsed := time.Since(start)
	b.StopTimer()
	rate := float64(backlog) / elapsed.Seconds()
	b.Logf("%s: %d events in %s = %.0f events/s (%d deliveries)", publisher, backlog, elapsed.Round(time.Millisecond), rate, len(got.snapshot()))
	return rate
}

// BenchmarkRelayEndToEndLag writes transfers at a steady rate through the command package for ten seconds with
// the relay running, and reports the delay from each transaction's occurred_at to its arrival downstream.
func BenchmarkRelayEndToEndLag(b *testing.B) {
	for _, rate := range []int{200, 1000} {
		for _, publisher := range []string{relay.PublisherNATS, relay.PublisherSQL} {
			b.Run(fmt.Sprintf("%s/%dps", publisher, rate), func(b *testing.B) {
				for i := 0; i < b.N; i++ {
					measureLag(b, publisher, rate, 10*time.Second)
				}
			})
		}
	}
}

func measureLag(b *testing.B, publisher string, rate int, d time.Duration) {
	ctx := context.Background()
	l := newLedger(b)
	cfg := benchConfig(b, publisher)
	var arrivals sync.Map // event_id -> arrival time
	got := subscribeFor(b, l, cfg)
	got.setOnAdd(func(id string) { arrivals.LoadOrStore(id, time.Now()) })
	wallets := make([]uuid.UUID, 200)
	for i := range wallets {
		wallets[i] = l.wallet(ctx)
		l.fund(ctx, wallets[i], 1_000_000_000)
	}
	startRelay(b, cfg, l.pool)
	waitFor(b, 30*time.Second, "setup events relayed", func() bool { return len(got.unique()) >= 2*len(wallets) })
	b.ResetTimer()

	// Open-loop pacing: one transfer every 1/rate, each in its own goroutine (bounded by 64 in flight).
	sem := make(chan struct{}, 64)
	var wg sync.WaitGroup
	tick := time.NewTicker(time.Second / time.Duration(rate))
	stop := time.After(d)
	sent, late := 0, 0
loop:
	for {
		select {
		case <-stop:
			break loop
		case <-tick.C:
			select {
			case sem <- struct{}{}:
			default:
				late++
				continue
			}
			sent++
			i := sent % len(wallets)
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				_, _ = l.transfer(ctx, wallets[i], wallets[(i+7)%len(wallets)], 1)
			}()
		}
	}
	tick.Stop()
	wg.Wait()
	txs, _ := l.journal(ctx)
	want := len(txs) + len(wallets)
	waitFor(b, 120*time.Second, "every event relayed", func() bool { return len(got.unique()) >= want })
	b.StopTimer()

	var lags []time.Duration
	for _, r := range got.unique() {
		if r.Type != eventstore.EventTransactionCommitted || r.Payload.Kind != eventstore.KindTransfer {
			continue
		}
		at, _ := arrivals.Load(r.ID)
		lags = append(lags, at.(time.Time).Sub(r.Payload.OccurredAt))
	}
	sort.Slice(lags, func(i, j int) bool { return lags[i] < lags[j] })
	pct := func(p float64) time.Duration { return lags[int(p*float64(len(lags)-1))].Round(100 * time.Microsecond) }
	achieved := float64(len(lags)) / d.Seconds()
	b.Logf("%s at %d/s target: %d transfers committed (%.0f/s achieved, %d ticks skipped: writers saturated); end-to-end lag p50 %s p95 %s p99 %s max %s",
		publisher, rate, len(lags), achieved, late, pct(0.5), pct(0.95), pct(0.99), pct(1))
	b.ReportMetric(float64(pct(0.95).Microseconds())/1000, "p95-lag-ms")
	b.ReportMetric(achieved, "writes/s")
}

// benchConfig is testConfig with the timings the relay is deployed with (RELAY_POLL_INTERVAL, RELAY_PAGE_GATHER),
// which the latency measured depends on.
func benchConfig(b *testing.B, publisher string) relay.Config {
	cfg := testConfig(b, publisher)
	cfg.PollInterval, cfg.PageGather = 100*time.Millisecond, relay.DefaultPageGather
	return cfg
}

// subscribeFor subscribes to whichever downstream cfg publishes to.
func subscribeFor(tb testing.TB, l *ledger, cfg relay.Config) *collector {
	if cfg.Publisher == relay.PublisherNATS {
		return subscribeNATS(tb, natsURL(), cfg)
	}
	return subscribeSQL(tb, l.pool, relay.DefaultSQLTopic)
}
