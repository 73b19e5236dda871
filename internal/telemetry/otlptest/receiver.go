// Package otlptest is an in-process OTLP/HTTP collector for tests: it decodes the protobuf payloads the SDK exporters
// send and keeps them for assertions, and it translates exported metrics to the names Prometheus stores, so tests
// can hold dashboards and alerts to what a real run emitted.
package otlptest

import (
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"

	collogs "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	colmetrics "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	coltrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
	metricspb "go.opentelemetry.io/proto/otlp/metrics/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

// Receiver is an in-process OTLP/HTTP collector: it decodes the protobuf payloads the SDK exporters send to
// /v1/traces, /v1/metrics and /v1/logs and keeps them for assertions.
type Receiver struct {
	srv *httptest.Server

	mu      sync.Mutex
	traces  []*tracepb.ResourceSpans
	metrics []*metricspb.ResourceMetrics
	logs    []*logspb.ResourceLogs
}

// NewReceiver starts a receiver that lives until the test ends.
func NewReceiver(t testing.TB) *Receiver {
	t.Helper()
	rcv := &Receiver{}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/traces", func(w http.ResponseWriter, r *http.Request) {
		var req coltrace.ExportTraceServiceRequest
		if !decodeOTLP(t, w, r, &req) {
			return
		}
		rcv.mu.Lock()
		rcv.traces = append(rcv.traces, req.GetResourceSpans()...)
		rcv.mu.Unlock()
		writeOTLP(w, &coltrace.ExportTraceServiceResponse{})
	})
	mux.HandleFunc("POST /v1/metrics", func(w http.ResponseWriter, r *http.Request) {
		var req colmetrics.ExportMetricsServiceRequest
		if !decodeOTLP(t, w, r, &req) {
			return
		}
		rcv.mu.Lock()
		rcv.metrics = append(rcv.metrics, req.GetResourceMetrics()...)
		rcv.mu.Unlock()
		writeOTLP(w, &colmetrics.ExportMetricsServiceResponse{})
	})
	mux.HandleFunc("POST /v1/logs", func(w http.ResponseWriter, r *http.Request) {
		var req collogs.ExportLogsServiceRequest
		if !decodeOTLP(t, w, r, &req) {
			return
		}
		rcv.mu.Lock()
		rcv.logs = append(rcv.logs, req.GetResourceLogs()...)
		rcv.mu.Unlock()
		writeOTLP(w, &collogs.ExportLogsServiceResponse{})
	})
	rcv.srv = httptest.NewServer(mux)
	t.Cleanup(rcv.srv.Close)
	return rcv
}

func decodeOTLP(t testing.TB, w http.ResponseWriter, r *http.Request, msg proto.Message) bool {
	if ct := r.Header.Get("Content-Type"); ct != "application/x-protobuf" {
		t.Errorf("OTLP request %s with Content-Type %q, want application/x-protobuf", r.URL.Path, ct)
		http.Error(w, "bad content type", http.StatusUnsupportedMediaType)
		return false
	}
	var body io.Reader = r.Body
	if r.Header.Get("Content-Encoding") == "gzip" {
		gz, err := gzip.NewReader(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return false
		}
		body = gz
	}
	raw, err := io.ReadAll(body)
	if err == nil {
		err = proto.Unmarshal(raw, msg)
	}
	if err != nil {
		t.Errorf("decode OTLP %s: %v", r.URL.Path, err)
		http.Error(w, err.Error(), http.StatusBadRequest)
		return false
	}
	return true
}

func writeOTLP(w http.ResponseWriter, msg proto.Message) {
	raw, _ := proto.Marshal(msg)
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(raw)
}

// URL is the base URL to use as OTEL_EXPORTER_OTLP_ENDPOINT.
func (rcv *Receiver) URL() string { return rcv.srv.URL }

// Span is a received span with the resource that sent it.
type Span struct {
	*tracepb.Span
	Resource *resourcepb.Resource
}

// Spans returns every span received so far.
func (rcv *Receiver) Spans() []Span {
	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	var out []Span
	for _, rs := range rcv.traces {
		for _, ss := range rs.GetScopeSpans() {
			for _, s := range ss.GetSpans() {
				out = append(out, Span{Span: s, Resource: rs.GetResource()})
			}
		}
	}
	return out
}

// Metrics returns every metric received so far (one entry per export).
func (rcv *Receiver) Metrics() []*metricspb.Metric {
	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	var out []*metricspb.Metric
	for _, rm := range rcv.metrics {
		for _, sm := range rm.GetScopeMetrics() {
			out = append(out, sm.GetMetrics()...)
		}
	}
	return out
}

// Logs returns every log record received so far.
func (rcv *Receiver) Logs() []*logspb.LogRecord {
	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	var out []*logspb.LogRecord
	for _, rl := range rcv.logs {
		for _, sl := range rl.GetScopeLogs() {
			out = append(out, sl.GetLogRecords()...)
		}
	}
	return out
}

// Count returns how many spans, metrics and log records were received.
func (rcv *Receiver) Count() (spans, metrics, logs int) {
	return len(rcv.Spans()), len(rcv.Metrics()), len(rcv.Logs())
}

// MetricResources returns the resource of every metrics export received.
func (rcv *Receiver) MetricResources() []*resourcepb.Resource {
	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	var out []*resourcepb.Resource
	for _, rm := range rcv.metrics {
		out = append(out, rm.GetResource())
	}
	return out
}

// Attr returns the string form of the attribute key in kvs, and whether it is there.
func Attr(kvs []*commonpb.KeyValue, key string) (string, bool) {
	for _, kv := range kvs {
		if kv.GetKey() != key {
			continue
		}
		v := kv.GetValue()
		switch x := v.GetValue().(type) {
		case *commonpb.AnyValue_StringValue:
			return x.StringValue, true
		case *commonpb.AnyValue_IntValue:
			return strconv.FormatInt(x.IntValue, 10), true
		case *commonpb.AnyValue_BoolValue:
			if x.BoolValue {
				return "true", true
			}
			return "false", true
		}
		return v.String(), true
	}
	return "", false
}
