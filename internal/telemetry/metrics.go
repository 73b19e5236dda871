package telemetry

import (
	"context"
	"math"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// PrimeLedgerCounters makes the write path's counters exist at zero from the process's start, one series per
// label value given: a dashboard panel or alert then has data before the first event, and rate() counts the first
// increment. wallet-api calls it once at start with every transaction kind, idempotency conflict code and
// rejection code.
func PrimeLedgerCounters(kinds, conflictCodes, rejectionCodes []string) {
	prime(func(s *instrumentSet) {
		ctx := context.Background()
		s.replays.Add(ctx, 0)
		s.batchRetry.Add(ctx, 0)
		for _, k := range kinds {
			s.commits.Add(ctx, 0, metric.WithAttributes(attribute.String("kind", k)))
		}
		for _, c := range conflictCodes {
			s.conflicts.Add(ctx, 0, metric.WithAttributes(attribute.String("code", c)))
		}
		for _, c := range rejectionCodes {
			s.rejections.Add(ctx, 0, metric.WithAttributes(attribute.String("code", c)))
		}
	})
}

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

// RecordWriteBatch records one group commit: how many writes it carried and how long it took.
func RecordWriteBatch(ctx context.Context, size int, took time.Duration) {
	set := instruments()
	set.batchSize.Record(ctx, int64(size))
	set.batchTime.Record(ctx, took.Seconds())
}

// RecordBatchRetry counts one batch that failed as a whole and whose writes are run again one at a time.
func RecordBatchRetry(ctx context.Context) {
	instruments().batchRetry.Add(ctx, 1)
}

// RecordRead counts one read of the query side: source is the server that answered (primary or replica), reason
// why it was chosen (internal/replica names the reasons).
func RecordRead(ctx context.Context, source, reason string) {
	instruments().reads.Add(ctx, 1, metric.WithAttributes(attribute.String("source", source),
		attribute.String("reason", reason)))
}

// PrimeReadCounters makes the ledger.reads series exist at zero from the process's start, one per source and
// reason given (internal/replica.Routes lists them).
func PrimeReadCounters(routes [][2]string) {
	prime(func(s *instrumentSet) {
		for _, r := range routes {
			s.reads.Add(context.Background(), 0, metric.WithAttributes(attribute.String("source", r[0]),
				attribute.String("reason", r[1])))
		}
	})
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
