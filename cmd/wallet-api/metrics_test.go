package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentic-commerce/wallet-ledger/internal/pgtest"
	"github.com/agentic-commerce/wallet-ledger/internal/telemetry/otlptest"
)

// Every counter a dashboard panel or an alert names exists from the moment the process starts, at zero, before
// anything happened: the panels show 0 instead of "No data", and rate() sees the first increment. (The relay's
// counters are checked on a fresh relay in cmd/relay.)
func TestLedgerCountersExistAtZeroOnAFreshProcess(t *testing.T) {
	queries, err := otlptest.AllQueries("../../deploy/doks/observability")
	require.NoError(t, err)
	var want []string
	for _, name := range otlptest.NamedCounters(queries) {
		if !strings.HasPrefix(name, "relay_") {
			want = append(want, name)
		}
	}
	require.Contains(t, want, "ledger_transactions_committed_total")

	bin := filepath.Join(t.TempDir(), "wallet-api")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Stderr = os.Stderr
	require.NoError(t, build.Run())
	rcv := otlptest.NewReceiver(t)
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), "DATABASE_URL="+pgtest.URL(t), "JWT_SECRET="+testSecret,
		"HTTP_ADDR=127.0.0.1:"+freePort(t), "OTEL_SDK_DISABLED=false", "OTEL_EXPORTER_OTLP_ENDPOINT="+rcv.URL(),
		"OTEL_METRIC_EXPORT_INTERVAL=200", "OTEL_TRACES_SAMPLER=always_off", "LOG_LEVEL=warn")
	require.NoError(t, cmd.Start())
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		pgtest.WaitOrTimeout(t, exited, 30*time.Second)
	})

	values := waitForCounters(t, rcv, want, exited)
	for _, name := range want {
		for _, v := range values[name] {
			assert.Zero(t, v, "%s on a process that did nothing", name)
		}
	}
	assert.GreaterOrEqual(t, len(values["ledger_transactions_committed_total"]), 7, "one series per kind")
}

// waitForCounters waits (at most 30 s) until the receiver holds every counter in want and returns their values.
func waitForCounters(t *testing.T, rcv *otlptest.Receiver, want []string, exited <-chan struct{}) map[string][]float64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		values, err := otlptest.CounterValues(rcv.Metrics())
		require.NoError(t, err)
		var missing []string
		for _, name := range want {
			if len(values[name]) == 0 {
				missing = append(missing, name)
			}
		}
		if len(missing) == 0 {
			return values
		}
		select {
		case <-ctx.Done():
			t.Fatalf("counters %v not exported within 30s; exported %v", missing, values)
		case <-exited:
			t.Fatalf("the process exited before exporting %v", missing)
		case <-time.After(100 * time.Millisecond):
		}
	}
}
