package main

import (
	"context"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentic-commerce/wallet-ledger/internal/pgtest"
	"github.com/agentic-commerce/wallet-ledger/internal/telemetry/otlptest"
	"github.com/agentic-commerce/wallet-ledger/migrations"
)

// The relay exports its pgxpool's usage like wallet-api does, so a relay starved of connections (its forwarder,
// audit, history projector and sweepers share one pool) shows on the same dashboard panels.
func TestRelayExportsPoolMetrics(t *testing.T) {
	dbURL := pgtest.NewDatabase(t, migrations.Apply)
	rcv := otlptest.NewReceiver(t)
	bin := relayBinary(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	relay := exec.Command(bin)
	relay.Env = append(os.Environ(), "DATABASE_URL="+dbURL, "RELAY_HTTP_ADDR="+addr, "RELAY_PUBLISHER=sql",
		"OTEL_SDK_DISABLED=false", "OTEL_EXPORTER_OTLP_ENDPOINT="+rcv.URL(), "OTEL_METRIC_EXPORT_INTERVAL=200",
		"OTEL_TRACES_SAMPLER=always_off")
	require.NoError(t, relay.Start())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = relay.Wait()
	}()
	t.Cleanup(func() {
		_ = relay.Process.Signal(syscall.SIGTERM)
		pgtest.WaitOrTimeout(t, done, 30*time.Second)
	})

	want := []string{"pgxpool.acquired_connections", "pgxpool.max_connections"}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		got := map[string]bool{}
		for _, m := range rcv.Metrics() {
			got[m.GetName()] = true
		}
		missing := 0
		for _, name := range want {
			if !got[name] {
				missing++
			}
		}
		if missing == 0 {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the relay did not export all of %v within 30s; it exported %v", want, got)
		case <-done:
			t.Fatalf("the relay exited before exporting %v", want)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Every relay counter a dashboard panel or an alert names (relay_publish_errors_total, relay_events_quarantined_total,
// ...) exists from the moment the relay starts, at zero: the publish-error alert's rate() then sees the first error,
// and the panels show 0 instead of "No data".
func TestRelayCountersExistAtZeroOnAFreshProcess(t *testing.T) {
	queries, err := otlptest.AllQueries("../../deploy/doks/observability")
	require.NoError(t, err)
	var want []string
	for _, name := range otlptest.NamedCounters(queries) {
		if strings.HasPrefix(name, "relay_") || strings.HasPrefix(name, "telemetry_") {
			want = append(want, name)
		}
	}
	require.Subset(t, want, []string{"relay_publish_errors_total", "relay_events_quarantined_total"})

	dbURL := pgtest.NewDatabase(t, migrations.Apply)
	rcv := otlptest.NewReceiver(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	relay := exec.Command(relayBinary(t))
	relay.Env = append(os.Environ(), "DATABASE_URL="+dbURL, "RELAY_HTTP_ADDR="+addr, "RELAY_PUBLISHER=sql",
		"OTEL_SDK_DISABLED=false", "OTEL_EXPORTER_OTLP_ENDPOINT="+rcv.URL(), "OTEL_METRIC_EXPORT_INTERVAL=200",
		"OTEL_TRACES_SAMPLER=always_off", "LOG_LEVEL=warn")
	require.NoError(t, relay.Start())
	done := make(chan struct{})
	go func() { _ = relay.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = relay.Process.Signal(syscall.SIGTERM)
		pgtest.WaitOrTimeout(t, done, 30*time.Second)
	})

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
			for _, name := range want {
				for _, v := range values[name] {
					assert.Zero(t, v, "%s on a relay with an empty outbox", name)
				}
			}
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("counters %v not exported within 30s; exported %v", missing, values)
		case <-done:
			t.Fatalf("the relay exited before exporting %v", missing)
		case <-time.After(100 * time.Millisecond):
		}
	}
}
