package telemetry

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/mux"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/agentic-commerce/wallet-ledger/internal/requestid"
)

const httpServerDuration = "http.server.request.duration"

// httpDurationBuckets are the semantic-convention boundaries plus 0.15 s, the latency objective the p95 alert checks:
// a histogram_quantile is only as sharp as the bucket edges around the threshold.
var httpDurationBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10}

// RouteMatcher is what the middleware needs of a router to name a request by its route template; *mux.Router is one.
type RouteMatcher interface {
	Match(r *http.Request, match *mux.RouteMatch) bool
}

// Middleware returns HTTP middleware that gives each request a server span named "METHOD /route/{template}", records
// http.server.request.duration and writes one access log line (trace_id, span_id, route, method, status,
// duration_ms, sub) through slog.Default(). When httpapi.RequestID runs outside it, the span carries the request's
// request_id attribute, and the access line (like every line logged with the request's context) its request_id.
//
// Install it OUTSIDE the router, not with router.Use: mux runs Use middleware only for requests that matched a
// route, so 404s and 405s would go unrecorded. The middleware asks the router itself for the matching route:
//
//	handler := telemetry.Middleware(router)(router) // or wrap your outer middleware chain instead of router
//
// Authentication runs inside it and calls SetSub once it knows the caller.
func Middleware(router RouteMatcher) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			serve(router, next, w, r)
		})
	}
}

// Handler wraps router with Middleware.
func Handler(router *mux.Router) http.Handler { return Middleware(router)(router) }

func serve(router RouteMatcher, next http.Handler, w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	route := routeTemplate(router, r)
	method := normalizeMethod(r.Method)
	name := method
	if route != "" {
		name = method + " " + route
	}
	ctx := otel.GetTextMapPropagator().Extract(r.Context(), propagation.HeaderCarrier(r.Header))
	attrs := []attribute.KeyValue{semconv.HTTPRequestMethodKey.String(method), semconv.URLPath(r.URL.Path),
		semconv.URLScheme(scheme(r))}
	if route != "" {
		attrs = append(attrs, semconv.HTTPRoute(route))
	}
	if id := requestid.From(r.Context()); id != "" {
		// The id the caller can quote (httpapi.RequestID sets it): an operator searches traces by it.
		attrs = append(attrs, attribute.String("request_id", id))
	}
	ctx, span := otel.Tracer(meterName).Start(ctx, name, trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(attrs...))
	info := &requestInfo{}
	ctx = context.WithValue(ctx, requestInfoKey{}, info)
	sw := &statusWriter{ResponseWriter: w}

	defer func() {
		rec := recover()
		status := sw.status
		if status == 0 {
			status = http.StatusOK
			if rec != nil {
				status = http.StatusInternalServerError
			}
		}
		elapsed := time.Since(start)
		span.SetAttributes(semconv.HTTPResponseStatusCode(status))
		if status >= 500 {
			span.SetStatus(codes.Error, http.StatusText(status))
		}
		span.End()

		mAttrs := []attribute.KeyValue{semconv.HTTPRequestMethodKey.String(method), semconv.HTTPResponseStatusCode(status)}
		if route != "" {
			mAttrs = append(mAttrs, semconv.HTTPRoute(route))
		}
		instruments().httpServer.Record(ctx, elapsed.Seconds(), metric.WithAttributes(mAttrs...))

		level := slog.LevelInfo
		if status >= 500 {
			level = slog.LevelError
		}
		// Never the path's query, a header, a token or a body: only what identifies the request's shape and caller.
		slog.Default().LogAttrs(ctx, level, "http request",
			slog.String("route", route), slog.String("method", method), slog.Int("status", status),
			slog.Float64("duration_ms", float64(elapsed.Microseconds())/1000), slog.String("sub", info.sub()),
			slog.Int64("bytes", sw.bytes))
		if rec != nil {
			panic(rec)
		}
	}()
	next.ServeHTTP(sw, r.WithContext(ctx))
}

func routeTemplate(router RouteMatcher, r *http.Request) string {
	if router == nil {
		return ""
	}
	var m mux.RouteMatch
	if !router.Match(r, &m) || m.Route == nil {
		return ""
	}
	tmpl, err := m.Route.GetPathTemplate()
	if err != nil {
		return ""
	}
	return tmpl
}

// normalizeMethod keeps the method label bounded: anything but the registered methods becomes _OTHER, as the HTTP
// semantic conventions ask.
func normalizeMethod(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete,
		http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return m
	}
	return "_OTHER"
}

func scheme(r *http.Request) string {
	if r.TLS != nil {
		return "https"
	}
	return "http"
}

type requestInfoKey struct{}

// requestInfo is filled in by inner layers (auth) and read by the access log after the handler returns; a holder
// is needed because those layers only see a derived context.
type requestInfo struct {
	mu      sync.Mutex
	subject string
}

func (i *requestInfo) sub() string {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.subject
}

// SetSub records the authenticated caller of the request in ctx for its access log line and span. The auth
// middleware calls it once the token is verified; outside a request served through Middleware it does nothing.
func SetSub(ctx context.Context, sub string) {
	info, ok := ctx.Value(requestInfoKey{}).(*requestInfo)
	if !ok {
		return
	}
	info.mu.Lock()
	info.subject = sub
	info.mu.Unlock()
	trace.SpanFromContext(ctx).SetAttributes(attribute.String("enduser.id", sub))
}

// statusWriter remembers the status and size of the response.
type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach Flush, deadlines and hijacking of the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
