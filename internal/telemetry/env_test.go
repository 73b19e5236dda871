package telemetry

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gorilla/mux"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/trace"

	"github.com/agentic-commerce/wallet-ledger/internal/telemetry/otlptest"
)

func serveOnce(t *testing.T) {
	t.Helper()
	router := mux.NewRouter()
	router.HandleFunc("/v1/health", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	srv := httptest.NewServer(Handler(router))
	defer srv.Close()
	if got := doRequest(t, http.MethodGet, srv.URL+"/v1/health", nil, ""); got != http.StatusOK {
		t.Fatalf("status %d", got)
	}
}

func TestSDKDisabledExportsNothingButStillLogs(t *testing.T) {
	rcv := otlptest.NewReceiver(t)
	tel, stderr := setupTelemetry(t, rcv.URL(), map[string]string{"OTEL_SDK_DISABLED": "TRUE"})
	if !tel.Disabled() {
		t.Fatal("OTEL_SDK_DISABLED=TRUE should disable the SDK")
	}
	serveOnce(t)
	RecordCommit(context.Background(), "transfer")
	flush(t, tel)
	if s, m, l := rcv.Count(); s+m+l != 0 {
		t.Fatalf("disabled SDK exported %d spans, %d metrics, %d logs", s, m, l)
	}
	if lines := stderr.jsonLines(t); len(lines) != 1 || lines[0]["route"] != "/v1/health" {
		t.Fatalf("want the access log on stderr with the SDK disabled, got %v", lines)
	}
}

func TestEnvServiceNameResourceAndSampler(t *testing.T) {
	rcv := otlptest.NewReceiver(t)
	tel, _ := setupTelemetry(t, rcv.URL(), map[string]string{
		"OTEL_SERVICE_NAME":        "wallet-api-canary",
		"OTEL_RESOURCE_ATTRIBUTES": "deployment.environment.name=test,service.name=ignored",
		"OTEL_TRACES_SAMPLER":      "always_off",
	})
	serveOnce(t)
	eventually(t, tel, "metrics and logs", func() bool {
		_, m, l := rcv.Count()
		return m > 0 && l > 0
	})
	if s, _, _ := rcv.Count(); s != 0 {
		t.Errorf("OTEL_TRACES_SAMPLER=always_off: %d spans exported", s)
	}
	res := rcv.MetricResources()[0].GetAttributes()
	// The specification gives OTEL_SERVICE_NAME precedence over service.name in OTEL_RESOURCE_ATTRIBUTES.
	if got, _ := otlptest.Attr(res, "service.name"); got != "wallet-api-canary" {
		t.Errorf("service.name = %q, want OTEL_SERVICE_NAME's wallet-api-canary", got)
	}
	if got, _ := otlptest.Attr(res, "deployment.environment.name"); got != "test" {
		t.Errorf("OTEL_RESOURCE_ATTRIBUTES not applied: deployment.environment.name = %q", got)
	}
}

func TestInjectExtractMapCarriesTraceContext(t *testing.T) {
	rcv := otlptest.NewReceiver(t)
	setupTelemetry(t, rcv.URL(), nil)
	ctx, span := otel.Tracer("test").Start(context.Background(), "write")
	defer span.End()
	md := InjectMap(ctx)
	if md["traceparent"] == "" {
		t.Fatalf("InjectMap gave no traceparent: %v", md)
	}
	md["event_type"] = "transaction.committed" // outbox metadata carries other keys too
	got := trace.SpanContextFromContext(ExtractMap(context.Background(), md))
	if !got.IsRemote() || got.TraceID() != span.SpanContext().TraceID() || got.SpanID() != span.SpanContext().SpanID() {
		t.Fatalf("ExtractMap gave %v, want remote %v", got, span.SpanContext())
	}
	if len(InjectMap(context.Background())) != 0 {
		t.Error("InjectMap without a span should be empty")
	}
}

func TestGaugesReportNothingUntilSet(t *testing.T) {
	rcv := otlptest.NewReceiver(t)
	tel, _ := setupTelemetry(t, rcv.URL(), nil)
	resetGauges()
	RecordCommit(context.Background(), "transfer")
	flush(t, tel)
	for _, m := range rcv.Metrics() {
		switch m.GetName() {
		case "relay.outbox.lag", "relay.outbox.backlog", "audit.discrepancies", "audit.last_clean.timestamp":
			t.Errorf("%s reported before it was ever set: %v", m.GetName(), m)
		}
	}
	SetOutboxLag(2.5, 7)
	clean := time.Unix(1_800_000_000, 0)
	SetAuditResult(0, clean)
	SetAuditResult(3, time.Unix(1_800_000_600, 0)) // a dirty pass keeps the last clean time
	flush(t, tel)
	want := map[string]float64{"relay.outbox.lag": 2.5, "relay.outbox.backlog": 7, "audit.discrepancies": 3,
		"audit.last_clean.timestamp": float64(clean.Unix())}
	got := map[string]float64{}
	for _, m := range rcv.Metrics() {
		for _, dp := range m.GetGauge().GetDataPoints() {
			got[m.GetName()] = dp.GetAsDouble() + float64(dp.GetAsInt())
		}
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
}

func TestSDKDisabledOnlyByTrue(t *testing.T) {
	for v, want := range map[string]bool{"true": true, " True ": true, "TRUE": true, "1": false, "yes": false, "": false, "false": false} {
		t.Setenv("OTEL_SDK_DISABLED", v)
		if got := sdkDisabled(); got != want {
			t.Errorf("OTEL_SDK_DISABLED=%q: disabled %v, want %v", v, got, want)
		}
	}
}
