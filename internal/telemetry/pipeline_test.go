package telemetry

import (
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/mux"
	"github.com/jackc/pgx/v5/pgxpool"
	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
	metricspb "go.opentelemetry.io/proto/otlp/metrics/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"

	"github.com/agentic-commerce/wallet-ledger/internal/pgtest"
	"github.com/agentic-commerce/wallet-ledger/internal/telemetry/otlptest"
)

const (
	testSub    = "agent-7"
	testToken  = "Bearer tok-SECRET-4c1d"
	bodySecret = "body-SECRET-93af"
	remoteTID  = "4bf92f3577b34da6a3ce929d0e0e4736"
	remoteSID  = "00f067aa0ba902b7"
)

// itemsRouter is a small gorilla/mux API shaped like wallet-api: an auth layer installed with router.Use that calls
// SetSub, and a handler that writes to PostgreSQL in a transaction through an instrumented pool.
func itemsRouter(t *testing.T, pool *pgxpool.Pool) *mux.Router {
	r := mux.NewRouter()
	r.Use(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			if req.Header.Get("Authorization") != testToken {
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
			SetSub(req.Context(), testSub)
			next.ServeHTTP(w, req)
		})
	})
	r.HandleFunc("/v1/items/{id}", func(w http.ResponseWriter, req *http.Request) {
		ctx := req.Context()
		tx, err := pool.Begin(ctx)
		if err != nil {
			t.Errorf("begin: %v", err)
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		defer func() { _ = tx.Rollback(ctx) }()
		if _, err := tx.Exec(ctx, "INSERT INTO items (id, note) VALUES ($1, $2)", mux.Vars(req)["id"], bodySecret); err != nil {
			t.Errorf("insert: %v", err)
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		if err := tx.Commit(ctx); err != nil {
			t.Errorf("commit: %v", err)
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		RecordCommit(ctx, "transfer")
		w.WriteHeader(http.StatusCreated)
		_, _ = io.WriteString(w, `{"ok":true}`)
	}).Methods(http.MethodPost)
	r.HandleFunc("/v1/boom", func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	}).Methods(http.MethodGet)
	return r
}

func instrumentedPool(t *testing.T) *pgxpool.Pool {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(pgtest.NewDatabase(t, nil))
	if err != nil {
		t.Fatalf("parse pool config: %v", err)
	}
	InstrumentPgx(cfg)
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatalf("open pool: %v", err)
	}
	t.Cleanup(pool.Close)
	if err := RegisterPoolMetrics(pool); err != nil {
		t.Fatalf("RegisterPoolMetrics: %v", err)
	}
	if _, err := pool.Exec(context.Background(), "CREATE TABLE items (id uuid PRIMARY KEY, note text)"); err != nil {
		t.Fatalf("create table: %v", err)
	}
	return pool
}

func doRequest(t *testing.T, method, url string, headers map[string]string, body string) int {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	_, _ = io.Copy(io.Discard, res.Body)
	_ = res.Body.Close()
	return res.StatusCode
}

// eventually flushes and re-checks cond until it holds or the deadline passes.
func eventually(t *testing.T, tel *Telemetry, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute) // a bounded wait, generous for a busy machine
	for {
		flush(t, tel)
		if cond() {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestPipelineExportsTracesMetricsAndLogs(t *testing.T) {
	rcv := otlptest.NewReceiver(t)
	tel, stderr := setupTelemetry(t, rcv.URL(), nil)
	pool := instrumentedPool(t)
	srv := httptest.NewServer(Handler(itemsRouter(t, pool)))
	defer srv.Close()

	id := uuid.NewString()
	status := doRequest(t, http.MethodPost, srv.URL+"/v1/items/"+id, map[string]string{
		"Authorization": testToken, "Content-Type": "application/json",
		"traceparent": "00-" + remoteTID + "-" + remoteSID + "-01",
	}, `{"secret":"`+bodySecret+`"}`)
	if status != http.StatusCreated {
		t.Fatalf("POST item: status %d, want 201", status)
	}
	if got := doRequest(t, http.MethodGet, srv.URL+"/v1/nowhere/"+id, nil, ""); got != http.StatusNotFound {
		t.Fatalf("unknown route: status %d, want 404", got)
	}
	if got := doRequest(t, http.MethodGet, srv.URL+"/v1/boom", map[string]string{"Authorization": testToken}, ""); got != http.StatusServiceUnavailable {
		t.Fatalf("boom: status %d, want 503", got)
	}

	var server otlptest.Span
	eventually(t, tel, "the server span of POST /v1/items/{id}", func() bool {
		for _, s := range rcv.Spans() {
			if s.GetName() == "POST /v1/items/{id}" {
				server = s
				return true
			}
		}
		return false
	})
	checkServerSpan(t, server)
	checkSQLChildren(t, rcv.Spans(), server)
	for _, s := range rcv.Spans() {
		if strings.Contains(s.GetName(), id) {
			t.Errorf("span name %q holds the raw path; want the route template", s.GetName())
		}
	}
	if svc, _ := otlptest.Attr(server.Resource.GetAttributes(), "service.name"); svc != "telemetry-test" {
		t.Errorf("service.name = %q, want telemetry-test", svc)
	}

	eventually(t, tel, "http.server.request.duration and pool metrics", func() bool {
		names := map[string]bool{}
		for _, m := range rcv.Metrics() {
			names[m.GetName()] = true
		}
		return names[httpServerDuration] && names["pgxpool.acquired_connections"] && names["ledger.transactions.committed"]
	})
	checkDurationHistogram(t, rcv.Metrics())

	eventually(t, tel, "the OTLP access log record of the POST", func() bool {
		return accessRecord(rcv.Logs(), server.GetTraceId()) != nil
	})
	rec := accessRecord(rcv.Logs(), server.GetTraceId())
	for key, want := range map[string]string{"route": "/v1/items/{id}", "method": "POST", "status": "201", "sub": testSub} {
		if got, _ := otlptest.Attr(rec.GetAttributes(), key); got != want {
			t.Errorf("OTLP access log %s = %q, want %q", key, got, want)
		}
	}
	if hex.EncodeToString(rec.GetSpanId()) != hex.EncodeToString(server.GetSpanId()) {
		t.Errorf("OTLP access log span id %x, want the server span's %x", rec.GetSpanId(), server.GetSpanId())
	}
	checkStderrAccessLog(t, stderr, hex.EncodeToString(server.GetSpanId()))

	allLogs := stderr.String()
	for _, r := range rcv.Logs() {
		allLogs += r.String()
	}
	for _, secret := range []string{"tok-SECRET", bodySecret} {
		if strings.Contains(allLogs, secret) {
			t.Errorf("logs contain %q (a token or body)", secret)
		}
	}
}

func checkServerSpan(t *testing.T, s otlptest.Span) {
	t.Helper()
	if s.GetKind() != tracepb.Span_SPAN_KIND_SERVER {
		t.Errorf("server span kind %v", s.GetKind())
	}
	if got := hex.EncodeToString(s.GetTraceId()); got != remoteTID {
		t.Errorf("server span trace id %s, want the caller's %s (traceparent not extracted)", got, remoteTID)
	}
	if got := hex.EncodeToString(s.GetParentSpanId()); got != remoteSID {
		t.Errorf("server span parent %s, want the caller's span %s", got, remoteSID)
	}
	for key, want := range map[string]string{"http.route": "/v1/items/{id}", "http.request.method": "POST",
		"http.response.status_code": "201", "enduser.id": testSub} {
		if got, _ := otlptest.Attr(s.GetAttributes(), key); got != want {
			t.Errorf("server span %s = %q, want %q", key, got, want)
		}
	}
}

// checkSQLChildren asserts the span tree: the INSERT (and the transaction's statements) are client spans whose
// parent is the HTTP server span.
func checkSQLChildren(t *testing.T, spans []otlptest.Span, server otlptest.Span) {
	t.Helper()
	var names []string
	insert := false
	for _, s := range spans {
		if string(s.GetParentSpanId()) != string(server.GetSpanId()) || string(s.GetTraceId()) != string(server.GetTraceId()) {
			continue
		}
		if sys, _ := otlptest.Attr(s.GetAttributes(), "db.system.name"); sys != "postgresql" {
			continue
		}
		names = append(names, s.GetName())
		if q, _ := otlptest.Attr(s.GetAttributes(), "db.query.text"); strings.HasPrefix(q, "INSERT INTO items") {
			insert = true
			if s.GetKind() != tracepb.Span_SPAN_KIND_CLIENT {
				t.Errorf("SQL span kind %v, want client", s.GetKind())
			}
		}
	}
	if !insert {
		t.Errorf("no INSERT span under the server span; SQL children: %v", names)
	}
	if len(names) < 3 {
		t.Errorf("want BEGIN, INSERT and COMMIT (at least) under the server span, got %v", names)
	}
}

func checkDurationHistogram(t *testing.T, metrics []*metricspb.Metric) {
	t.Helper()
	seen := map[string]bool{}
	for _, m := range metrics {
		if m.GetName() != httpServerDuration {
			continue
		}
		if m.GetUnit() != "s" || m.GetHistogram() == nil {
			t.Fatalf("%s: unit %q histogram %v, want a histogram in s", httpServerDuration, m.GetUnit(), m.GetHistogram() != nil)
		}
		for _, dp := range m.GetHistogram().GetDataPoints() {
			route, _ := otlptest.Attr(dp.GetAttributes(), "http.route")
			method, _ := otlptest.Attr(dp.GetAttributes(), "http.request.method")
			code, _ := otlptest.Attr(dp.GetAttributes(), "http.response.status_code")
			seen[fmt.Sprintf("%s %s %s", method, route, code)] = true
			if strings.Contains(route, "nowhere") {
				t.Errorf("unmatched request recorded with route %q", route)
			}
		}
	}
	for _, want := range []string{"POST /v1/items/{id} 201", "GET /v1/boom 503", "GET  404"} {
		if !seen[want] {
			t.Errorf("no duration data point for %q; have %v", want, seen)
		}
	}
}

func accessRecord(records []*logspb.LogRecord, traceID []byte) *logspb.LogRecord {
	for _, r := range records {
		if r.GetBody().GetStringValue() == "http request" && string(r.GetTraceId()) == string(traceID) {
			return r
		}
	}
	return nil
}

func checkStderrAccessLog(t *testing.T, stderr *lockedBuffer, spanID string) {
	t.Helper()
	var lines []map[string]any
	for _, l := range stderr.jsonLines(t) {
		if l["msg"] == "http request" {
			lines = append(lines, l)
		}
	}
	if len(lines) != 3 {
		t.Fatalf("want one stderr access line per request (3), got %d", len(lines))
	}
	post := lines[0]
	want := map[string]any{"trace_id": remoteTID, "span_id": spanID, "route": "/v1/items/{id}", "method": "POST",
		"status": float64(201), "sub": testSub}
	for k, v := range want {
		if post[k] != v {
			t.Errorf("stderr access log %s = %v, want %v (line %v)", k, post[k], v, post)
		}
	}
	if d, ok := post["duration_ms"].(float64); !ok || d <= 0 {
		t.Errorf("stderr access log duration_ms = %v, want > 0", post["duration_ms"])
	}
	if lines[2]["level"] != "ERROR" || lines[2]["status"] != float64(503) {
		t.Errorf("a 5xx should log at ERROR: %v", lines[2])
	}
}
