package telemetry

import (
	"context"
	"encoding/hex"
	"testing"

	"go.opentelemetry.io/otel"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"

	"github.com/agentic-commerce/wallet-ledger/internal/telemetry/otlptest"
)

// TestOneTraceFromRequestToBroker follows the path of an event: the API's span writes its context into the outbox
// metadata, the relay consumes it (child of the API span) and publishes it (child of the consume span), and the
// published message's headers carry the publish span, all in the API request's trace.
func TestOneTraceFromRequestToBroker(t *testing.T) {
	rcv := otlptest.NewReceiver(t)
	tel, _ := setupTelemetry(t, rcv.URL(), nil)

	apiCtx, api := otel.Tracer("test").Start(context.Background(), "POST /v1/transfers")
	outboxMD := InjectMap(apiCtx)
	outboxMD["event_type"] = "transaction.committed"
	api.End()

	consumeCtx, consume := StartConsume(context.Background(), Message{System: "postgresql", Destination: "outbox_events",
		ID: "ev-1", Metadata: outboxMD})
	headers := map[string]string{}
	_, publish := StartPublish(consumeCtx, Message{System: "nats", Destination: "wallet.events", ID: "ev-1", Metadata: headers})
	publish.End()
	consume.End()

	traceID := api.SpanContext().TraceID().String()
	want := "00-" + traceID + "-" + publish.SpanContext().SpanID().String() + "-01"
	if headers["traceparent"] != want {
		t.Fatalf("published headers traceparent = %q, want %q", headers["traceparent"], want)
	}
	byName := map[string]otlptest.Span{}
	eventually(t, tel, "the three spans", func() bool {
		for _, s := range rcv.Spans() {
			byName[s.GetName()] = s
		}
		return len(byName) >= 3
	})
	for name, want := range map[string]struct {
		parent string
		kind   tracepb.Span_SpanKind
	}{
		"process outbox_events": {api.SpanContext().SpanID().String(), tracepb.Span_SPAN_KIND_CONSUMER},
		"send wallet.events":    {consume.SpanContext().SpanID().String(), tracepb.Span_SPAN_KIND_PRODUCER},
	} {
		s, ok := byName[name]
		if !ok {
			t.Fatalf("no span %q among %v", name, byName)
		}
		if got := hex.EncodeToString(s.GetTraceId()); got != traceID {
			t.Errorf("%s: trace %s, want the API request's %s", name, got, traceID)
		}
		if got := hex.EncodeToString(s.GetParentSpanId()); got != want.parent {
			t.Errorf("%s: parent %s, want %s", name, got, want.parent)
		}
		if s.GetKind() != want.kind {
			t.Errorf("%s: kind %v, want %v", name, s.GetKind(), want.kind)
		}
		if id, _ := otlptest.Attr(s.GetAttributes(), "messaging.message.id"); id != "ev-1" {
			t.Errorf("%s: messaging.message.id = %q", name, id)
		}
	}
}
