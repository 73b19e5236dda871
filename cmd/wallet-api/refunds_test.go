package main

import (
	"net/http"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentic-commerce/wallet-ledger/internal/auth"
)

func TestRefunds(t *testing.T) {
	a := newAPI(t)
	alice := token(t, "alice", auth.ScopeRead, auth.ScopeWrite)
	shop := token(t, "shop", auth.ScopeRead, auth.ScopeWrite)
	admin := token(t, "ops", auth.ScopeAdmin)
	payer, payee := a.createWallet(alice, "USD"), a.createWallet(shop, "USD")
	a.fund(payer, "USD", 1000)
	tx := created(t, a.post(alice, "/v1/transfers", map[string]any{"from_wallet_id": payer, "to_wallet_id": payee, "amount": 300, "asset": "USD"}))
	txID := tx["transaction_id"].(string)
	path := "/v1/transactions/" + txID + "/refunds"

	// Who may refund: the receiving wallet's owner or an admin; the payer sees the transaction but may not.
	expectProblem(t, a.post(alice, path, map[string]any{"reason": "please"}), http.StatusForbidden, "forbidden")
	expectProblem(t, a.post(token(t, "mallory", auth.ScopeWrite), path, map[string]any{"reason": "x"}), http.StatusNotFound, "transaction_not_found")
	expectProblem(t, a.post(shop, path, map[string]any{}), http.StatusUnprocessableEntity, "validation_error")
	expectProblem(t, a.post(shop, path, map[string]any{"reason": "x", "amount": 0}), http.StatusUnprocessableEntity, "validation_error")
	expectProblem(t, a.post(shop, path, map[string]any{"reason": "x", "amount": 301}), http.StatusUnprocessableEntity, "refund_exceeds_original")
	expectProblem(t, a.post(shop, "/v1/transactions/"+uuid.NewString()+"/refunds", map[string]any{"reason": "x"}), http.StatusNotFound, "transaction_not_found")
	expectProblem(t, a.post(shop, "/v1/transactions/nope/refunds", map[string]any{"reason": "x"}), http.StatusBadRequest, "invalid_id")
	expectProblem(t, a.post(token(t, "shop", auth.ScopeRead), path, map[string]any{"reason": "x"}), http.StatusForbidden, "insufficient_scope")

	key := newKey()
	req := request{Method: http.MethodPost, Path: path, Token: shop, Key: key, Body: map[string]any{"amount": 100, "reason": "damaged"}}
	first := a.do(req)
	r1 := created(t, first)
	assert.Equal(t, "refund", r1["kind"])
	assert.Equal(t, txID, r1["refund_of"])
	assert.Equal(t, payee, r1["from_wallet_id"])
	assert.Equal(t, payer, r1["to_wallet_id"])
	assert.Equal(t, "damaged", r1["reason"])
	assert.Equal(t, "/v1/transactions/"+r1["transaction_id"].(string), first.Header.Get("Location"))
	replay := a.do(req)
	require.Equal(t, http.StatusCreated, replay.Status)
	assert.Equal(t, "true", replay.Header.Get("Idempotent-Replayed"))
	assert.Equal(t, funds{800, 800, 0}, a.funds(payer), "a replay refunds nothing more")
	got := created(t, a.get(alice, "/v1/transactions/"+r1["transaction_id"].(string)), http.StatusOK)
	assert.Equal(t, txID, got["refund_of"])

	// The rest, by default everything not refunded yet; then nothing is left.
	r2 := created(t, a.post(admin, path, map[string]any{"reason": "order cancelled"}))
	assert.EqualValues(t, 200, r2["amount"])
	expectProblem(t, a.post(shop, path, map[string]any{"reason": "again"}), http.StatusUnprocessableEntity, "refund_exceeds_original")
	assert.Equal(t, funds{1000, 1000, 0}, a.funds(payer))
	assert.Equal(t, funds{0, 0, 0}, a.funds(payee))

	// Not refundable: adjustments, refunds, holds.
	adj := created(t, a.post(admin, "/v1/adjustments", map[string]any{"wallet_id": payee, "amount": 50, "asset": "USD", "reason": "bonus"}))
	expectProblem(t, a.post(admin, "/v1/transactions/"+adj["transaction_id"].(string)+"/refunds", map[string]any{"reason": "x"}), http.StatusUnprocessableEntity, "not_refundable")
	expectProblem(t, a.post(admin, "/v1/transactions/"+r2["transaction_id"].(string)+"/refunds", map[string]any{"reason": "x"}), http.StatusUnprocessableEntity, "not_refundable")

	// A payee that has spent the money cannot refund it.
	tx2 := created(t, a.post(alice, "/v1/transfers", map[string]any{"from_wallet_id": payer, "to_wallet_id": payee, "amount": 10, "asset": "USD"}))
	created(t, a.post(shop, "/v1/transfers", map[string]any{"from_wallet_id": payee, "to_wallet_id": payer, "amount": 55, "asset": "USD"}))
	expectProblem(t, a.post(shop, "/v1/transactions/"+tx2["transaction_id"].(string)+"/refunds", map[string]any{"reason": "x"}), http.StatusUnprocessableEntity, "insufficient_funds")
	ledgerConsistent(t, a, payer, payee)
}

func TestRefundOfACaptureAndConcurrentRefunds(t *testing.T) {
	a := newAPI(t)
	alice := token(t, "alice", auth.ScopeRead, auth.ScopeWrite)
	shop := token(t, "shop", auth.ScopeRead, auth.ScopeWrite)
	payer, payee := a.createWallet(alice, "USD"), a.createWallet(shop, "USD")
	a.fund(payer, "USD", 1000)
	h := created(t, a.post(alice, "/v1/holds", map[string]any{"wallet_id": payer, "amount": 500, "asset": "USD", "to_wallet_id": payee}))
	c := created(t, a.post(alice, "/v1/holds/"+h["hold_id"].(string)+"/capture", map[string]any{"amount": 100}), http.StatusOK)
	path := "/v1/transactions/" + c["release_transaction_id"].(string) + "/refunds"

	const workers = 12
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok := 0
	start := make(chan struct{})
	for i := 0; i < workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			r := a.post(shop, path, map[string]any{"amount": 30, "reason": "partial"})
			mu.Lock()
			defer mu.Unlock()
			if r.Status == http.StatusCreated {
				ok++
				return
			}
			assert.Equal(t, http.StatusUnprocessableEntity, r.Status, "%s", r.Body)
			assert.Equal(t, "refund_exceeds_original", r.Code(t))
		}()
	}
	close(start)
	wg.Wait()
	assert.Equal(t, 3, ok, "three refunds of 30 fit in a capture of 100, never four")
	assert.Equal(t, funds{990, 990, 0}, a.funds(payer))
	assert.Equal(t, funds{10, 10, 0}, a.funds(payee))
	created(t, a.post(shop, path, map[string]any{"amount": 10, "reason": "the rest"}))
	expectProblem(t, a.post(shop, path, map[string]any{"amount": 1, "reason": "one more"}), http.StatusUnprocessableEntity, "refund_exceeds_original")
	ledgerConsistent(t, a, payer, payee)
}
