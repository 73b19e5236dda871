package telemetry

import (
	"context"
	"math"
	"time"
)

// PrimeRelayCounters makes the relay's counters (events relayed, publish errors, events quarantined) exist at
// zero from the process's start, so their panels and the publish-error alert have data before the first event.
func PrimeRelayCounters() {
	prime(func(s *instrumentSet) {
		ctx := context.Background()
		s.relayed.Add(ctx, 0)
		s.publishErrs.Add(ctx, 0)
		s.quarantined.Add(ctx, 0)
	})
}

// RecordRelayed counts n outbox events published downstream.
func RecordRelayed(ctx context.Context, n int) {
	if n <= 0 {
		return
	}
	instruments().relayed.Add(ctx, int64(n))
}

// RecordPublishError counts one failed attempt to publish an outbox event.
func RecordPublishError(ctx context.Context) {
	instruments().publishErrs.Add(ctx, 1)
}

// RecordQuarantined counts one outbox event set aside after repeated failures.
func RecordQuarantined(ctx context.Context) {
	instruments().quarantined.Add(ctx, 1)
}

// SetOutboxLag records the age in seconds of the oldest event not yet relayed (0 when drained) and how many are
// waiting. Until the first call the two gauges report nothing.
func SetOutboxLag(seconds float64, backlog int64) {
	instruments()
	if seconds < 0 || math.IsNaN(seconds) || math.IsInf(seconds, 0) {
		seconds = 0
	}
	gauges.outboxLagBits.Store(math.Float64bits(seconds))
	gauges.outboxBacklog.Store(backlog)
	gauges.outboxSet.Store(true)
}

// SetAuditResult records the outcome of one audit pass: how many discrepancies it found and, when it found none,
// cleanAt (the pass's time) as the last clean audit. A zero cleanAt leaves the last clean time unchanged.
func SetAuditResult(discrepancies int64, cleanAt time.Time) {
	instruments()
	gauges.auditDiscrep.Store(discrepancies)
	gauges.auditSet.Store(true)
	if discrepancies == 0 && !cleanAt.IsZero() {
		gauges.auditCleanUnix.Store(cleanAt.Unix())
	}
}
