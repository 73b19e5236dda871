package telemetry

import (
	"context"
	"testing"
	"time"

	"github.com/agentic-commerce/wallet-ledger/internal/telemetry/otlptest"
)

// webhookPoints reads the last exported value of every webhook metric, keyed by name and outcome.
func webhookPoints(rcv *otlptest.Receiver) (values map[string]float64, histogramCounts map[string]uint64) {
	values, histogramCounts = map[string]float64{}, map[string]uint64{}
	for _, m := range rcv.Metrics() {
		for _, dp := range m.GetSum().GetDataPoints() {
			key := m.GetName()
			if o, ok := otlptest.Attr(dp.GetAttributes(), "outcome"); ok {
				key += "{" + o + "}"
			}
			values[key] = float64(dp.GetAsInt())
		}
		for _, dp := range m.GetGauge().GetDataPoints() {
			values[m.GetName()] = dp.GetAsDouble() + float64(dp.GetAsInt())
		}
		for _, dp := range m.GetHistogram().GetDataPoints() {
			o, _ := otlptest.Attr(dp.GetAttributes(), "outcome")
			histogramCounts[m.GetName()+"{"+o+"}"] = dp.GetCount()
		}
	}
	return values, histogramCounts
}

// Every webhook counter exists at zero once the relay starts (a rate or an alert has a series before the first
// delivery), the gauges report nothing until measured, and each recorder counts what it says.
func TestWebhookMetrics(t *testing.T) {
	rcv := otlptest.NewReceiver(t)
	tel, _ := setupTelemetry(t, rcv.URL(), nil)
	webhookGauges.set.Store(false)
	ctx := context.Background()
	InitWebhookMetrics(ctx)
	flush(t, tel)
	got, _ := webhookPoints(rcv)
	for _, name := range []string{"relay.webhook.attempts{delivered}", "relay.webhook.attempts{failed}",
		"relay.webhook.deliveries.failed", "relay.webhook.endpoints.disabled"} {
		v, ok := got[name]
		if !ok || v != 0 {
			t.Errorf("%s: want an exported 0 from the start, got %v (exported: %v)", name, v, ok)
		}
	}
	for _, name := range []string{"relay.webhook.lag", "relay.webhook.backlog"} {
		if _, ok := got[name]; ok {
			t.Errorf("%s reported before it was measured", name)
		}
	}

	RecordWebhookAttempt(ctx, true, 40*time.Millisecond)
	RecordWebhookAttempt(ctx, false, 2*time.Second)
	RecordWebhookAttempt(ctx, false, 10*time.Second)
	RecordWebhookFailed(ctx)
	RecordWebhookEndpointDisabled(ctx)
	SetWebhookBacklog(3600.5, 4)
	flush(t, tel)
	got, hist := webhookPoints(rcv)
	want := map[string]float64{"relay.webhook.attempts{delivered}": 1, "relay.webhook.attempts{failed}": 2,
		"relay.webhook.deliveries.failed": 1, "relay.webhook.endpoints.disabled": 1, "relay.webhook.lag": 3600.5,
		"relay.webhook.backlog": 4}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	if hist["relay.webhook.attempt.duration{delivered}"] != 1 || hist["relay.webhook.attempt.duration{failed}"] != 2 {
		t.Errorf("attempt durations: %v", hist)
	}
}
