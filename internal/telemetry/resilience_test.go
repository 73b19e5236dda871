package telemetry

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/mux"
)

// The claim under test is that a broken collector never holds a request, never holds Setup and never holds
// Shutdown past its deadline; not a latency figure. So the exporter is made to wait ten minutes per export
// (OTEL_EXPORTER_OTLP_TIMEOUT) against the hanging server, and ten seconds of retries against the closed port:
// anything that waited for an export would take minutes, two orders of magnitude past hangBound, which no busy
// machine's slowness reaches.
const (
	exportHold = "600000" // ms: OTEL_EXPORTER_OTLP_TIMEOUT, ten minutes
	hangBound  = time.Minute
)

// closedPortURL returns an http URL on which nothing listens.
func closedPortURL(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	return "http://" + addr
}

// hangingURL returns an http URL whose server accepts connections and never answers.
func hangingURL(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		_ = l.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
	})
	return "http://" + l.Addr().String()
}

func TestBrokenCollectorNeverHoldsRequests(t *testing.T) {
	for name, endpoint := range map[string]func(*testing.T) string{"closed port": closedPortURL, "hanging server": hangingURL} {
		t.Run(name, func(t *testing.T) {
			start := time.Now()
			// Tiny queues and a short batch delay so the export path is busy (or stuck) while requests keep coming.
			tel, stderr := setupTelemetry(t, endpoint(t), map[string]string{
				"OTEL_BSP_MAX_QUEUE_SIZE": "8", "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "4", "OTEL_BSP_SCHEDULE_DELAY": "10",
				"OTEL_BLRP_MAX_QUEUE_SIZE": "8", "OTEL_BLRP_MAX_EXPORT_BATCH_SIZE": "4", "OTEL_BLRP_SCHEDULE_DELAY": "10",
				"OTEL_METRIC_EXPORT_INTERVAL": "50", "OTEL_EXPORTER_OTLP_TIMEOUT": exportHold,
			})
			if d := time.Since(start); d > hangBound {
				t.Fatalf("Setup took %v with a broken collector: it waited for the collector", d)
			}
			router := mux.NewRouter()
			router.HandleFunc("/v1/wallets/{id}", func(w http.ResponseWriter, r *http.Request) {
				SetSub(r.Context(), "agent")
				RecordCommit(r.Context(), "transfer")
				w.WriteHeader(http.StatusOK)
			})
			srv := httptest.NewServer(Handler(router))
			defer srv.Close()

			const n = 200
			began := time.Now()
			for i := 0; i < n; i++ {
				if got := doRequest(t, http.MethodGet, srv.URL+"/v1/wallets/w1", nil, ""); got != http.StatusOK {
					t.Fatalf("request %d: status %d", i, got)
				}
			}
			if d := time.Since(began); d > hangBound {
				t.Fatalf("%d requests took %v with a broken collector: requests waited for exports", n, d)
			}

			// The exporter is failing or stuck, so the bounded queues overflow; the loss must be counted.
			deadline := time.Now().Add(hangBound)
			for tel.Dropped().Spans == 0 || tel.Dropped().Logs == 0 {
				if time.Now().After(deadline) {
					t.Fatalf("no dropped spans/logs counted after %d requests into a broken collector: %+v", n, tel.Dropped())
				}
				time.Sleep(50 * time.Millisecond)
			}

			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			began = time.Now()
			_ = tel.Shutdown(ctx)
			if d := time.Since(began); d > hangBound {
				t.Fatalf("Shutdown with a 1s deadline took %v: it waited for the ten-minute export", d)
			}
			lines := stderr.jsonLines(t)
			if len(lines) < n {
				t.Errorf("want at least %d JSON access lines on stderr while OTLP is broken", n)
			}
			if last := lines[len(lines)-1]; last["msg"] != "telemetry dropped" || last["spans"].(float64) <= 0 {
				t.Errorf("Shutdown should report the dropped counts on stderr, last line %v", last)
			}
		})
	}
}
