package telemetry

import (
	"context"
	"fmt"
	"sync/atomic"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// DropStats counts telemetry lost since Setup: items refused because the export queue was full, plus items in
// exports that failed after retries. Metrics count metric streams of failed exports (cumulative values are resent by
// the next export, so only their resolution is lost).
type DropStats struct {
	Spans, Logs, Metrics int64
}

// Total is the sum over signals.
func (d DropStats) Total() int64 { return d.Spans + d.Logs + d.Metrics }

type dropCounter struct {
	// pending counts items handed to a batch processor and not yet to its exporter.
	spansPending, logsPending atomic.Int64

	spansQueue, spansExport atomic.Int64
	logsQueue, logsExport   atomic.Int64
	metricsExport           atomic.Int64
}

func (d *dropCounter) snapshot() DropStats {
	return DropStats{
		Spans:   d.spansQueue.Load() + d.spansExport.Load(),
		Logs:    d.logsQueue.Load() + d.logsExport.Load(),
		Metrics: d.metricsExport.Load(),
	}
}

// register exposes the counts as telemetry.dropped{signal, reason}. It is observed at collection time, so a
// collector that comes back receives the totals of what it missed.
func (d *dropCounter) register(m metric.Meter) error {
	series := []struct {
		v              *atomic.Int64
		signal, reason string
	}{
		{&d.spansQueue, "traces", "queue_full"}, {&d.spansExport, "traces", "export_failed"},
		{&d.logsQueue, "logs", "queue_full"}, {&d.logsExport, "logs", "export_failed"},
		{&d.metricsExport, "metrics", "export_failed"},
	}
	_, err := m.Int64ObservableCounter("telemetry.dropped",
		metric.WithDescription("Telemetry items lost because the export queue was full or the export failed."),
		metric.WithUnit("{item}"),
		metric.WithInt64Callback(func(_ context.Context, o metric.Int64Observer) error {
			for _, s := range series {
				o.Observe(s.v.Load(), metric.WithAttributes(
					attribute.String("signal", s.signal), attribute.String("reason", s.reason)))
			}
			return nil
		}))
	if err != nil {
		return fmt.Errorf("create telemetry.dropped counter: %w", err)
	}
	return nil
}

// boundedSpanProcessor admits a finished span to the batch processor only while fewer than limit spans are waiting
// for the exporter, and counts the rest. The SDK's batch processor drops silently when its queue is full; with the
// same limit in front of it, it never has to, so every drop is counted here.
type boundedSpanProcessor struct {
	sdktrace.SpanProcessor
	limit int64
	drops *dropCounter
}

func newBoundedSpanProcessor(next sdktrace.SpanProcessor, limit int, drops *dropCounter) *boundedSpanProcessor {
	return &boundedSpanProcessor{SpanProcessor: next, limit: int64(limit), drops: drops}
}

// OnEnd forwards the span unless the queue is full.
func (p *boundedSpanProcessor) OnEnd(s sdktrace.ReadOnlySpan) {
	if !s.SpanContext().IsSampled() {
		return // the batch processor ignores unsampled spans too
	}
	if p.drops.spansPending.Add(1) > p.limit {
		p.drops.spansPending.Add(-1)
		p.drops.spansQueue.Add(1)
		return
	}
	p.SpanProcessor.OnEnd(s)
}

type countingSpanExporter struct {
	next  sdktrace.SpanExporter
	drops *dropCounter
}

func (e *countingSpanExporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	e.drops.spansPending.Add(-int64(len(spans)))
	err := e.next.ExportSpans(ctx, spans)
	if err != nil {
		e.drops.spansExport.Add(int64(len(spans)))
	}
	return err
}

func (e *countingSpanExporter) Shutdown(ctx context.Context) error { return e.next.Shutdown(ctx) }

// boundedLogProcessor is boundedSpanProcessor for log records (the SDK's batch processor would overwrite the oldest).
type boundedLogProcessor struct {
	sdklog.Processor
	limit int64
	drops *dropCounter
}

func newBoundedLogProcessor(next sdklog.Processor, limit int, drops *dropCounter) *boundedLogProcessor {
	return &boundedLogProcessor{Processor: next, limit: int64(limit), drops: drops}
}

// OnEmit forwards the record unless the queue is full.
func (p *boundedLogProcessor) OnEmit(ctx context.Context, r *sdklog.Record) error {
	if p.drops.logsPending.Add(1) > p.limit {
		p.drops.logsPending.Add(-1)
		p.drops.logsQueue.Add(1)
		return nil
	}
	return p.Processor.OnEmit(ctx, r)
}

type countingLogExporter struct {
	next  sdklog.Exporter
	drops *dropCounter
}

func (e *countingLogExporter) Export(ctx context.Context, records []sdklog.Record) error {
	e.drops.logsPending.Add(-int64(len(records)))
	err := e.next.Export(ctx, records)
	if err != nil {
		e.drops.logsExport.Add(int64(len(records)))
	}
	return err
}

func (e *countingLogExporter) Shutdown(ctx context.Context) error   { return e.next.Shutdown(ctx) }
func (e *countingLogExporter) ForceFlush(ctx context.Context) error { return e.next.ForceFlush(ctx) }

type countingMetricExporter struct {
	sdkmetric.Exporter
	drops *dropCounter
}

func (e *countingMetricExporter) Export(ctx context.Context, rm *metricdata.ResourceMetrics) error {
	err := e.Exporter.Export(ctx, rm)
	if err != nil {
		var n int64
		for _, sm := range rm.ScopeMetrics {
			n += int64(len(sm.Metrics))
		}
		e.drops.metricsExport.Add(n)
	}
	return err
}
