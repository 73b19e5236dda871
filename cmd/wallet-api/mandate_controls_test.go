package main

import (
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentic-commerce/wallet-ledger/internal/auth"
)

// The mandate lifecycle, single use and count limits (issue 15), from outside.

// spendAll sends n transfers of amount from wallet to shop as tok at once and returns how many were answered with
// each status; codes collects the problem codes of the refusals.
func spendAll(t *testing.T, a *testAPI, tok, wallet, shop string, n int, amount func(i int) int, hold func(i int) bool) (map[int]int, map[string]int) {
	t.Helper()
	start := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	statuses, codes := map[int]int{}, map[string]int{}
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			var r response
			if hold != nil && hold(i) {
				r = a.post(tok, "/v1/holds", map[string]any{"wallet_id": wallet, "amount": amount(i), "asset": "USD", "to_wallet_id": shop})
			} else {
				r = a.post(tok, "/v1/transfers", map[string]any{"from_wallet_id": wallet, "to_wallet_id": shop, "amount": amount(i), "asset": "USD"})
			}
			mu.Lock()
			defer mu.Unlock()
			statuses[r.Status]++
			if r.Status >= 400 {
				codes[r.Code(t)]++
			}
		}()
	}
	close(start)
	wg.Wait()
	return statuses, codes
}

func TestMandateSuspendAndResume(t *testing.T) {
	a := newAPI(t)
	alice := token(t, "alice", auth.ScopeRead, auth.ScopeWrite)
	agent := token(t, "agent-s", auth.ScopeRead, auth.ScopeWrite)
	stranger := token(t, "mallory", auth.ScopeRead, auth.ScopeWrite)
	wallet, shop := a.createWallet(alice, "USD"), a.createWallet(token(t, "shop", auth.ScopeWrite), "USD")
	a.fund(wallet, "USD", 1_000)
	m := grant(t, a, alice, wallet, map[string]any{"agent": "agent-s", "limit": map[string]any{"amount": 100, "period": "week"}})
	mid := m["mandate_id"].(string)
	assert.EqualValues(t, 1, m["version"])
	assert.Equal(t, false, m["single_use"])
	assert.EqualValues(t, 0, m["transactions_in_period"])
	spend := func(amount int) response {
		return a.post(agent, "/v1/transfers", map[string]any{"from_wallet_id": wallet, "to_wallet_id": shop, "amount": amount, "asset": "USD"})
	}
	created(t, spend(40))
	got := a.get(agent, "/v1/mandates/"+mid)
	assert.Equal(t, `"2"`, got.Header.Get("ETag"), "one spend, one version")
	assert.EqualValues(t, 1, got.JSON(t)["transactions_in_period"])

	expectProblem(t, a.post(stranger, "/v1/mandates/"+mid+"/suspend", nil), http.StatusNotFound, "mandate_not_found")
	s := created(t, a.post(alice, "/v1/mandates/"+mid+"/suspend", nil), http.StatusOK)
	assert.Equal(t, "suspended", s["status"])
	assert.Equal(t, "suspended", s["deactivated_reason"])
	assert.EqualValues(t, 60, s["remaining"], "its room is kept")
	expectProblem(t, spend(1), http.StatusForbidden, "mandate_inactive")
	expectProblem(t, a.post(agent, "/v1/holds", map[string]any{"wallet_id": wallet, "amount": 1, "asset": "USD"}), http.StatusForbidden, "mandate_inactive")
	expectProblem(t, a.post(agent, "/v1/mandates/"+mid+"/resume", nil), http.StatusForbidden, "forbidden")
	expectProblem(t, a.post(stranger, "/v1/mandates/"+mid+"/resume", nil), http.StatusNotFound, "mandate_not_found")
	r := created(t, a.post(alice, "/v1/mandates/"+mid+"/resume", map[string]any{}), http.StatusOK)
	assert.Equal(t, "active", r["status"])
	assert.NotContains(t, r, "deactivated_reason")
	created(t, spend(60))
	expectProblem(t, spend(1), http.StatusForbidden, "mandate_limit_exceeded")

	// The agent may suspend itself; revoked is terminal, and suspending it then changes nothing.
	assert.Equal(t, "suspended", created(t, a.post(agent, "/v1/mandates/"+mid+"/suspend", nil), http.StatusOK)["status"])
	rv := created(t, a.post(agent, "/v1/mandates/"+mid+"/revoke", nil), http.StatusOK)
	assert.Equal(t, "revoked", rv["status"])
	assert.Equal(t, "renounced", rv["deactivated_reason"])
	assert.Equal(t, "revoked", created(t, a.post(alice, "/v1/mandates/"+mid+"/suspend", nil), http.StatusOK)["status"])
	expectProblem(t, a.post(alice, "/v1/mandates/"+mid+"/resume", nil), http.StatusForbidden, "mandate_inactive")
	final := a.get(alice, "/v1/mandates/"+mid)
	assert.Equal(t, `"7"`, final.Header.Get("ETag"), "grant, spend, suspend, resume, spend, suspend, revoke")
	assert.Equal(t, 2, eventsOf(t, "mandate.suspended", mid))
	assert.Equal(t, 1, eventsOf(t, "mandate.resumed", mid))
	ledgerConsistent(t, a, wallet, shop)
}

// 40 concurrent spends under a single-use mandate: exactly one wins and consumes it; every other is refused with
// mandate_inactive, and the journal holds exactly one spend under it.
func TestSingleUseUnderFortyConcurrentSpends(t *testing.T) {
	a := newAPI(t)
	alice := token(t, "alice", auth.ScopeRead, auth.ScopeWrite)
	agent := token(t, "agent-once", auth.ScopeRead, auth.ScopeWrite)
	wallet, shop := a.createWallet(alice, "USD"), a.createWallet(token(t, "shop", auth.ScopeWrite), "USD")
	a.fund(wallet, "USD", 100_000)
	m := grant(t, a, alice, wallet, map[string]any{"agent": "agent-once", "max_per_transaction": 500, "single_use": true})
	mid := m["mandate_id"].(string)
	assert.Equal(t, true, m["single_use"])

	statuses, codes := spendAll(t, a, agent, wallet, shop, 40, func(i int) int { return 100 + i }, func(i int) bool { return i%5 == 0 })
	assert.Equal(t, map[int]int{http.StatusCreated: 1, http.StatusForbidden: 39}, statuses)
	assert.Equal(t, map[string]int{"mandate_inactive": 39}, codes)
	n, _ := spendsUnder(t, mid)
	assert.EqualValues(t, 1, n, "the journal holds one spend under it")
	got := created(t, a.get(alice, "/v1/mandates/"+mid), http.StatusOK)
	assert.Equal(t, "consumed", got["status"])
	assert.Equal(t, "consumed", got["deactivated_reason"])
	assert.EqualValues(t, 1, got["transactions_in_period"])
	assert.Equal(t, 1, eventsOf(t, "mandate.consumed", mid))
	expectProblem(t, a.post(agent, "/v1/transfers", map[string]any{"from_wallet_id": wallet, "to_wallet_id": shop, "amount": 1, "asset": "USD"}),
		http.StatusForbidden, "mandate_inactive")
	expectProblem(t, a.post(alice, "/v1/mandates/"+mid+"/resume", nil), http.StatusForbidden, "mandate_inactive")
	ledgerConsistent(t, a, wallet, shop)
}

// A single-use mandate consumed by a hold still lets its agent capture that hold: the capture is not another
// spend. A void gives no use back.
func TestSingleUseHoldIsCapturedByItsAgent(t *testing.T) {
	a := newAPI(t)
	alice := token(t, "alice", auth.ScopeRead, auth.ScopeWrite)
	agent := token(t, "agent-h1", auth.ScopeRead, auth.ScopeWrite)
	wallet, shop := a.createWallet(alice, "USD"), a.createWallet(token(t, "shop", auth.ScopeWrite), "USD")
	a.fund(wallet, "USD", 1_000)
	mid := grant(t, a, alice, wallet, map[string]any{"agent": "agent-h1", "max_per_transaction": 500, "single_use": true})["mandate_id"].(string)
	h := created(t, a.post(agent, "/v1/holds", map[string]any{"wallet_id": wallet, "amount": 300, "asset": "USD", "to_wallet_id": shop}))
	assert.Equal(t, "consumed", created(t, a.get(agent, "/v1/mandates/"+mid), http.StatusOK)["status"])
	c := created(t, a.post(agent, "/v1/holds/"+h["hold_id"].(string)+"/capture", map[string]any{"amount": 250}), http.StatusOK)
	assert.Equal(t, "captured", c["status"])

	mid2 := grant(t, a, alice, wallet, map[string]any{"agent": "agent-h2", "max_per_transaction": 500, "single_use": true})["mandate_id"].(string)
	agent2 := token(t, "agent-h2", auth.ScopeRead, auth.ScopeWrite)
	h2 := created(t, a.post(agent2, "/v1/holds", map[string]any{"wallet_id": wallet, "amount": 100, "asset": "USD", "to_wallet_id": shop}))
	created(t, a.post(agent2, "/v1/holds/"+h2["hold_id"].(string)+"/void", nil), http.StatusOK)
	assert.Equal(t, "consumed", created(t, a.get(agent2, "/v1/mandates/"+mid2), http.StatusOK)["status"], "a void gives no use back")
	expectProblem(t, a.post(agent2, "/v1/holds", map[string]any{"wallet_id": wallet, "amount": 1, "asset": "USD", "to_wallet_id": shop}),
		http.StatusForbidden, "mandate_inactive")
	assert.Equal(t, funds{750, 750, 0}, a.funds(wallet))
	ledgerConsistent(t, a, wallet, shop)
}

// 60 concurrent spends (transfers and holds) against max_transactions {count: 10}: exactly 10 win.
func TestMaxTransactionsUnderSixtyConcurrentSpends(t *testing.T) {
	a := newAPI(t)
	alice := token(t, "alice", auth.ScopeRead, auth.ScopeWrite)
	agent := token(t, "agent-ten", auth.ScopeRead, auth.ScopeWrite)
	wallet, shop := a.createWallet(alice, "USD"), a.createWallet(token(t, "shop", auth.ScopeWrite), "USD")
	a.fund(wallet, "USD", 100_000)
	m := grant(t, a, alice, wallet, map[string]any{"agent": "agent-ten", "max_per_transaction": 100,
		"max_transactions": map[string]any{"count": 10, "period": "day"}})
	mid := m["mandate_id"].(string)
	assert.Equal(t, map[string]any{"count": float64(10), "period": "day"}, m["max_transactions"])
	assert.EqualValues(t, 10, m["transactions_remaining"])

	statuses, codes := spendAll(t, a, agent, wallet, shop, 60, func(i int) int { return 1 + i }, func(i int) bool { return i%3 == 0 })
	assert.Equal(t, map[int]int{http.StatusCreated: 10, http.StatusForbidden: 50}, statuses)
	assert.Equal(t, map[string]int{"mandate_limit_exceeded": 50}, codes)
	n, _ := spendsUnder(t, mid)
	assert.EqualValues(t, 10, n, "the journal holds exactly 10 spends under it")
	got := created(t, a.get(alice, "/v1/mandates/"+mid), http.StatusOK)
	assert.EqualValues(t, 10, got["transactions_in_period"])
	assert.EqualValues(t, 0, got["transactions_remaining"])
	assert.Equal(t, "active", got["status"], "a count limit does not end the mandate")

	for name, body := range map[string]map[string]any{
		"zero count":          {"agent": "x", "max_per_transaction": 1, "max_transactions": map[string]any{"count": 0, "period": "day"}},
		"bad period":          {"agent": "x", "max_per_transaction": 1, "max_transactions": map[string]any{"count": 1, "period": "hour"}},
		"no count":            {"agent": "x", "max_per_transaction": 1, "max_transactions": map[string]any{"period": "day"}},
		"huge count":          {"agent": "x", "max_per_transaction": 1, "max_transactions": map[string]any{"count": 1_000_001, "period": "day"}},
		"only a cap of count": {"agent": "x", "max_transactions": map[string]any{"count": 1, "period": "day"}, "single_use": true},
	} {
		body["expires_at"] = in(time.Hour)
		r := a.post(alice, "/v1/wallets/"+wallet+"/mandates", body)
		require.Equal(t, http.StatusUnprocessableEntity, r.Status, "%s: %s", name, r.Body)
		assert.Equal(t, "validation_error", r.Code(t), name)
	}
	for _, body := range []map[string]any{
		{"agent": "x", "max_per_transaction": 1, "max_transactions": nil},
		{"agent": "x", "max_per_transaction": 1, "single_use": nil},
		{"agent": "x", "max_per_transaction": 1, "max_transactions": map[string]any{"count": nil, "period": "day"}},
	} {
		body["expires_at"] = in(time.Hour)
		expectProblem(t, a.post(alice, "/v1/wallets/"+wallet+"/mandates", body), http.StatusBadRequest, "invalid_json")
	}
	ledgerConsistent(t, a, wallet, shop)
}
