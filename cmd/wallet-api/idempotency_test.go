package main

import (
	"context"
	"net/http"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentic-commerce/wallet-ledger/internal/auth"
)

func journalCountForKey(t *testing.T, a *testAPI, sub, key string) int {
	t.Helper()
	var n int
	require.NoError(t, a.app.pool.QueryRow(context.Background(),
		`SELECT count(*) FROM journal_transactions WHERE sub = $1 AND idempotency_key = $2`, sub, key).Scan(&n))
	return n
}

func TestReplayReturnsTheFirstResponseWithoutASecondEffect(t *testing.T) {
	a := newAPI(t)
	alice := token(t, "alice", auth.ScopeRead, auth.ScopeWrite)
	from, to := a.createWallet(alice, "USD"), a.createWallet(alice, "USD")
	a.fund(from, "USD", 100)
	key := newKey()
	body := map[string]any{"from_wallet_id": from, "to_wallet_id": to, "amount": 30, "asset": "USD"}

	first := a.do(request{Method: http.MethodPost, Path: "/v1/transfers", Token: alice, Key: key, Body: body})
	require.Equal(t, http.StatusCreated, first.Status, "%s", first.Body)
	assert.Empty(t, first.Header.Get("Idempotent-Replayed"))

	// The same request in another spelling (key order, white space) is the same request.
	respelled := `{ "asset": "USD", "amount": 30, "to_wallet_id": "` + to + `", "from_wallet_id": "` + from + `" }`
	for _, b := range []any{body, respelled} {
		again := a.do(request{Method: http.MethodPost, Path: "/v1/transfers", Token: alice, Key: key, Body: b})
		require.Equal(t, http.StatusCreated, again.Status)
		assert.Equal(t, "true", again.Header.Get("Idempotent-Replayed"))
		assert.Equal(t, first.Header.Get("Location"), again.Header.Get("Location"))
		assert.Equal(t, string(first.Body), string(again.Body))
	}
	assert.EqualValues(t, 70, a.balance(from))
	assert.Equal(t, 1, journalCountForKey(t, a, "alice", key))
}

func TestKeyReusedForAnotherRequest(t *testing.T) {
	a := newAPI(t)
	alice := token(t, "alice", auth.ScopeRead, auth.ScopeWrite)
	from, to := a.createWallet(alice, "USD"), a.createWallet(alice, "USD")
	a.fund(from, "USD", 100)
	key := newKey()
	ok := a.do(request{Method: http.MethodPost, Path: "/v1/transfers", Token: alice, Key: key,
		Body: map[string]any{"from_wallet_id": from, "to_wallet_id": to, "amount": 30, "asset": "USD"}})
	require.Equal(t, http.StatusCreated, ok.Status)

	other := a.do(request{Method: http.MethodPost, Path: "/v1/transfers", Token: alice, Key: key,
		Body: map[string]any{"from_wallet_id": from, "to_wallet_id": to, "amount": 31, "asset": "USD"}})
	expectProblem(t, other, http.StatusUnprocessableEntity, "idempotency_key_reuse")
	otherRoute := a.do(request{Method: http.MethodPost, Path: "/v1/wallets", Token: alice, Key: key, Body: map[string]any{"asset": "USD"}})
	expectProblem(t, otherRoute, http.StatusUnprocessableEntity, "idempotency_key_reuse")
	assert.EqualValues(t, 70, a.balance(from))
}

func TestKeysAreScopedToTheCaller(t *testing.T) {
	a := newAPI(t)
	alice := token(t, "alice", auth.ScopeWrite)
	bob := token(t, "bob", auth.ScopeWrite)
	key := newKey()
	ra := a.do(request{Method: http.MethodPost, Path: "/v1/wallets", Token: alice, Key: key, Body: map[string]any{"asset": "USD"}})
	rb := a.do(request{Method: http.MethodPost, Path: "/v1/wallets", Token: bob, Key: key, Body: map[string]any{"asset": "USD"}})
	require.Equal(t, http.StatusCreated, ra.Status)
	require.Equal(t, http.StatusCreated, rb.Status)
	assert.Empty(t, rb.Header.Get("Idempotent-Replayed"), "bob's key is not alice's")
	assert.NotEqual(t, ra.JSON(t)["wallet_id"], rb.JSON(t)["wallet_id"])
}

func TestRefusalIsReplayedToo(t *testing.T) {
	a := newAPI(t)
	alice := token(t, "alice", auth.ScopeRead, auth.ScopeWrite)
	from, to := a.createWallet(alice, "USD"), a.createWallet(alice, "USD")
	key := newKey()
	body := map[string]any{"from_wallet_id": from, "to_wallet_id": to, "amount": 50, "asset": "USD"}
	first := a.do(request{Method: http.MethodPost, Path: "/v1/transfers", Token: alice, Key: key, Body: body})
	expectProblem(t, first, http.StatusUnprocessableEntity, "insufficient_funds")

	// Funds arrive later, but the key already has its answer: a retry must not turn into a payment.
	a.fund(from, "USD", 100)
	again := a.do(request{Method: http.MethodPost, Path: "/v1/transfers", Token: alice, Key: key, Body: body})
	expectProblem(t, again, http.StatusUnprocessableEntity, "insufficient_funds")
	assert.Equal(t, "true", again.Header.Get("Idempotent-Replayed"))
	// The same answer, named after the request that reads it: its request_id is the replay's Request-Id.
	firstBody, againBody := first.JSON(t), again.JSON(t)
	assert.Equal(t, first.Header.Get("Request-Id"), firstBody["request_id"])
	assert.Equal(t, again.Header.Get("Request-Id"), againBody["request_id"])
	delete(firstBody, "request_id")
	delete(againBody, "request_id")
	assert.Equal(t, firstBody, againBody)
	assert.EqualValues(t, 100, a.balance(from))
}

func TestWalletCreationReplaysTheGeneratedID(t *testing.T) {
	a := newAPI(t)
	alice := token(t, "alice", auth.ScopeWrite)
	key := newKey()
	first := a.do(request{Method: http.MethodPost, Path: "/v1/wallets", Token: alice, Key: key, Body: map[string]any{"asset": "USD"}})
	again := a.do(request{Method: http.MethodPost, Path: "/v1/wallets", Token: alice, Key: key, Body: map[string]any{"asset": "USD"}})
	require.Equal(t, http.StatusCreated, first.Status)
	require.Equal(t, http.StatusCreated, again.Status)
	assert.Equal(t, first.JSON(t)["wallet_id"], again.JSON(t)["wallet_id"])
}

func TestRacingRequestsWithOneKeyMoveMoneyOnce(t *testing.T) {
	a := newAPI(t)
	alice := token(t, "alice", auth.ScopeRead, auth.ScopeWrite)
	from, to := a.createWallet(alice, "USD"), a.createWallet(alice, "USD")
	a.fund(from, "USD", 1000)
	key := newKey()
	body := map[string]any{"from_wallet_id": from, "to_wallet_id": to, "amount": 10, "asset": "USD"}

	const racers = 16
	responses := make([]response, racers)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range racers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			responses[i] = a.do(request{Method: http.MethodPost, Path: "/v1/transfers", Token: alice, Key: key, Body: body})
		}()
	}
	close(start)
	wg.Wait()

	var fresh int
	var txID any
	for _, r := range responses {
		switch r.Status {
		case http.StatusCreated:
			id := r.JSON(t)["transaction_id"]
			if txID == nil {
				txID = id
			}
			assert.Equal(t, txID, id, "every answer names the same transaction")
			if r.Header.Get("Idempotent-Replayed") == "" {
				fresh++
			}
		case http.StatusConflict:
			assert.Equal(t, "idempotency_key_in_use", r.Code(t))
		default:
			t.Fatalf("unexpected %d: %s", r.Status, r.Body)
		}
	}
	assert.Equal(t, 1, fresh, "exactly one request did the work")
	assert.EqualValues(t, 990, a.balance(from))
	assert.Equal(t, 1, journalCountForKey(t, a, "alice", key))
}
