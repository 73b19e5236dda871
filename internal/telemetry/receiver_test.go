package telemetry

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

// otlpReceiver is an in-process OTLP/HTTP collector: it decodes the protobuf payloads the SDK exporters send to
// /v1/traces, /v1/metrics and /v1/logs and keeps them for assertions.
type otlpReceiver struct {
	srv *httptest.Server

	mu      sync.Mutex
	traces  []*tracepb.ResourceSpans
	metrics []*metricspb.ResourceMetrics
	logs    []*logspb.ResourceLogs
}

func newOTLPReceiver(t *testing.T) *otlpReceiver {
	t.Helper()
	rcv := &otlpReceiver{}
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

func decodeOTLP(t *testing.T, w http.ResponseWriter, r *http.Request, msg proto.Message) bool {
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

// receivedSpan is a span with the resource that sent it.
type receivedSpan struct {
	*tracepb.Span
	resource *resourcepb.Resource
}

func (rcv *otlpReceiver) spans() []receivedSpan {
	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	var out []receivedSpan
	for _, rs := range rcv.traces {
		for _, ss := range rs.GetScopeSpans() {
			for _, s := range ss.GetSpans() {
				out = append(out, receivedSpan{Span: s, resource: rs.GetResource()})
			}
		}
	}
	return out
}

func (rcv *otlpReceiver) metricList() []*metricspb.Metric {
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

func (rcv *otlpReceiver) logRecords() []*logspb.LogRecord {
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

func (rcv *otlpReceiver) count() (spans, metrics, logs int) {
	return len(rcv.spans()), len(rcv.metricList()), len(rcv.logRecords())
}

// attr returns the string form of the attribute key in kvs, and whether it is there.
func attr(kvs []*commonpb.KeyValue, key string) (string, bool) {
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
