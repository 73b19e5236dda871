package telemetry

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/metric"
)

// meterName scopes every instrument, tracer and logger the ledger defines.
const meterName = "github.com/agentic-commerce/wallet-ledger"

// instrumentSet holds every instrument of the service, created on one MeterProvider.
type instrumentSet struct {
	commits     metric.Int64Counter
	replays     metric.Int64Counter
	conflicts   metric.Int64Counter
	rejections  metric.Int64Counter
	httpServer  metric.Float64Histogram
	relayed     metric.Int64Counter
	publishErrs metric.Int64Counter
	quarantined metric.Int64Counter
	batchSize   metric.Int64Histogram
	batchTime   metric.Float64Histogram
	batchRetry  metric.Int64Counter
	webhookInstruments
	reads metric.Int64Counter
}

// gauges carries the last values the observable gauges report; it outlives any one provider.
var gauges struct {
	dbReady        atomic.Int64
	outboxSet      atomic.Bool
	outboxLagBits  atomic.Uint64 // math.Float64bits of the lag in seconds
	outboxBacklog  atomic.Int64
	auditSet       atomic.Bool
	auditDiscrep   atomic.Int64
	auditCleanUnix atomic.Int64 // 0 until a clean audit has been seen
	replicaSet     atomic.Bool
	replicaInUse   atomic.Int64
	replicaLagBits atomic.Uint64 // math.Float64bits of the lag in seconds
}

var (
	current atomic.Pointer[instrumentSet]
	lazyMu  sync.Mutex
)

// instruments returns the set bound by the last Setup. Before any Setup it binds, once, to the global provider: the
// global delegates to whatever provider is installed first, so packages may record before Setup runs. Setup rebinds
// because the global delegate follows only the first provider ever installed (tests install several).
func instruments() *instrumentSet {
	if s := current.Load(); s != nil {
		return s
	}
	lazyMu.Lock()
	defer lazyMu.Unlock()
	if s := current.Load(); s != nil {
		return s
	}
	s, err := newInstrumentSet(otel.GetMeterProvider().Meter(meterName))
	if err != nil {
		otel.Handle(err)
	}
	current.Store(s)
	return s
}

// bindInstruments creates every instrument on m and makes them current, with the primed series at zero.
func bindInstruments(m metric.Meter) error {
	s, err := newInstrumentSet(m)
	if err != nil {
		return err
	}
	current.Store(s)
	primers.Lock()
	defer primers.Unlock()
	for _, p := range primers.fns {
		p(s)
	}
	return nil
}

// primers add zero to the counter series a process exports from its start; bindInstruments runs them again on
// every new set of instruments.
var primers struct {
	sync.Mutex
	fns []func(*instrumentSet)
}

// prime runs p on the current instruments and on every set bound after.
func prime(p func(*instrumentSet)) {
	s := instruments()
	primers.Lock()
	defer primers.Unlock()
	primers.fns = append(primers.fns, p)
	p(s)
}

func newInstrumentSet(m metric.Meter) (*instrumentSet, error) {
	var s instrumentSet
	var errs []error
	add := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	var err error
	s.commits, err = m.Int64Counter("ledger.transactions.committed",
		metric.WithDescription("Journal transactions committed, by kind."), metric.WithUnit("{transaction}"))
	add(err)
	s.replays, err = m.Int64Counter("ledger.idempotency.replays",
		metric.WithDescription("Write requests answered from a stored idempotent response."), metric.WithUnit("{request}"))
	add(err)
	s.conflicts, err = m.Int64Counter("ledger.idempotency.conflicts",
		metric.WithDescription("Idempotency keys reused for another request or still in use."), metric.WithUnit("{request}"))
	add(err)
	s.rejections, err = m.Int64Counter("ledger.rejections",
		metric.WithDescription("Writes refused by a ledger rule, by problem code."), metric.WithUnit("{request}"))
	add(err)
	_, err = m.Int64ObservableGauge("ledger.db.ready",
		metric.WithDescription("1 when PostgreSQL answers and the schema is at the expected version, else 0."),
		metric.WithInt64Callback(func(_ context.Context, o metric.Int64Observer) error {
			o.Observe(gauges.dbReady.Load())
			return nil
		}))
	add(err)
	s.batchSize, err = m.Int64Histogram("ledger.write.batch.size",
		metric.WithDescription("Writes committed together by one group commit."), metric.WithUnit("{request}"),
		metric.WithExplicitBucketBoundaries(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024))
	add(err)
	s.batchTime, err = m.Float64Histogram("ledger.write.batch.duration",
		metric.WithDescription("Time from a batch's first read to its COMMIT."), metric.WithUnit("s"),
		metric.WithExplicitBucketBoundaries(httpDurationBuckets...))
	add(err)
	s.batchRetry, err = m.Int64Counter("ledger.write.batch.retries",
		metric.WithDescription("Batches that failed as a whole and whose writes were run again one by one."),
		metric.WithUnit("{batch}"))
	add(err)
	s.httpServer, err = m.Float64Histogram(httpServerDuration,
		metric.WithDescription("Duration of HTTP server requests."), metric.WithUnit("s"),
		metric.WithExplicitBucketBoundaries(httpDurationBuckets...))
	add(err)
	s.relayed, err = m.Int64Counter("relay.events.relayed",
		metric.WithDescription("Outbox events published downstream by the relay."), metric.WithUnit("{event}"))
	add(err)
	s.publishErrs, err = m.Int64Counter("relay.publish.errors",
		metric.WithDescription("Failed attempts to publish an outbox event downstream."), metric.WithUnit("{error}"))
	add(err)
	s.quarantined, err = m.Int64Counter("relay.events.quarantined",
		metric.WithDescription("Outbox events set aside after repeated failures."), metric.WithUnit("{event}"))
	add(err)
	// Gauges that have never been set report nothing rather than a misleading zero (zero lag, zero discrepancies).
	_, err = m.Float64ObservableGauge("relay.outbox.lag",
		metric.WithDescription("Age of the oldest outbox event not yet relayed; 0 when the outbox is drained."),
		metric.WithUnit("s"),
		metric.WithFloat64Callback(func(_ context.Context, o metric.Float64Observer) error {
			if gauges.outboxSet.Load() {
				o.Observe(math.Float64frombits(gauges.outboxLagBits.Load()))
			}
			return nil
		}))
	add(err)
	_, err = m.Int64ObservableGauge("relay.outbox.backlog",
		metric.WithDescription("Outbox events not yet relayed."), metric.WithUnit("{event}"),
		metric.WithInt64Callback(func(_ context.Context, o metric.Int64Observer) error {
			if gauges.outboxSet.Load() {
				o.Observe(gauges.outboxBacklog.Load())
			}
			return nil
		}))
	add(err)
	_, err = m.Int64ObservableGauge("audit.discrepancies",
		metric.WithDescription("Discrepancies the last audit found between projections and the journal."),
		metric.WithUnit("{discrepancy}"),
		metric.WithInt64Callback(func(_ context.Context, o metric.Int64Observer) error {
			if gauges.auditSet.Load() {
				o.Observe(gauges.auditDiscrep.Load())
			}
			return nil
		}))
	add(err)
	_, err = m.Int64ObservableGauge("audit.last_clean.timestamp",
		metric.WithDescription("Unix time of the last audit that found no discrepancy."), metric.WithUnit("s"),
		metric.WithInt64Callback(func(_ context.Context, o metric.Int64Observer) error {
			if ts := gauges.auditCleanUnix.Load(); ts > 0 {
				o.Observe(ts)
			}
			return nil
		}))
	add(err)
	newWebhookInstruments(m, &s.webhookInstruments, add)
	s.reads, err = m.Int64Counter("ledger.reads",
		metric.WithDescription("Reads of the query side, by the server that answered (primary or replica) and why."),
		metric.WithUnit("{request}"))
	add(err)
	_, err = m.Int64ObservableGauge("ledger.replica.in_use",
		metric.WithDescription("1 while the read replica serves reads, 0 while it is out of use; absent without one."),
		metric.WithInt64Callback(func(_ context.Context, o metric.Int64Observer) error {
			if gauges.replicaSet.Load() {
				o.Observe(gauges.replicaInUse.Load())
			}
			return nil
		}))
	add(err)
	_, err = m.Float64ObservableGauge("ledger.replica.lag",
		metric.WithDescription("How far the read replica's replay is behind the primary, as of its last health check."),
		metric.WithUnit("s"),
		metric.WithFloat64Callback(func(_ context.Context, o metric.Float64Observer) error {
			if gauges.replicaSet.Load() {
				o.Observe(math.Float64frombits(gauges.replicaLagBits.Load()))
			}
			return nil
		}))
	add(err)
	if len(errs) > 0 {
		return &s, fmt.Errorf("create metric instruments: %w", errors.Join(errs...))
	}
	return &s, nil
}
