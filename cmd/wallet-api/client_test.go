package main

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentic-commerce/wallet-ledger/client"
	"github.com/agentic-commerce/wallet-ledger/internal/auth"
)

var fastRetry = client.Retry{Attempts: 3, BaseDelay: 5 * time.Millisecond, MaxDelay: 20 * time.Millisecond}

func TestClientAgainstTheRealAPI(t *testing.T) {
	a := newAPI(t)
	ctx := context.Background()
	alice := a.newClient(token(t, "alice", auth.ScopeRead, auth.ScopeWrite), nil, fastRetry)
	admin := alice.WithToken(token(t, "ops", auth.ScopeAdmin))

	from, resp, err := alice.CreateWallet(ctx, client.CreateWalletRequest{Asset: "USD"})
	require.NoError(t, err)
	assert.NotEmpty(t, resp.IdempotencyKey)
	assert.Equal(t, "/v1/wallets/"+from.WalletID, resp.Location)
	assert.Equal(t, "alice", from.Owner)
	to, _, err := admin.CreateWallet(ctx, client.CreateWalletRequest{Asset: "USD", Owner: "bob"})
	require.NoError(t, err)
	_, _, err = admin.Adjust(ctx, client.AdjustmentRequest{WalletID: from.WalletID, Amount: 1000, Asset: "USD", Reason: "top-up"})
	require.NoError(t, err)

	req := client.TransferRequest{FromWalletID: from.WalletID, ToWalletID: to.WalletID, Amount: 250, Asset: "USD", Description: "order 1"}
	tx, resp, err := alice.Transfer(ctx, req)
	require.NoError(t, err)
	assert.False(t, resp.Replayed)
	assert.Equal(t, resp.IdempotencyKey, tx.IdempotencyKey)
	again, resp2, err := alice.Transfer(ctx, req, client.WithIdempotencyKey(resp.IdempotencyKey))
	require.NoError(t, err)
	assert.True(t, resp2.Replayed)
	assert.Equal(t, tx.TransactionID, again.TransactionID)

	bal, _, err := alice.GetBalance(ctx, from.WalletID)
	require.NoError(t, err)
	assert.Equal(t, int64(750), bal.Balance, "the replay moved nothing")
	got, _, err := alice.GetTransaction(ctx, tx.TransactionID)
	require.NoError(t, err)
	assert.Equal(t, tx.Entries, got.Entries)
	audit, _, err := alice.AuditBalance(ctx, from.WalletID)
	require.NoError(t, err)
	assert.True(t, audit.Consistent)
	w, _, err := alice.GetWallet(ctx, from.WalletID)
	require.NoError(t, err)
	assert.Equal(t, int64(750), w.Available)

	// Typed refusals carry the code, the key, and whether they were replayed.
	_, resp, err = alice.Transfer(ctx, client.TransferRequest{FromWalletID: from.WalletID, ToWalletID: to.WalletID, Amount: 10_000, Asset: "USD"})
	var apiErr *client.Error
	require.ErrorAs(t, err, &apiErr)
	assert.Equal(t, client.CodeInsufficientFunds, apiErr.Code)
	assert.Equal(t, http.StatusUnprocessableEntity, apiErr.StatusCode)
	assert.Equal(t, resp.IdempotencyKey, apiErr.IdempotencyKey)
	assert.Equal(t, 1, resp.Attempts, "a refusal is final, not retried")
	_, _, err = alice.Transfer(ctx, client.TransferRequest{FromWalletID: from.WalletID, ToWalletID: to.WalletID, Amount: 10_000, Asset: "USD"},
		client.WithIdempotencyKey(resp.IdempotencyKey))
	require.ErrorAs(t, err, &apiErr)
	assert.True(t, apiErr.Replayed)

	_, _, err = alice.Transfer(ctx, client.TransferRequest{FromWalletID: from.WalletID, ToWalletID: "nope", Amount: 0, Asset: "usd"})
	require.ErrorAs(t, err, &apiErr)
	assert.Equal(t, client.CodeValidation, apiErr.Code)
	assert.Len(t, apiErr.Errors, 3)
	_, _, err = alice.GetBalance(ctx, to.WalletID)
	assert.True(t, client.IsCode(err, client.CodeWalletNotFound), "%v", err)
	_, _, err = alice.WithToken("").GetBalance(ctx, from.WalletID)
	assert.True(t, client.IsCode(err, client.CodeUnauthorized), "%v", err)
}

// loseFirstResponse lets the first POST reach the server and commit, then drops the answer: the client cannot know
// whether the transfer happened. Its retry with the same key must find out without paying twice.
type loseFirstResponse struct {
	mu   sync.Mutex
	lost bool
	keys []string
}

func (l *loseFirstResponse) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(req)
	l.mu.Lock()
	defer l.mu.Unlock()
	if req.Method == http.MethodPost {
		l.keys = append(l.keys, req.Header.Get("Idempotency-Key"))
	}
	if err == nil && req.Method == http.MethodPost && req.URL.Path == "/v1/transfers" && !l.lost {
		l.lost = true
		resp.Body.Close()
		return nil, errors.New("connection reset by peer (simulated, after the server answered)")
	}
	return resp, err
}

func TestClientRetriesALostResponseWithTheSameKeyAndPaysOnce(t *testing.T) {
	a := newAPI(t)
	ctx := context.Background()
	tok := token(t, "carol", auth.ScopeRead, auth.ScopeWrite)
	from, to := a.createWallet(tok, "USD"), a.createWallet(tok, "USD")
	a.fund(from, "USD", 500)

	lossy := &loseFirstResponse{}
	c, err := client.New(a.base, client.WithToken(tok), client.WithRetry(fastRetry), client.WithHTTPClient(&http.Client{Transport: lossy}))
	require.NoError(t, err)
	tx, resp, err := c.Transfer(ctx, client.TransferRequest{FromWalletID: from, ToWalletID: to, Amount: 200, Asset: "USD"})
	require.NoError(t, err)
	assert.Equal(t, 2, resp.Attempts)
	assert.True(t, resp.Replayed, "the second attempt is answered from the first, which committed")
	require.Len(t, lossy.keys, 2)
	assert.Equal(t, lossy.keys[0], lossy.keys[1], "the retry carries the same Idempotency-Key")
	assert.Equal(t, resp.IdempotencyKey, lossy.keys[0])
	assert.Equal(t, int64(300), a.balance(from), "paid once")
	assert.Equal(t, int64(200), a.balance(to))
	assert.NotEmpty(t, tx.TransactionID)
}

// recordKeys counts attempts and the keys they carried.
type recordKeys struct {
	mu   sync.Mutex
	keys []string
}

func (r *recordKeys) RoundTrip(req *http.Request) (*http.Response, error) {
	r.mu.Lock()
	r.keys = append(r.keys, req.Header.Get("Idempotency-Key"))
	r.mu.Unlock()
	return http.DefaultTransport.RoundTrip(req)
}

func TestClientRetries503WithTheSameKeyThenReportsIt(t *testing.T) {
	cfg := testConfig(t)
	cfg.DatabaseURL = "postgres://postgres@127.0.0.1:1/nowhere?sslmode=disable&connect_timeout=1"
	a := newAPIWith(t, cfg)
	rec := &recordKeys{}
	c := a.newClient(token(t, "dave", auth.ScopeWrite), rec, fastRetry)
	_, resp, err := c.CreateWallet(context.Background(), client.CreateWalletRequest{Asset: "USD"}, client.WithIdempotencyKey("order-77"))
	var apiErr *client.Error
	require.ErrorAs(t, err, &apiErr)
	assert.Equal(t, client.CodeUnavailable, apiErr.Code)
	assert.True(t, apiErr.Retryable())
	assert.Equal(t, time.Second, apiErr.RetryAfter)
	assert.Equal(t, 3, resp.Attempts)
	assert.Equal(t, []string{"order-77", "order-77", "order-77"}, rec.keys)
	// That MaxDelay caps the server's 1 s Retry-After between the tries is shown on the delays themselves, not on a
	// clock, by the client package's TestBackoffIsBoundedJitteredAndHonoursRetryAfter.
}
