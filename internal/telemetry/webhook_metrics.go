package telemetry

import (
	"context"
	"math"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// Webhook delivery metrics of the relay (issue 19).

// webhookInstruments are the webhook counters and histogram of an instrumentSet.
type webhookInstruments struct {
	webhookAttempts metric.Int64Counter
	webhookDuration metric.Float64Histogram
	webhookFailed   metric.Int64Counter
	webhookDisabled metric.Int64Counter
}

// webhookGauges carries the last backlog measurement; it outlives any one provider.
var webhookGauges struct {
	set     atomic.Bool
	lagBits atomic.Uint64 // math.Float64bits of the age in seconds
	pending atomic.Int64
}

// Attempt outcomes, the values of the outcome attribute of relay.webhook.attempts.
const (
	outcomeDelivered = "delivered"
	outcomeFailed    = "failed"
)

// webhookDurationBuckets span a fast receiver to the 10 s timeout.
var webhookDurationBuckets = []float64{0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 7.5, 10}

func newWebhookInstruments(m metric.Meter, s *webhookInstruments, add func(error)) {
	var err error
	s.webhookAttempts, err = m.Int64Counter("relay.webhook.attempts",
		metric.WithDescription("Webhook delivery attempts, by outcome (delivered: a 2xx; failed: anything else)."),
		metric.WithUnit("{attempt}"))
	add(err)
	s.webhookDuration, err = m.Float64Histogram("relay.webhook.attempt.duration",
		metric.WithDescription("Duration of webhook delivery attempts, until the answer or the failure."),
		metric.WithUnit("s"), metric.WithExplicitBucketBoundaries(webhookDurationBuckets...))
	add(err)
	s.webhookFailed, err = m.Int64Counter("relay.webhook.deliveries.failed",
		metric.WithDescription("Webhook deliveries given up after their whole retry schedule."), metric.WithUnit("{delivery}"))
	add(err)
	s.webhookDisabled, err = m.Int64Counter("relay.webhook.endpoints.disabled",
		metric.WithDescription("Webhook endpoints disabled after failing continuously."), metric.WithUnit("{endpoint}"))
	add(err)
	// Like the outbox gauges, these report nothing until the first measurement rather than a misleading zero.
	_, err = m.Float64ObservableGauge("relay.webhook.lag",
		metric.WithDescription("Age of the event of the oldest undelivered webhook delivery to an enabled endpoint; 0 when none waits."),
		metric.WithUnit("s"),
		metric.WithFloat64Callback(func(_ context.Context, o metric.Float64Observer) error {
			if webhookGauges.set.Load() {
				o.Observe(math.Float64frombits(webhookGauges.lagBits.Load()))
			}
			return nil
		}))
	add(err)
	_, err = m.Int64ObservableGauge("relay.webhook.backlog",
		metric.WithDescription("Webhook deliveries to enabled endpoints not yet delivered nor failed."),
		metric.WithUnit("{delivery}"),
		metric.WithInt64Callback(func(_ context.Context, o metric.Int64Observer) error {
			if webhookGauges.set.Load() {
				o.Observe(webhookGauges.pending.Load())
			}
			return nil
		}))
	add(err)
}

// InitWebhookMetrics makes every webhook counter exist at zero, so a rate or an alert on it has a series from the
// relay's start rather than from its first delivery.
func InitWebhookMetrics(ctx context.Context) {
	s := instruments()
	for _, outcome := range []string{outcomeDelivered, outcomeFailed} {
		s.webhookAttempts.Add(ctx, 0, metric.WithAttributes(attribute.String("outcome", outcome)))
	}
	s.webhookFailed.Add(ctx, 0)
	s.webhookDisabled.Add(ctx, 0)
}

// RecordWebhookAttempt counts one delivery attempt and its duration.
func RecordWebhookAttempt(ctx context.Context, delivered bool, d time.Duration) {
	outcome := outcomeFailed
	if delivered {
		outcome = outcomeDelivered
	}
	s := instruments()
	attrs := metric.WithAttributes(attribute.String("outcome", outcome))
	s.webhookAttempts.Add(ctx, 1, attrs)
	s.webhookDuration.Record(ctx, d.Seconds(), attrs)
}

// RecordWebhookFailed counts one delivery given up after its retry schedule.
func RecordWebhookFailed(ctx context.Context) { instruments().webhookFailed.Add(ctx, 1) }

// RecordWebhookEndpointDisabled counts one endpoint disabled for failing continuously.
func RecordWebhookEndpointDisabled(ctx context.Context) { instruments().webhookDisabled.Add(ctx, 1) }

// SetWebhookBacklog records the age in seconds of the oldest undelivered delivery's event (0 when none waits) and
// how many deliveries wait.
func SetWebhookBacklog(seconds float64, pending int64) {
	instruments()
	if seconds < 0 || math.IsNaN(seconds) || math.IsInf(seconds, 0) {
		seconds = 0
	}
	webhookGauges.lagBits.Store(math.Float64bits(seconds))
	webhookGauges.pending.Store(pending)
	webhookGauges.set.Store(true)
}
