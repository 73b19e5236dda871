package telemetry

import (
	"context"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
	"go.opentelemetry.io/otel/trace"
)

// Message describes one event the relay consumes from the outbox or publishes downstream.
type Message struct {
	System      string            // messaging.system: "postgresql" for the outbox, "nats", ...
	Destination string            // topic or subject
	ID          string            // the event id (Watermill message UUID)
	Metadata    map[string]string // carries the trace context (traceparent, tracestate, baggage)
}

// StartConsume starts the span of processing m. Its parent is the trace context in m.Metadata — for an outbox
// event, the API request that wrote it — so the relay's work joins that request's trace. End the span when done.
func StartConsume(ctx context.Context, m Message) (context.Context, trace.Span) {
	ctx = ExtractMap(ctx, m.Metadata)
	return otel.Tracer(meterName).Start(ctx, "process "+m.Destination, trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithAttributes(messagingAttrs(m, semconv.MessagingOperationTypeProcess, "process")...))
}

// StartPublish starts the span of sending m downstream as a child of ctx (typically StartConsume's), and writes
// that span's context into m.Metadata (which must not be nil) so subscribers continue the trace. Copy m.Metadata
// into the outgoing message's headers after this call. End the span when the publish returns.
func StartPublish(ctx context.Context, m Message) (context.Context, trace.Span) {
	ctx, span := otel.Tracer(meterName).Start(ctx, "send "+m.Destination, trace.WithSpanKind(trace.SpanKindProducer),
		trace.WithAttributes(messagingAttrs(m, semconv.MessagingOperationTypeSend, "send")...))
	otel.GetTextMapPropagator().Inject(ctx, propagation.MapCarrier(m.Metadata))
	return ctx, span
}

func messagingAttrs(m Message, opType attribute.KeyValue, op string) []attribute.KeyValue {
	attrs := []attribute.KeyValue{semconv.MessagingSystemKey.String(m.System), opType,
		semconv.MessagingOperationName(op), semconv.MessagingDestinationName(m.Destination)}
	if m.ID != "" {
		attrs = append(attrs, semconv.MessagingMessageID(m.ID))
	}
	return attrs
}
