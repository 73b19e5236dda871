package telemetry

import (
	"context"
	"sync"
	"sync/atomic"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// meterName scopes every instrument the ledger defines.
const meterName = "github.com/agentic-commerce/wallet-ledger"

// ledgerInstruments are created lazily on the global MeterProvider, so packages can record before Setup runs and
// the recordings reach whatever provider Setup installs (the global provider delegates).
type ledgerInstruments struct {
	commits      metric.Int64Counter
	replays      metric.Int64Counter
	conflicts    metric.Int64Counter
	rejections   metric.Int64Counter
	dbReadyGauge metric.Int64ObservableGauge
}

var (
	instrumentsOnce sync.Once
	instruments     ledgerInstruments
	dbReady         atomic.Int64
)

func ledger() *ledgerInstruments {
	instrumentsOnce.Do(func() {
		m := otel.Meter(meterName)
		// Errors from instrument creation only report invalid names; the names below are constants.
		instruments.commits, _ = m.Int64Counter("ledger.transactions.committed",
			metric.WithDescription("Journal transactions committed, by kind."), metric.WithUnit("{transaction}"))
		instruments.replays, _ = m.Int64Counter("ledger.idempotency.replays",
			metric.WithDescription("Write requests answered from a stored idempotent response."), metric.WithUnit("{request}"))
		instruments.conflicts, _ = m.Int64Counter("ledger.idempotency.conflicts",
			metric.WithDescription("Idempotency keys reused for another request or still in use."), metric.WithUnit("{request}"))
		instruments.rejections, _ = m.Int64Counter("ledger.rejections",
			metric.WithDescription("Writes refused by a ledger rule, by problem code."), metric.WithUnit("{request}"))
		instruments.dbReadyGauge, _ = m.Int64ObservableGauge("ledger.db.ready",
			metric.WithDescription("1 when PostgreSQL answers and the schema is at the expected version, else 0."),
			metric.WithInt64Callback(func(_ context.Context, o metric.Int64Observer) error {
				o.Observe(dbReady.Load())
				return nil
			}))
	})
	return &instruments
}

// RecordCommit counts one committed journal transaction of the given kind (transfer, adjustment, ...).
func RecordCommit(ctx context.Context, kind string) {
	ledger().commits.Add(ctx, 1, metric.WithAttributes(attribute.String("kind", kind)))
}

// RecordIdempotencyReplay counts one response served again for a repeated idempotency key.
func RecordIdempotencyReplay(ctx context.Context) {
	ledger().replays.Add(ctx, 1)
}

// RecordIdempotencyConflict counts one key reused for another request or still in use; code is the problem code.
func RecordIdempotencyConflict(ctx context.Context, code string) {
	ledger().conflicts.Add(ctx, 1, metric.WithAttributes(attribute.String("code", code)))
}

// RecordRejection counts one write refused by a ledger rule, such as insufficient_funds.
func RecordRejection(ctx context.Context, code string) {
	ledger().rejections.Add(ctx, 1, metric.WithAttributes(attribute.String("code", code)))
}

// SetDBReady records the readiness state that /v1/ready last observed.
func SetDBReady(ready bool) {
	ledger()
	if ready {
		dbReady.Store(1)
		return
	}
	dbReady.Store(0)
}
