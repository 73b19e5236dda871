package telemetry

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/agentic-commerce/wallet-ledger/internal/telemetry/otlptest"
)

var (
	exportedOnce sync.Once
	exported     otlptest.PromSet
)

// exportedPrometheusNames runs the instrumented code once per test binary against the test OTLP receiver and
// translates what the receiver got into the names Prometheus stores.
func exportedPrometheusNames(t *testing.T) otlptest.PromSet {
	t.Helper()
	exportedOnce.Do(func() {
		rcv := otlptest.NewReceiver(t)
		tel, _ := setupTelemetry(t, rcv.URL(), nil)
		runInstrumentedService(t)
		flush(t, tel)
		var err error
		if exported, err = otlptest.Translate(rcv.Metrics()); err != nil {
			t.Fatal(err)
		}
	})
	if len(exported.Metrics) == 0 {
		t.Fatal("the instrumented run exported no metrics")
	}
	return exported
}

// runInstrumentedService drives the HTTP middleware and the pgx instrumentation with real requests against
// PostgreSQL, and calls every recorder the way the ledger core, the relay and the audit do. (cmd/wallet-api's
// telemetry test repeats the check against the real wallet-api for the metrics it owns.)
func runInstrumentedService(t *testing.T) {
	pool := instrumentedPool(t)
	srv := httptest.NewServer(Handler(itemsRouter(t, pool)))
	defer srv.Close()
	if got := doRequest(t, http.MethodPost, srv.URL+"/v1/items/"+uuid.NewString(),
		map[string]string{"Authorization": testToken}, "{}"); got != http.StatusCreated {
		t.Fatalf("POST item: %d", got)
	}
	doRequest(t, http.MethodGet, srv.URL+"/v1/boom", map[string]string{"Authorization": testToken}, "")

	ctx := context.Background()
	RecordIdempotencyReplay(ctx)
	RecordIdempotencyConflict(ctx, "idempotency_key_reuse")
	RecordRejection(ctx, "insufficient_funds")
	SetDBReady(true)
	RecordRelayed(ctx, 3)
	RecordPublishError(ctx)
	RecordQuarantined(ctx)
	SetOutboxLag(1.5, 2)
	SetAuditResult(0, time.Now())
	InitWebhookMetrics(ctx)
	RecordWebhookAttempt(ctx, true, 30*time.Millisecond)
	RecordWebhookAttempt(ctx, false, time.Second)
	RecordWebhookFailed(ctx)
	RecordWebhookEndpointDisabled(ctx)
	SetWebhookBacklog(12, 3)
	RecordWriteBatch(ctx, 12, 4*time.Millisecond)
	RecordBatchRetry(ctx)
	RecordRead(ctx, "replica", "bounded_read")
	SetReplicaStatus(true, 0.2)
}
