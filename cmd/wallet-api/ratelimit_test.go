package main

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentic-commerce/wallet-ledger/client"
	"github.com/agentic-commerce/wallet-ledger/internal/auth"
	"github.com/agentic-commerce/wallet-ledger/internal/config"
	"github.com/agentic-commerce/wallet-ledger/internal/pgtest"
)

// limitedAPI is a wallet-api on the package database whose callers each get rate/s with burst at once.
func limitedAPI(t *testing.T, limits config.RateLimit) *testAPI {
	t.Helper()
	cfg := testConfig(t)
	cfg.RateLimit = limits
	return newAPIWith(t, cfg)
}

func budget(rate float64, burst int) config.RateLimit {
	b := config.Budget{Rate: rate, Burst: burst}
	return config.RateLimit{Read: b, Write: b}
}

// expectLimited checks a 429: the problem, when to come back, and the caller's spent budget.
func expectLimited(t *testing.T, r response, burst int) time.Duration {
	t.Helper()
	expectProblem(t, r, http.StatusTooManyRequests, "rate_limited")
	assert.Equal(t, r.Header.Get("Request-Id"), r.JSON(t)["request_id"])
	wait, err := strconv.Atoi(r.Header.Get("Retry-After"))
	require.NoError(t, err, "Retry-After %q", r.Header.Get("Retry-After"))
	require.GreaterOrEqual(t, wait, 1)
	assert.Equal(t, strconv.Itoa(burst), r.Header.Get("RateLimit-Limit"))
	assert.Equal(t, "0", r.Header.Get("RateLimit-Remaining"))
	reset, err := strconv.Atoi(r.Header.Get("RateLimit-Reset"))
	require.NoError(t, err)
	assert.GreaterOrEqual(t, reset, wait)
	return time.Duration(wait) * time.Second
}

// A burst over a caller's budget is answered 429 with Retry-After and the RateLimit headers. The refused write
// did nothing and left its idempotency key unused: retried after Retry-After with the same key, it runs for the
// first time; and a replay of a key used before the burst still answers its first outcome.
func TestBurstOverTheLimitIsRefusedAndChangesNothing(t *testing.T) {
	setup := newAPI(t)
	alice := token(t, "rl-alice", auth.ScopeRead, auth.ScopeWrite)
	from, to := setup.createWallet(alice, "USD"), setup.createWallet(token(t, "rl-bob", auth.ScopeWrite), "USD")
	setup.fund(from, "USD", 1000)

	const burst = 4
	a := limitedAPI(t, budget(1, burst))
	transfer := map[string]any{"from_wallet_id": from, "to_wallet_id": to, "amount": 10, "asset": "USD"}
	paid := request{Method: http.MethodPost, Path: "/v1/transfers", Token: alice, Key: newKey(), Body: transfer}
	first := a.do(paid)
	require.Equal(t, http.StatusCreated, first.Status, "%s", first.Body)
	assert.Equal(t, strconv.Itoa(burst), first.Header.Get("RateLimit-Limit"))
	assert.Equal(t, strconv.Itoa(burst-1), first.Header.Get("RateLimit-Remaining"))

	// Spend the rest of the budget on reads (reads and writes share one bucket by default)...
	var r response
	for range burst * 3 {
		if r = a.get(alice, "/v1/wallets/"+from+"/balance"); r.Status == http.StatusTooManyRequests {
			break
		}
		require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
		require.NotEmpty(t, r.Header.Get("RateLimit-Remaining"))
	}
	expectLimited(t, r, burst)

	// ... so the next write is refused before it does anything.
	refused := request{Method: http.MethodPost, Path: "/v1/transfers", Token: alice, Key: newKey(), Body: transfer}
	wait := expectLimited(t, a.do(refused), burst)
	assert.EqualValues(t, 990, setup.balance(from), "the refused transfer moved nothing")
	var stored int
	require.NoError(t, pgtest.Pool(t).QueryRow(context.Background(), `SELECT count(*) FROM idempotency_keys
		WHERE sub = 'rl-alice' AND idempotency_key = $1`, refused.Key).Scan(&stored))
	assert.Zero(t, stored, "the refusal is not stored under the key")

	// Another caller has its own budget; health and readiness have none.
	assert.Equal(t, http.StatusOK, a.get(token(t, "rl-carol", auth.ScopeRead), "/v1/wallets?limit=1").Status)
	for range burst * 3 {
		for _, path := range []string{"/v1/health", "/v1/ready"} {
			h := a.get("", path)
			require.Equal(t, http.StatusOK, h.Status, path)
			assert.Empty(t, h.Header.Get("RateLimit-Limit"), "%s is never limited", path)
		}
	}

	time.Sleep(wait)
	retried := a.do(refused)
	require.Equal(t, http.StatusCreated, retried.Status, "%s", retried.Body)
	assert.Empty(t, retried.Header.Get("Idempotent-Replayed"), "the key was still unused: this is its first run")
	time.Sleep(time.Second)
	replayed := a.do(paid)
	require.Equal(t, http.StatusCreated, replayed.Status, "%s", replayed.Body)
	assert.Equal(t, "true", replayed.Header.Get("Idempotent-Replayed"))
	assert.Equal(t, first.JSON(t)["transaction_id"], replayed.JSON(t)["transaction_id"])
	assert.EqualValues(t, 980, setup.balance(from), "two transfers, each once")
}

// Requests without a valid token are charged to their client address: a flood of bad tokens, or of fetches of
// the API document, is refused like any other burst, without touching an authenticated caller's budget.
func TestRequestsWithoutATokenAreLimitedByAddress(t *testing.T) {
	const burst = 3
	a := limitedAPI(t, budget(0.5, burst))
	var r response
	for i := range burst + 1 {
		path := "/v1/openapi.json"
		if i%2 == 1 {
			path = "/v1/wallets?limit=1"
		}
		if r = a.get("not-a-token", path); r.Status == http.StatusTooManyRequests {
			break
		}
		require.Contains(t, []int{http.StatusOK, http.StatusUnauthorized}, r.Status, "%s: %s", path, r.Body)
		require.NotEmpty(t, r.Header.Get("RateLimit-Remaining"), path)
	}
	expectLimited(t, r, burst)
	expectLimited(t, a.get("", "/v1/openapi.json"), burst)
	ok := a.get(token(t, "rl-dave", auth.ScopeRead), "/v1/wallets?limit=1")
	assert.Equal(t, http.StatusOK, ok.Status, "a verified caller is charged to its own sub")
}

// With separate budgets, a caller who spent its writes can still read.
func TestWritesAndReadsMayHaveSeparateBudgets(t *testing.T) {
	alice := token(t, "rl-erin", auth.ScopeRead, auth.ScopeWrite)
	a := limitedAPI(t, config.RateLimit{Read: config.Budget{Rate: 1, Burst: 50}, Write: config.Budget{Rate: 0.5, Burst: 1}, Split: true})
	require.Equal(t, http.StatusCreated, a.post(alice, "/v1/wallets", map[string]any{"asset": "USD"}).Status)
	expectLimited(t, a.post(alice, "/v1/wallets", map[string]any{"asset": "USD"}), 1)
	read := a.get(alice, "/v1/wallets")
	require.Equal(t, http.StatusOK, read.Status)
	assert.Equal(t, "50", read.Header.Get("RateLimit-Limit"))
}

// The Go client waits out a 429 for as long as Retry-After asks and retries with the same key; with no retries
// left it reports the refusal with its request id and the wait.
func TestClientRetriesA429AfterRetryAfter(t *testing.T) {
	a := limitedAPI(t, budget(1, 1))
	tok := token(t, "rl-frank", auth.ScopeRead, auth.ScopeWrite)
	patient := a.newClient(tok, nil, client.Retry{Attempts: 3, BaseDelay: 50 * time.Millisecond, MaxDelay: 3 * time.Second})
	ctx := context.Background()
	w, resp, err := patient.CreateWallet(ctx, client.CreateWalletRequest{Asset: "USD"})
	require.NoError(t, err)
	require.NotNil(t, resp.RateLimit)
	assert.Equal(t, 1, resp.RateLimit.Limit)
	assert.Equal(t, 0, resp.RateLimit.Remaining)
	assert.NotEmpty(t, resp.RequestID)

	again, resp, err := patient.GetWallet(ctx, w.WalletID)
	require.NoError(t, err, "the 429 was waited out")
	assert.Equal(t, w.WalletID, again.WalletID)
	assert.Equal(t, 2, resp.Attempts, "one 429, then the answer")

	hasty := a.newClient(tok, nil, client.Retry{Attempts: 1})
	_, resp, err = hasty.GetWallet(ctx, w.WalletID)
	var apiErr *client.Error
	require.True(t, errors.As(err, &apiErr), "%v", err)
	assert.Equal(t, client.CodeRateLimited, apiErr.Code)
	assert.True(t, apiErr.Retryable())
	assert.GreaterOrEqual(t, apiErr.RetryAfter, time.Second)
	assert.NotEmpty(t, apiErr.RequestID)
	assert.Equal(t, resp.RequestID, apiErr.RequestID)
	assert.Contains(t, err.Error(), apiErr.RequestID, "the error message carries the id to quote")
}
