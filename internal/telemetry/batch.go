package telemetry

import (
	"context"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// StartWriteBatch starts the span of one group commit, whose statements become its children. A batch serves
// several requests: the span is a child of the first one's span (so a lone write reads as one trace, HTTP span
// over SQL spans) and links to the others', so every request's trace leads to the batch that committed it. end
// records err, if any, and ends the span.
func StartWriteBatch(requests []context.Context) (ctx context.Context, end func(err error)) {
	parent := context.Background()
	var links []trace.Link
	for i, r := range requests {
		sc := trace.SpanContextFromContext(r)
		if !sc.IsValid() {
			continue
		}
		if i == 0 {
			parent = trace.ContextWithSpanContext(parent, sc)
			continue
		}
		links = append(links, trace.Link{SpanContext: sc})
	}
	ctx, span := otel.Tracer(meterName).Start(parent, "write batch", trace.WithLinks(links...),
		trace.WithAttributes(attribute.Int("ledger.write.batch.size", len(requests))))
	return ctx, func(err error) {
		if err != nil {
			span.RecordError(err)
			span.SetStatus(codes.Error, err.Error())
		}
		span.End()
	}
}
