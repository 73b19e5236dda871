package main

import (
	"context"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentic-commerce/wallet-ledger/internal/auth"
)

func expectUnavailable(t *testing.T, r response) {
	t.Helper()
	expectProblem(t, r, http.StatusServiceUnavailable, "service_unavailable")
	assert.NotEmpty(t, r.Header.Get("Retry-After"))
}

// The 503 comes from the lost connection itself, not from waiting out a timeout: the request timeout is set far past
// the harness's bound on a request (harnessClient), so a service that waited for it would fail this test.
func TestUnreachableDatabaseFailsClosed(t *testing.T) {
	cfg := testConfig(t)
	cfg.DatabaseURL = "postgres://postgres@127.0.0.1:1/wallet_service?sslmode=disable" // nothing listens on port 1
	cfg.RequestTimeout = 10 * time.Minute
	a := newAPIWith(t, cfg)
	alice := token(t, "alice", auth.ScopeRead, auth.ScopeWrite, auth.ScopeAdmin)
	id := uuid.NewString()

	expectUnavailable(t, a.post(alice, "/v1/wallets", map[string]any{"asset": "USD"}))
	expectUnavailable(t, a.post(alice, "/v1/transfers", map[string]any{"from_wallet_id": id, "to_wallet_id": uuid.NewString(), "amount": 1, "asset": "USD"}))
	expectUnavailable(t, a.post(alice, "/v1/adjustments", map[string]any{"wallet_id": id, "amount": 1, "asset": "USD", "reason": "x"}))
	expectUnavailable(t, a.get(alice, "/v1/wallets/"+id+"/balance"))
	expectUnavailable(t, a.get(alice, "/v1/transactions/"+id))
	expectUnavailable(t, a.get("", "/v1/ready"))
	require.Equal(t, http.StatusOK, a.get("", "/v1/health").Status, "liveness does not depend on the database")
}

// lockProjection holds the row lock a writer needs on wallet's projection, in a's database, until the returned func
// is called.
func lockProjection(t *testing.T, a *testAPI, wallet string) (release func()) {
	t.Helper()
	ctx := context.Background()
	tx, err := a.app.pool.Begin(ctx)
	require.NoError(t, err)
	_, err = tx.Exec(ctx, `SELECT 1 FROM balance_projections WHERE wallet_id = $1 FOR UPDATE`, wallet)
	require.NoError(t, err)
	done := false
	release = func() {
		if !done {
			done = true
			require.NoError(t, tx.Rollback(ctx))
		}
	}
	t.Cleanup(release)
	return release
}

func TestLockTimeoutFailsClosedAndTheRetryCommitsOnce(t *testing.T) {
	t.Setenv("DB_LOCK_TIMEOUT", "300ms")
	a := newAPI(t)
	alice := token(t, "alice", auth.ScopeRead, auth.ScopeWrite)
	from, to := a.createWallet(alice, "USD"), a.createWallet(alice, "USD")
	a.fund(from, "USD", 100)
	key := newKey()
	body := map[string]any{"from_wallet_id": from, "to_wallet_id": to, "amount": 40, "asset": "USD"}

	release := lockProjection(t, a, from)
	expectUnavailable(t, a.do(request{Method: http.MethodPost, Path: "/v1/transfers", Token: alice, Key: key, Body: body}))
	release()
	assert.EqualValues(t, 100, a.balance(from), "nothing was committed")
	assert.Equal(t, 0, journalCountForKey(t, a, "alice", key))

	retry := a.do(request{Method: http.MethodPost, Path: "/v1/transfers", Token: alice, Key: key, Body: body})
	require.Equal(t, http.StatusCreated, retry.Status, "%s", retry.Body)
	assert.Empty(t, retry.Header.Get("Idempotent-Replayed"), "a 503 is not stored: the retry does the work")
	assert.EqualValues(t, 60, a.balance(from))
}

// A writer stuck behind a row lock is answered 503 when the request timeout ends, and leaves nothing behind. The lock
// and statement timeouts are set far past the harness's bound on a request, so only the request timeout can end it.
func TestRequestTimeoutFailsClosed(t *testing.T) {
	t.Setenv("REQUEST_TIMEOUT", "300ms")
	t.Setenv("DB_LOCK_TIMEOUT", "10m")
	t.Setenv("DB_STATEMENT_TIMEOUT", "10m")
	a := newAPI(t)
	alice := token(t, "alice", auth.ScopeRead, auth.ScopeWrite)
	from, to := a.createWallet(alice, "USD"), a.createWallet(alice, "USD")
	a.fund(from, "USD", 100)
	release := lockProjection(t, a, to)
	key := newKey()
	r := a.do(request{Method: http.MethodPost, Path: "/v1/transfers", Token: alice, Key: key,
		Body: map[string]any{"from_wallet_id": from, "to_wallet_id": to, "amount": 1, "asset": "USD"}})
	expectUnavailable(t, r)
	release()
	assert.EqualValues(t, 100, a.balance(from))
	assert.Equal(t, 0, journalCountForKey(t, a, "alice", key))
}

// A connection that dies in the middle of a write answers 503 and leaves nothing behind.
func TestKilledConnectionFailsClosed(t *testing.T) {
	// The write waits on the row lock until its backend is killed: no timeout may answer it first.
	t.Setenv("DB_LOCK_TIMEOUT", "10m")
	t.Setenv("DB_STATEMENT_TIMEOUT", "10m")
	t.Setenv("REQUEST_TIMEOUT", "10m")
	a := newIsolatedAPI(t) // it kills every backend of its database that waits on a lock
	alice := token(t, "alice", auth.ScopeRead, auth.ScopeWrite)
	from, to := a.createWallet(alice, "USD"), a.createWallet(alice, "USD")
	a.fund(from, "USD", 100)
	release := lockProjection(t, a, from)
	key := newKey()
	body := map[string]any{"from_wallet_id": from, "to_wallet_id": to, "amount": 25, "asset": "USD"}
	done := make(chan response, 1)
	go func() {
		done <- a.do(request{Method: http.MethodPost, Path: "/v1/transfers", Token: alice, Key: key, Body: body})
	}()
	// Wait until the write is blocked on the lock, then kill its backend.
	ctx := context.Background()
	require.Eventually(t, func() bool {
		var n int
		_ = a.app.pool.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()
			AND wait_event_type = 'Lock' AND application_name LIKE 'wallet-ledger/%'`).Scan(&n)
		return n > 0
	}, patience, 20*time.Millisecond)
	_, err := a.app.pool.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database()
		AND wait_event_type = 'Lock' AND application_name LIKE 'wallet-ledger/%'`)
	require.NoError(t, err)
	var r response
	select {
	case r = <-done:
	case <-time.After(patience):
		t.Fatal("the write hung after its connection died")
	}
	expectUnavailable(t, r)
	release()
	assert.EqualValues(t, 100, a.balance(from))

	retry := a.do(request{Method: http.MethodPost, Path: "/v1/transfers", Token: alice, Key: key, Body: body})
	require.Equal(t, http.StatusCreated, retry.Status, "%s", retry.Body)
	assert.EqualValues(t, 75, a.balance(from))
}

// SIGTERM drains: a request in flight when the signal arrives completes, then the process exits 0.
func TestSIGTERMDrainsInFlightRequests(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "wallet-api")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Stderr = os.Stderr
	require.NoError(t, build.Run())

	a := newIsolatedAPI(t) // for set-up through the same database, which it waits on for a lock
	alice := token(t, "alice", auth.ScopeRead, auth.ScopeWrite)
	from, to := a.createWallet(alice, "USD"), a.createWallet(alice, "USD")
	a.fund(from, "USD", 100)

	port := freePort(t)
	cmd := exec.Command(bin)
	// The in-flight request waits on a row lock until the test releases it: no lock timeout may end it first.
	cmd.Env = append(os.Environ(), "DATABASE_URL="+a.app.cfg.DatabaseURL, "JWT_SECRET="+testSecret, "HTTP_ADDR=127.0.0.1:"+port,
		"DB_LOCK_TIMEOUT=10m", "DB_STATEMENT_TIMEOUT=10m", "REQUEST_TIMEOUT=10m")
	require.NoError(t, cmd.Start())
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	sub := &testAPI{t: t, base: "http://127.0.0.1:" + port}
	require.Eventually(t, func() bool {
		resp, err := http.Get(sub.base + "/v1/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, patience, 50*time.Millisecond)

	release := lockProjection(t, a, from)
	inflight := make(chan response, 1)
	go func() {
		inflight <- sub.post(alice, "/v1/transfers", map[string]any{"from_wallet_id": from, "to_wallet_id": to, "amount": 5, "asset": "USD"})
	}()
	require.Eventually(t, func() bool {
		var n int
		_ = a.app.pool.QueryRow(context.Background(), `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock'`).Scan(&n)
		return n > 0
	}, patience, 20*time.Millisecond)
	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	time.Sleep(300 * time.Millisecond)
	release()

	select {
	case r := <-inflight:
		require.Equal(t, http.StatusCreated, r.Status, "the in-flight request completes: %s", r.Body)
	case <-time.After(patience):
		t.Fatal("in-flight request never completed")
	}
	select {
	case err := <-exited:
		require.NoError(t, err, "wallet-api exits 0 after draining")
	case <-time.After(patience):
		t.Fatal("wallet-api did not exit after SIGTERM")
	}
	assert.EqualValues(t, 95, a.balance(from))
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	_, port, err := net.SplitHostPort(l.Addr().String())
	require.NoError(t, err)
	return port
}
