package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentic-commerce/wallet-ledger/command"
	"github.com/agentic-commerce/wallet-ledger/eventstore"
	"github.com/agentic-commerce/wallet-ledger/internal/auth"
	"github.com/agentic-commerce/wallet-ledger/internal/pgtest"
	"github.com/agentic-commerce/wallet-ledger/migrations"
	"github.com/agentic-commerce/wallet-ledger/webhook"
)

var (
	webhookKey  = base64.StdEncoding.EncodeToString([]byte("relay-binary-test-webhook-key!!!"))
	webhookOps  = auth.Caller{Sub: "hooks-ops", Scopes: []string{auth.ScopeAdmin}}
	systemID    = uuid.MustParse("00000000-0000-0000-0000-000000000001")
	webhookEnvs = []string{"RELAY_PUBLISHER=sql", "OTEL_SDK_DISABLED=true", "WEBHOOK_ALLOW_INSECURE=1",
		"WEBHOOK_TIMEOUT=2s", "WEBHOOK_POLL_INTERVAL=50ms", "WEBHOOK_RETRY_DELAYS=100ms,100ms", "WEBHOOK_RETRY_EVERY=200ms",
		"WEBHOOK_CONCURRENCY=2"}
)

// hookLedger is a migrated database and a write side that manages webhook endpoints with webhookKey.
func hookLedger(t *testing.T) (string, *pgxpool.Pool, *command.Commands) {
	t.Helper()
	dbURL := pgtest.NewDatabase(t, migrations.Apply)
	pool, err := pgxpool.New(context.Background(), dbURL)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	store, err := eventstore.NewStore(pool)
	require.NoError(t, err)
	cmds, err := command.New(store, systemID, 24*time.Hour)
	require.NoError(t, err)
	t.Cleanup(cmds.Close)
	k, err := webhook.ParseKeyring(webhookKey)
	require.NoError(t, err)
	cmds.SetWebhooks(webhook.Settings{Keyring: k, Policy: webhook.Policy{AllowInsecure: true}})
	return dbURL, pool, cmds
}

func idemKey() command.Idempotency {
	k := uuid.NewString()
	return command.Idempotency{Sub: webhookOps.Sub, Key: k, Hash: []byte(k)}
}

func addEndpoint(t *testing.T, cmds *command.Commands, url string) uuid.UUID {
	t.Helper()
	cmd, err := cmds.ValidateCreateWebhookEndpoint(webhookOps, command.CreateWebhookEndpointRequest{URL: url})
	require.NoError(t, err)
	out, err := cmds.CreateWebhookEndpoint.Run(context.Background(), webhookOps, idemKey(), cmd)
	require.NoError(t, err)
	require.Equal(t, 201, out.Status, string(out.Body))
	var v webhook.EndpointView
	require.NoError(t, json.Unmarshal(out.Body, &v))
	return v.EndpointID
}

// relayProcess is the relay binary running on a database.
type relayProcess struct {
	cmd    *exec.Cmd
	stderr *bytes.Buffer
	done   chan struct{}
}

func startRelayBinary(t *testing.T, dbURL string, env ...string) *relayProcess {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	p := &relayProcess{cmd: exec.Command(relayBinary(t)), stderr: &bytes.Buffer{}, done: make(chan struct{})}
	p.cmd.Env = append(append(os.Environ(), "DATABASE_URL="+dbURL, "RELAY_HTTP_ADDR="+addr), env...)
	p.cmd.Stderr = &lockedWriter{w: p.stderr}
	require.NoError(t, p.cmd.Start())
	go func() {
		defer close(p.done)
		_ = p.cmd.Wait()
	}()
	t.Cleanup(func() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		pgtest.WaitOrTimeout(t, p.done, 30*time.Second)
	})
	return p
}

type lockedWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func waitUntil(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// The relay is SIGKILLed while deliveries are in flight, then started again: every event reaches the receiver at
// least once, and every delivery ends delivered.
func TestRelayKilledMidDeliveryDeliversEveryEventAfterRestart(t *testing.T) {
	dbURL, pool, cmds := hookLedger(t)
	var mu sync.Mutex
	got := map[string]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(150 * time.Millisecond) // slow enough that the kill lands mid-delivery
		mu.Lock()
		got[r.Header.Get("webhook-id")]++
		mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	delivered := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(got)
	}
	endpoint := addEndpoint(t, cmds, srv.URL+"/hooks")
	const events = 24
	for range events {
		k := idemKey()
		_, err := cmds.CreateWallet.Run(context.Background(), webhookOps, k, command.CreateWallet{WalletID: uuid.New(), Asset: "HKS", Owner: "o"})
		require.NoError(t, err)
	}

	first := startRelayBinary(t, dbURL, append(webhookEnvs, "WEBHOOK_SECRET_KEY="+webhookKey)...)
	waitUntil(t, 30*time.Second, "the first deliveries", func() bool { return delivered() >= 3 })
	require.NoError(t, first.cmd.Process.Signal(syscall.SIGKILL))
	pgtest.WaitOrTimeout(t, first.done, 10*time.Second)
	before := delivered()
	var pending int
	require.NoError(t, pool.QueryRow(context.Background(), `SELECT count(*) FROM webhook_deliveries
		WHERE endpoint_id = $1 AND status = 'pending'`, endpoint).Scan(&pending))
	require.Positive(t, pending, "the kill landed before everything was delivered (%d of %d delivered)", before, events)

	startRelayBinary(t, dbURL, append(webhookEnvs, "WEBHOOK_SECRET_KEY="+webhookKey)...)
	waitUntil(t, 60*time.Second, "every event at the receiver", func() bool { return delivered() == events })
	waitUntil(t, 20*time.Second, "every delivery recorded as delivered", func() bool {
		var n int
		require.NoError(t, pool.QueryRow(context.Background(), `SELECT count(*) FROM webhook_deliveries
			WHERE endpoint_id = $1 AND status = 'delivered'`, endpoint).Scan(&n))
		return n == events
	})
	mu.Lock()
	defer mu.Unlock()
	resent := 0
	for _, n := range got {
		resent += n - 1
	}
	assert.LessOrEqual(t, resent, 2, "at most what was in flight (WEBHOOK_CONCURRENCY=2) is sent twice")
	t.Logf("%d delivered before the kill, %d pending; %d sent twice after the restart", before, pending, resent)
}

// The relay refuses to start while endpoints are enabled and it has no WEBHOOK_SECRET_KEY, or a key that does not
// open their secrets.
func TestRelayRefusesToStartWithoutTheWebhookKey(t *testing.T) {
	dbURL, _, cmds := hookLedger(t)
	addEndpoint(t, cmds, "http://127.0.0.1:1/hooks")
	wrong := base64.StdEncoding.EncodeToString([]byte("another-key-another-key-another!"))
	for name, env := range map[string][]string{
		"no key":    append(webhookEnvs, "WEBHOOK_SECRET_KEY="),
		"wrong key": append(webhookEnvs, "WEBHOOK_SECRET_KEY="+wrong),
	} {
		p := startRelayBinary(t, dbURL, env...)
		pgtest.WaitOrTimeout(t, p.done, 30*time.Second)
		require.NotNil(t, p.cmd.ProcessState, name)
		assert.Equal(t, 2, p.cmd.ProcessState.ExitCode(), "%s: %s", name, p.stderr)
		assert.Contains(t, p.stderr.String(), "WEBHOOK_SECRET_KEY", name)
	}
}
