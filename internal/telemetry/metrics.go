package telemetry

import (
	"context"
	"math"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// RecordCommit counts one committed journal transaction of the given kind (transfer, adjustment, ...).
func RecordCommit(ctx context.Context, kind string) {
	instruments().commits.Add(ctx, 1, metric.WithAttributes(attribute.String("kind", kind)))
}

// RecordIdempotencyReplay counts one response served again for a repeated idempotency key.
func RecordIdempotencyReplay(ctx context.Context) {
	instruments().replays.Add(ctx, 1)
}

// RecordIdempotencyConflict counts one key reused for another request or still in use; code is the problem code.
func RecordIdempotencyConflict(ctx context.Context, code string) {
	instruments().conflicts.Add(ctx, 1, metric.WithAttributes(attribute.String("code", code)))
}

// RecordRejection counts one write refused by a ledger rule, such as insufficient_funds.
func RecordRejection(ctx context.Context, code string) {
	instruments().rejections.Add(ctx, 1, metric.WithAttributes(attribute.String("code", code)))
}

// SetDBReady records the readiness state that /v1/ready last observed.
func SetDBReady(ready bool) {
	instruments()
	if ready {
		gauges.dbReady.Store(1)
		return
	}
	gauges.dbReady.Store(0)
}

// RecordRead counts one read of the query side: source is the server that answered (primary or replica), reason
// why it was chosen (internal/replica names the reasons).
func RecordRead(ctx context.Context, source, reason string) {
	instruments().reads.Add(ctx, 1, metric.WithAttributes(attribute.String("source", source),
		attribute.String("reason", reason)))
}

// SetReplicaStatus records the read replica's last health check: whether it serves reads and its lag in seconds.
func SetReplicaStatus(inUse bool, lagSeconds float64) {
	instruments()
	gauges.replicaLagBits.Store(math.Float64bits(lagSeconds))
	if inUse {
		gauges.replicaInUse.Store(1)
	} else {
		gauges.replicaInUse.Store(0)
	}
	gauges.replicaSet.Store(true)
}
