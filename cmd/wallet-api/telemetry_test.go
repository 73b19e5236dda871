package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentic-commerce/wallet-ledger/internal/auth"
	"github.com/agentic-commerce/wallet-ledger/internal/telemetry"
	"github.com/agentic-commerce/wallet-ledger/internal/telemetry/otlptest"
	"github.com/agentic-commerce/wallet-ledger/relay"
)

// syncBuffer is the stderr the telemetry JSON log writes to; SDK goroutines and handlers write concurrently.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// withTelemetry runs telemetry.Setup as main does, exporting to an in-process OTLP receiver.
func withTelemetry(t *testing.T) (*telemetry.Telemetry, *otlptest.Receiver, *syncBuffer) {
	t.Helper()
	rcv := otlptest.NewReceiver(t)
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", rcv.URL())
	t.Setenv("OTEL_SDK_DISABLED", "")
	t.Setenv("OTEL_TRACES_SAMPLER", "")
	prev := slog.Default()
	stderr := &syncBuffer{}
	tel, err := telemetry.Setup(context.Background(), "wallet-api", telemetry.WithLogWriter(stderr))
	require.NoError(t, err)
	primeCounters()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = tel.Shutdown(ctx)
		slog.SetDefault(prev)
	})
	return tel, rcv, stderr
}

// TestTelemetryOfATransfer runs the real wallet-api handler against PostgreSQL with telemetry on and checks what
// an operator would rely on: the transfer's trace (HTTP span, SQL spans beneath it, the caller's trace id), its
// access log line, the ledger metrics, and that every dashboard panel and alert about the API names a metric and
// label this run really exported.
func TestTelemetryOfATransfer(t *testing.T) {
	tel, rcv, stderr := withTelemetry(t)
	a := newAPI(t)

	aliceTok := token(t, "alice", auth.ScopeWrite, auth.ScopeRead)
	from := a.createWallet(aliceTok, "EUR")
	to := a.createWallet(token(t, "bob", auth.ScopeWrite), "EUR")
	a.fund(from, "EUR", 1000)

	const traceID, parentID = "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"
	transfer := map[string]any{"from_wallet_id": from, "to_wallet_id": to, "amount": 250, "asset": "EUR"}
	key := newKey()
	r := a.do(request{Method: http.MethodPost, Path: "/v1/transfers", Token: aliceTok, Key: key, Body: transfer,
		Header: map[string]string{"traceparent": "00-" + traceID + "-" + parentID + "-01"}})
	require.Equal(t, http.StatusCreated, r.Status, "transfer: %s", r.Body)
	txID, _ := r.JSON(t)["transaction_id"].(string)
	require.NotEmpty(t, txID, "transfer response: %s", r.Body)
	r = a.do(request{Method: http.MethodPost, Path: "/v1/transfers", Token: aliceTok, Key: key, Body: transfer})
	require.Equal(t, "true", r.Header.Get("Idempotent-Replayed"), "replay: %s", r.Body)
	transfer["amount"] = 251
	r = a.do(request{Method: http.MethodPost, Path: "/v1/transfers", Token: aliceTok, Key: key, Body: transfer})
	require.Equal(t, "idempotency_key_reuse", r.Code(t))
	transfer["amount"] = 1_000_000
	require.Equal(t, "insufficient_funds", a.post(aliceTok, "/v1/transfers", transfer).Code(t))
	require.Equal(t, http.StatusOK, a.get("", "/v1/ready").Status)
	require.Equal(t, http.StatusOK, a.get(aliceTok, "/v1/wallets/"+from).Status)
	require.Equal(t, http.StatusNotFound, a.get(aliceTok, "/v1/nowhere").Status)

	var server otlptest.Span
	require.Eventually(t, func() bool {
		require.NoError(t, tel.ForceFlush(context.Background()))
		for _, s := range rcv.Spans() {
			if s.GetName() == "POST /v1/transfers" && hex.EncodeToString(s.GetTraceId()) == traceID {
				server = s
				return true
			}
		}
		return false
	}, patience, 100*time.Millisecond, "no server span for the transfer")

	assert.Equal(t, parentID, hex.EncodeToString(server.GetParentSpanId()), "the caller's traceparent is the parent")
	sqlUnder := sqlSpansUnder(rcv.Spans(), server)
	assert.NotEmpty(t, sqlUnder, "no SQL span under the transfer's HTTP span")
	assert.True(t, anyContains(sqlUnder, "journal_"), "no journal statement under the transfer span: %v", sqlUnder)
	for _, s := range rcv.Spans() {
		assert.NotContains(t, s.GetName(), from, "a span is named with a raw wallet id")
	}

	line := accessLine(t, stderr, "/v1/transfers", traceID)
	assert.Equal(t, "alice", line["sub"])
	assert.Equal(t, float64(http.StatusCreated), line["status"])
	assert.Equal(t, hex.EncodeToString(server.GetSpanId()), line["span_id"])
	assert.Equal(t, "/v1/wallets/{id}", accessLine(t, stderr, "/v1/wallets/{id}", "")["route"])
	assert.Equal(t, float64(http.StatusNotFound), accessLine(t, stderr, "", "")["status"], "404s are logged too")
	logs := stderr.String()
	for _, rec := range rcv.Logs() {
		logs += rec.String()
	}
	assert.NotContains(t, logs, aliceTok, "a bearer token reached the logs")

	checkTraceReachesBroker(t, tel, rcv, a, txID, traceID)
	checkRequestIDsInTelemetry(t, tel, rcv, stderr, a)

	set, err := otlptest.Translate(rcv.Metrics())
	require.NoError(t, err)
	for _, m := range []string{"ledger_transactions_committed_total", "ledger_idempotency_replays_total",
		"ledger_idempotency_conflicts_total", "ledger_rejections_total", "ledger_db_ready",
		"http_server_request_duration_seconds_bucket", "pgxpool_acquired_connections",
		"db_client_operation_duration_seconds_bucket"} {
		assert.True(t, set.Metrics[m], "wallet-api did not export %s; exported %v", m, otlptest.Sorted(set.Metrics))
	}
	queries, err := otlptest.AllQueries("../../deploy/doks/observability")
	require.NoError(t, err)
	// relay_* and audit_* come from the relay process, not this one (internal/telemetry's tests cover them). The
	// ledger_replica_* gauges exist only once a read replica was checked, and this API has none; internal/telemetry's
	// exported-metrics test covers their names.
	fromAPI := func(m string) bool {
		return !strings.HasPrefix(m, "relay_") && !strings.HasPrefix(m, "audit_") && !strings.HasPrefix(m, "ledger_replica_")
	}
	for _, p := range otlptest.CheckQueries(queries, set, fromAPI) {
		t.Error(p)
	}
}

// checkTraceReachesBroker follows the transfer's trace out of the API: the outbox row written in the transfer's
// transaction carries its traceparent, and after the real relay (SQL publisher) forwarded the event, the message on
// the downstream topic carries the same trace, pointing at the relay's publish span. (One test with the API: the
// relay's package-level tracer binds to the first provider the process installs.)
func checkTraceReachesBroker(t *testing.T, tel *telemetry.Telemetry, rcv *otlptest.Receiver, a *testAPI, txID, traceID string) {
	t.Helper()
	ctx := context.Background()
	metadataOf := func(table string) map[string]string {
		var raw []byte
		err := a.app.pool.QueryRow(ctx, `SELECT metadata::text FROM `+table+` WHERE payload->>'transaction_id' = $1`, txID).Scan(&raw)
		if err != nil {
			return nil
		}
		var md map[string]string
		require.NoError(t, json.Unmarshal(raw, &md))
		return md
	}
	outbox := metadataOf("outbox_events")
	require.NotNil(t, outbox, "no outbox row for transaction %s", txID)
	assert.Contains(t, outbox["traceparent"], "-"+traceID+"-", "the outbox row does not carry the request's trace")

	cfg := relay.Config{Publisher: relay.PublisherSQL}
	down, err := relay.NewDownstream(cfg, a.app.pool, nil)
	require.NoError(t, err)
	rl, err := relay.New(cfg, a.app.pool, down)
	require.NoError(t, err)
	relayCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); defer down.Close(); _ = rl.Run(relayCtx) }()
	defer func() { stop(); <-done }()

	var published map[string]string
	require.Eventually(t, func() bool {
		published = metadataOf("watermill_" + relay.DefaultSQLTopic)
		return published != nil
	}, patience, 50*time.Millisecond, "the relay never published transaction %s", txID)
	parts := strings.Split(published["traceparent"], "-")
	require.Len(t, parts, 4, "published metadata: %v", published)
	assert.Equal(t, traceID, parts[1], "the published event left the request's trace")

	require.Eventually(t, func() bool {
		require.NoError(t, tel.ForceFlush(ctx))
		for _, s := range rcv.Spans() {
			if hex.EncodeToString(s.GetSpanId()) == parts[2] {
				return hex.EncodeToString(s.GetTraceId()) == traceID
			}
		}
		return false
	}, patience, 100*time.Millisecond, "no relay span %s in the transfer's trace", parts[2])
}

// sqlSpansUnder returns the query text of every PostgreSQL span descending from root.
func sqlSpansUnder(spans []otlptest.Span, root otlptest.Span) []string {
	parent := map[string]string{}
	for _, s := range spans {
		parent[string(s.GetSpanId())] = string(s.GetParentSpanId())
	}
	var out []string
	for _, s := range spans {
		if sys, _ := otlptest.Attr(s.GetAttributes(), "db.system.name"); sys != "postgresql" {
			continue
		}
		for id := string(s.GetParentSpanId()); id != ""; id = parent[id] {
			if id == string(root.GetSpanId()) {
				q, _ := otlptest.Attr(s.GetAttributes(), "db.query.text")
				out = append(out, q)
				break
			}
		}
	}
	return out
}

func anyContains(texts []string, sub string) bool {
	for _, s := range texts {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

// accessLine returns the first stderr access log line for route (and traceID when not empty).
func accessLine(t *testing.T, stderr *syncBuffer, route, traceID string) map[string]any {
	t.Helper()
	sc := bufio.NewScanner(strings.NewReader(stderr.String()))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var m map[string]any
		require.NoError(t, json.Unmarshal(sc.Bytes(), &m), "stderr line is not JSON: %s", sc.Text())
		if m["msg"] != "http request" || m["route"] != route || (traceID != "" && m["trace_id"] != traceID) {
			continue
		}
		return m
	}
	t.Fatalf("no access log line for route %q trace %q in:\n%s", route, traceID, stderr.String())
	return nil
}
