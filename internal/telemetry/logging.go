package telemetry

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/agentic-commerce/wallet-ledger/internal/requestid"
)

// fanoutHandler sends each record to every handler: JSON on stderr (what `kubectl logs` shows) and the OTLP bridge.
type fanoutHandler struct {
	level    slog.Leveler
	handlers []slog.Handler
}

func newFanoutHandler(level slog.Leveler, handlers ...slog.Handler) *fanoutHandler {
	return &fanoutHandler{level: level, handlers: handlers}
}

func (h *fanoutHandler) Enabled(ctx context.Context, l slog.Level) bool {
	if l < h.level.Level() {
		return false
	}
	for _, c := range h.handlers {
		if c.Enabled(ctx, l) {
			return true
		}
	}
	return false
}

func (h *fanoutHandler) Handle(ctx context.Context, r slog.Record) error {
	var errs []error
	for _, c := range h.handlers {
		if c.Enabled(ctx, r.Level) {
			// Each handler gets its own copy: a handler may add attributes to the record it receives.
			if err := c.Handle(ctx, r.Clone()); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

func (h *fanoutHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	next := make([]slog.Handler, len(h.handlers))
	for i, c := range h.handlers {
		next[i] = c.WithAttrs(attrs)
	}
	return &fanoutHandler{level: h.level, handlers: next}
}

func (h *fanoutHandler) WithGroup(name string) slog.Handler {
	next := make([]slog.Handler, len(h.handlers))
	for i, c := range h.handlers {
		next[i] = c.WithGroup(name)
	}
	return &fanoutHandler{level: h.level, handlers: next}
}

// traceIDHandler adds trace_id and span_id of the span in ctx to each record, so a stderr line can be joined with
// its trace. (The OTLP bridge carries them in the log record's own fields.)
type traceIDHandler struct{ slog.Handler }

func newTraceIDHandler(h slog.Handler) *traceIDHandler { return &traceIDHandler{Handler: h} }

func (h *traceIDHandler) Handle(ctx context.Context, r slog.Record) error {
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		r.AddAttrs(slog.String("trace_id", sc.TraceID().String()), slog.String("span_id", sc.SpanID().String()))
	}
	return h.Handler.Handle(ctx, r)
}

func (h *traceIDHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &traceIDHandler{Handler: h.Handler.WithAttrs(attrs)}
}

func (h *traceIDHandler) WithGroup(name string) slog.Handler {
	return &traceIDHandler{Handler: h.Handler.WithGroup(name)}
}

// requestIDHandler adds request_id, the id of the HTTP request ctx belongs to, to each record logged with that
// context (slog.InfoContext and the like), before the records fan out: both the stderr line and the OTLP record
// carry it, so an operator finds every line of a request from the Request-Id a caller quotes.
type requestIDHandler struct{ slog.Handler }

func newRequestIDHandler(h slog.Handler) *requestIDHandler { return &requestIDHandler{Handler: h} }

func (h *requestIDHandler) Handle(ctx context.Context, r slog.Record) error {
	if id := requestid.From(ctx); id != "" {
		r.AddAttrs(slog.String("request_id", id))
	}
	return h.Handler.Handle(ctx, r)
}

func (h *requestIDHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &requestIDHandler{Handler: h.Handler.WithAttrs(attrs)}
}

func (h *requestIDHandler) WithGroup(name string) slog.Handler {
	return &requestIDHandler{Handler: h.Handler.WithGroup(name)}
}

// throttledErrorHandler logs OTel SDK errors (mostly failed exports) at most once per interval, with how many were
// suppressed in between.
type throttledErrorHandler struct {
	log      *slog.Logger
	interval time.Duration

	mu         sync.Mutex
	last       time.Time
	suppressed int
}

func newThrottledErrorHandler(log *slog.Logger, interval time.Duration) *throttledErrorHandler {
	return &throttledErrorHandler{log: log, interval: interval}
}

// Handle implements otel.ErrorHandler.
func (h *throttledErrorHandler) Handle(err error) {
	h.mu.Lock()
	now := time.Now()
	if !h.last.IsZero() && now.Sub(h.last) < h.interval {
		h.suppressed++
		h.mu.Unlock()
		return
	}
	suppressed := h.suppressed
	h.last, h.suppressed = now, 0
	h.mu.Unlock()
	h.log.Warn("opentelemetry error", "err", err.Error(), "suppressed_since_last", suppressed)
}
