package telemetry

import (
	"context"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
)

// InjectMap returns the trace context of ctx (traceparent, tracestate, baggage) as a map, for carrying it in an
// outbox event's metadata. The map is empty when ctx holds no span.
func InjectMap(ctx context.Context) map[string]string {
	carrier := propagation.MapCarrier{}
	otel.GetTextMapPropagator().Inject(ctx, carrier)
	return carrier
}

// ExtractMap returns ctx carrying the remote trace context found in m (for instance an outbox event's metadata),
// so spans started from it continue the trace of the request that wrote the event. Unknown keys are ignored.
func ExtractMap(ctx context.Context, m map[string]string) context.Context {
	return otel.GetTextMapPropagator().Extract(ctx, propagation.MapCarrier(m))
}
