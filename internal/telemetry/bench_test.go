package telemetry

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gorilla/mux"
)

// BenchmarkMiddleware measures what the middleware adds to a request (span, histogram, two log sinks) with a
// collector that is down, compared with the bare router: go test ./internal/telemetry -run ^$ -bench Middleware
func BenchmarkMiddleware(b *testing.B) {
	router := mux.NewRouter()
	router.HandleFunc("/v1/wallets/{id}", func(w http.ResponseWriter, r *http.Request) {
		SetSub(r.Context(), "agent")
		w.WriteHeader(http.StatusOK)
	})
	run := func(b *testing.B, h http.Handler) {
		req := httptest.NewRequest(http.MethodGet, "/v1/wallets/5a1b", nil)
		b.ReportAllocs()
		for b.Loop() {
			h.ServeHTTP(httptest.NewRecorder(), req)
		}
	}
	b.Run("bare", func(b *testing.B) { run(b, router) })
	b.Run("instrumented", func(b *testing.B) {
		b.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:1")
		b.Setenv("OTEL_SDK_DISABLED", "")
		prev := slog.Default()
		defer slog.SetDefault(prev)
		tel, err := Setup(b.Context(), "bench", WithLogWriter(io.Discard))
		if err != nil {
			b.Fatal(err)
		}
		defer func() { _ = tel.Shutdown(b.Context()) }()
		run(b, Handler(router))
	})
}
