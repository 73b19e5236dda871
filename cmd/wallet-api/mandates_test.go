package main

import (
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentic-commerce/wallet-ledger/internal/auth"
)

// grant grants a mandate on wallet as owner and returns its view.
func grant(t *testing.T, a *testAPI, owner, wallet string, body map[string]any) map[string]any {
	t.Helper()
	if _, ok := body["expires_at"]; !ok {
		body["expires_at"] = in(24 * time.Hour)
	}
	_, perTx := body["max_per_transaction"]
	if _, limit := body["limit"]; !perTx && !limit {
		body["max_per_transaction"] = 1_000_000 // a mandate always caps spending
	}
	return created(t, a.post(owner, "/v1/wallets/"+wallet+"/mandates", body))
}

func TestMandateGrantSpendAndRevoke(t *testing.T) {
	a := newAPI(t)
	alice := token(t, "alice", auth.ScopeRead, auth.ScopeWrite)
	agent := token(t, "agent-7", auth.ScopeRead, auth.ScopeWrite)
	stranger := token(t, "mallory", auth.ScopeRead, auth.ScopeWrite)
	wallet := a.createWallet(alice, "USD")
	shop, other := a.createWallet(token(t, "shop", auth.ScopeWrite), "USD"), a.createWallet(token(t, "other", auth.ScopeWrite), "USD")
	a.fund(wallet, "USD", 10_000)

	// Before any mandate the agent knows nothing of the wallet.
	expectProblem(t, a.post(agent, "/v1/transfers", map[string]any{"from_wallet_id": wallet, "to_wallet_id": shop, "amount": 1, "asset": "USD"}),
		http.StatusNotFound, "wallet_not_found")
	expectProblem(t, a.get(agent, "/v1/wallets/"+wallet+"/balance"), http.StatusNotFound, "wallet_not_found")

	r := a.post(alice, "/v1/wallets/"+wallet+"/mandates", map[string]any{"agent": "agent-7", "max_per_transaction": 500,
		"limit": map[string]any{"amount": 1000, "period": "day"}, "allowed_destinations": []string{shop},
		"expires_at": in(24 * time.Hour), "description": "groceries"})
	m := created(t, r)
	mid := m["mandate_id"].(string)
	assert.Equal(t, "/v1/mandates/"+mid, r.Header.Get("Location"))
	assert.Equal(t, "active", m["status"])
	assert.EqualValues(t, 0, m["spent_in_period"])
	assert.EqualValues(t, 1000, m["remaining"])
	assert.Equal(t, "alice", m["granted_by"])

	// The agent spends within the mandate, named or picked.
	t1 := created(t, a.post(agent, "/v1/transfers", map[string]any{"from_wallet_id": wallet, "to_wallet_id": shop, "amount": 400, "asset": "USD", "mandate_id": mid}))
	assert.Equal(t, mid, t1["mandate_id"])
	assert.Equal(t, "agent-7", t1["sub"])
	t2 := created(t, a.post(agent, "/v1/transfers", map[string]any{"from_wallet_id": wallet, "to_wallet_id": shop, "amount": 350, "asset": "USD"}))
	assert.Equal(t, mid, t2["mandate_id"], "the agent's only active mandate is picked")
	for _, tok := range []string{alice, agent} {
		got := created(t, a.get(tok, "/v1/transactions/"+t2["transaction_id"].(string)), http.StatusOK)
		assert.Equal(t, mid, got["mandate_id"])
		assert.Equal(t, "agent-7", got["sub"])
	}
	bal := created(t, a.get(agent, "/v1/wallets/"+wallet+"/balance"), http.StatusOK)
	assert.EqualValues(t, 9250, bal["available"], "an agent with an active mandate reads the balance")
	// ... and the rest of what it may spend from, alike: the wallet and its audit; the owner's history is not its.
	w := created(t, a.get(agent, "/v1/wallets/"+wallet), http.StatusOK)
	assert.EqualValues(t, 9250, w["available"])
	assert.Equal(t, true, created(t, a.get(agent, "/v1/wallets/"+wallet+"/balance/audit"), http.StatusOK)["consistent"])
	expectProblem(t, a.get(agent, "/v1/wallets/"+wallet+"/transactions"), http.StatusNotFound, "wallet_not_found")

	m = created(t, a.get(agent, "/v1/mandates/"+mid), http.StatusOK)
	assert.EqualValues(t, 750, m["spent_in_period"])
	assert.EqualValues(t, 250, m["remaining"])

	spend := func(amount int, to string) response {
		return a.post(agent, "/v1/transfers", map[string]any{"from_wallet_id": wallet, "to_wallet_id": to, "amount": amount, "asset": "USD"})
	}
	expectProblem(t, spend(501, shop), http.StatusForbidden, "mandate_limit_exceeded")
	expectProblem(t, spend(251, shop), http.StatusForbidden, "mandate_limit_exceeded")
	expectProblem(t, spend(1, other), http.StatusForbidden, "destination_not_allowed")
	expectProblem(t, a.post(agent, "/v1/holds", map[string]any{"wallet_id": wallet, "amount": 1, "asset": "USD"}), http.StatusForbidden, "destination_not_allowed")
	expectProblem(t, a.post(agent, "/v1/transfers", map[string]any{"from_wallet_id": wallet, "to_wallet_id": shop, "amount": 1, "asset": "USD", "mandate_id": uuid.NewString()}),
		http.StatusNotFound, "mandate_not_found")
	// Someone else's mandate does not make the wallet visible to a stranger: it is as missing as with no mandate.
	expectProblem(t, a.post(stranger, "/v1/transfers", map[string]any{"from_wallet_id": wallet, "to_wallet_id": shop, "amount": 1, "asset": "USD", "mandate_id": mid}),
		http.StatusNotFound, "wallet_not_found")
	created(t, spend(250, shop))
	expectProblem(t, spend(1, shop), http.StatusForbidden, "mandate_limit_exceeded")
	// The owner is not bound by the agent's mandate.
	created(t, a.post(alice, "/v1/transfers", map[string]any{"from_wallet_id": wallet, "to_wallet_id": other, "amount": 1, "asset": "USD"}))

	// Reads: the owner lists, the agent and the owner read one, strangers see nothing.
	list := created(t, a.get(alice, "/v1/wallets/"+wallet+"/mandates"), http.StatusOK)
	require.Len(t, list["mandates"], 1)
	expectProblem(t, a.get(stranger, "/v1/wallets/"+wallet+"/mandates"), http.StatusNotFound, "wallet_not_found")
	expectProblem(t, a.get(stranger, "/v1/mandates/"+mid), http.StatusNotFound, "mandate_not_found")
	expectProblem(t, a.get(alice, "/v1/mandates/"+uuid.NewString()), http.StatusNotFound, "mandate_not_found")

	// Revoke: strangers cannot, the owner can (twice answers the same), and the agent is locked out.
	expectProblem(t, a.post(stranger, "/v1/mandates/"+mid+"/revoke", nil), http.StatusNotFound, "mandate_not_found")
	rv := created(t, a.post(alice, "/v1/mandates/"+mid+"/revoke", nil), http.StatusOK)
	assert.Equal(t, "revoked", rv["status"])
	assert.Equal(t, "alice", rv["revoked_by"])
	created(t, a.post(alice, "/v1/mandates/"+mid+"/revoke", map[string]any{}), http.StatusOK)
	expectProblem(t, spend(1, shop), http.StatusForbidden, "mandate_inactive")
	expectProblem(t, a.post(agent, "/v1/transfers", map[string]any{"from_wallet_id": wallet, "to_wallet_id": shop, "amount": 1, "asset": "USD", "mandate_id": mid}),
		http.StatusForbidden, "mandate_inactive")
	for _, path := range []string{"", "/balance", "/balance/audit"} {
		expectProblem(t, a.get(agent, "/v1/wallets/"+wallet+path), http.StatusNotFound, "wallet_not_found")
	}
	ledgerConsistent(t, a, wallet, shop, other)
}

func TestMandateGrantValidationAndExpiry(t *testing.T) {
	a := newAPI(t)
	alice := token(t, "alice", auth.ScopeRead, auth.ScopeWrite)
	agent := token(t, "agent-x", auth.ScopeRead, auth.ScopeWrite)
	wallet, shop := a.createWallet(alice, "USD"), a.createWallet(token(t, "shop", auth.ScopeWrite), "USD")
	eur := a.createWallet(alice, "EUR")
	a.fund(wallet, "USD", 100)
	path := "/v1/wallets/" + wallet + "/mandates"

	for name, body := range map[string]map[string]any{
		"no expiry":          {"max_per_transaction": 100, "agent": "agent-x"},
		"past expiry":        {"max_per_transaction": 100, "agent": "agent-x", "expires_at": in(-time.Hour)},
		"no agent":           {"max_per_transaction": 100, "expires_at": in(time.Hour)},
		"owner as agent":     {"max_per_transaction": 100, "agent": "alice", "expires_at": in(time.Hour)},
		"bad period":         {"agent": "agent-x", "expires_at": in(time.Hour), "limit": map[string]any{"amount": 5, "period": "year"}},
		"zero limit":         {"agent": "agent-x", "expires_at": in(time.Hour), "limit": map[string]any{"amount": 0, "period": "day"}},
		"zero per tx":        {"agent": "agent-x", "expires_at": in(time.Hour), "max_per_transaction": 0},
		"foreign asset dest": {"max_per_transaction": 100, "agent": "agent-x", "expires_at": in(time.Hour), "allowed_destinations": []string{eur}},
		"missing dest":       {"max_per_transaction": 100, "agent": "agent-x", "expires_at": in(time.Hour), "allowed_destinations": []string{uuid.NewString()}},
		"bad dest":           {"max_per_transaction": 100, "agent": "agent-x", "expires_at": in(time.Hour), "allowed_destinations": []string{"x"}},
	} {
		r := a.post(alice, path, body)
		require.Equal(t, http.StatusUnprocessableEntity, r.Status, "%s: %s", name, r.Body)
		assert.Equal(t, "validation_error", r.Code(t), name)
	}
	expectProblem(t, a.post(agent, path, map[string]any{"agent": "agent-x", "max_per_transaction": 1, "expires_at": in(time.Hour)}), http.StatusNotFound, "wallet_not_found")
	expectProblem(t, a.post(token(t, "alice", auth.ScopeRead), path, map[string]any{"agent": "agent-x", "max_per_transaction": 1, "expires_at": in(time.Hour)}), http.StatusForbidden, "insufficient_scope")
	expectProblem(t, a.post(alice, "/v1/wallets/nope/mandates", map[string]any{"agent": "agent-x", "max_per_transaction": 1, "expires_at": in(time.Hour)}), http.StatusBadRequest, "invalid_id")
	expectProblem(t, a.post(alice, "/v1/mandates/"+uuid.NewString()+"/revoke", nil), http.StatusNotFound, "mandate_not_found")

	// Two active mandates: the agent must name one.
	m1 := grant(t, a, alice, wallet, map[string]any{"agent": "agent-x", "expires_at": in(800 * time.Millisecond)})["mandate_id"].(string)
	m2 := grant(t, a, alice, wallet, map[string]any{"agent": "agent-x", "limit": map[string]any{"amount": 5, "period": "total"}})["mandate_id"].(string)
	expectProblem(t, a.post(agent, "/v1/transfers", map[string]any{"from_wallet_id": wallet, "to_wallet_id": shop, "amount": 1, "asset": "USD"}),
		http.StatusUnprocessableEntity, "mandate_ambiguous")
	created(t, a.post(agent, "/v1/transfers", map[string]any{"from_wallet_id": wallet, "to_wallet_id": shop, "amount": 1, "asset": "USD", "mandate_id": m1}))

	// Once m1 expires, m2 is the only active one; once m2 is used up it refuses; m1 reads expired.
	time.Sleep(time.Second)
	assert.Equal(t, "expired", created(t, a.get(agent, "/v1/mandates/"+m1), http.StatusOK)["status"])
	expectProblem(t, a.post(agent, "/v1/transfers", map[string]any{"from_wallet_id": wallet, "to_wallet_id": shop, "amount": 1, "asset": "USD", "mandate_id": m1}),
		http.StatusForbidden, "mandate_inactive")
	tx := created(t, a.post(agent, "/v1/transfers", map[string]any{"from_wallet_id": wallet, "to_wallet_id": shop, "amount": 5, "asset": "USD"}))
	assert.Equal(t, m2, tx["mandate_id"])
	expectProblem(t, a.post(agent, "/v1/transfers", map[string]any{"from_wallet_id": wallet, "to_wallet_id": shop, "amount": 1, "asset": "USD"}),
		http.StatusForbidden, "mandate_limit_exceeded")
	// The agent may give up its own mandate.
	assert.Equal(t, "revoked", created(t, a.post(agent, "/v1/mandates/"+m2+"/revoke", nil), http.StatusOK)["status"])
	expectProblem(t, a.post(agent, "/v1/transfers", map[string]any{"from_wallet_id": wallet, "to_wallet_id": shop, "amount": 1, "asset": "USD"}),
		http.StatusForbidden, "mandate_inactive")
	ledgerConsistent(t, a, wallet, shop)
}

// Holds count against the limit when created and give the room back when voided, expired or partly captured.
func TestMandateHoldsChargeAndGiveBack(t *testing.T) {
	a := newAPI(t)
	alice := token(t, "alice", auth.ScopeRead, auth.ScopeWrite)
	agent := token(t, "agent-h", auth.ScopeRead, auth.ScopeWrite)
	wallet, shop := a.createWallet(alice, "USD"), a.createWallet(token(t, "shop", auth.ScopeWrite), "USD")
	a.fund(wallet, "USD", 1000)
	mid := grant(t, a, alice, wallet, map[string]any{"agent": "agent-h", "limit": map[string]any{"amount": 100, "period": "week"}})["mandate_id"].(string)
	remaining := func() int64 {
		return int64(created(t, a.get(alice, "/v1/mandates/"+mid), http.StatusOK)["remaining"].(float64))
	}
	hold := func(amount int) response {
		return a.post(agent, "/v1/holds", map[string]any{"wallet_id": wallet, "amount": amount, "asset": "USD", "to_wallet_id": shop})
	}
	h1 := created(t, hold(60))
	assert.Equal(t, mid, h1["mandate_id"])
	assert.EqualValues(t, 40, remaining())
	expectProblem(t, hold(41), http.StatusForbidden, "mandate_limit_exceeded")
	created(t, a.post(agent, "/v1/holds/"+h1["hold_id"].(string)+"/void", nil), http.StatusOK)
	assert.EqualValues(t, 100, remaining(), "a void gives the room back")

	h2 := created(t, hold(80))["hold_id"].(string)
	c := created(t, a.post(agent, "/v1/holds/"+h2+"/capture", map[string]any{"amount": 30}), http.StatusOK)
	assert.EqualValues(t, 30, c["captured_amount"])
	assert.EqualValues(t, 70, remaining(), "a partial capture gives back what it releases")

	h3 := created(t, a.post(agent, "/v1/holds", map[string]any{"wallet_id": wallet, "amount": 50, "asset": "USD", "to_wallet_id": shop,
		"expires_at": in(600 * time.Millisecond)}))["hold_id"].(string)
	assert.EqualValues(t, 20, remaining())
	time.Sleep(800 * time.Millisecond)
	_, err := a.app.commands.ExpireHolds(t.Context())
	require.NoError(t, err)
	assert.Equal(t, "expired", created(t, a.get(agent, "/v1/holds/"+h3), http.StatusOK)["status"])
	assert.EqualValues(t, 70, remaining(), "an expiry gives the room back")

	// After a revocation the agent can no longer capture its holds; the owner still can, or void them.
	h4 := created(t, hold(10))["hold_id"].(string)
	h5 := created(t, hold(10))["hold_id"].(string)
	created(t, a.post(alice, "/v1/mandates/"+mid+"/revoke", nil), http.StatusOK)
	expectProblem(t, a.post(agent, "/v1/holds/"+h4+"/capture", nil), http.StatusForbidden, "mandate_inactive")
	created(t, a.post(alice, "/v1/holds/"+h4+"/capture", nil), http.StatusOK)
	created(t, a.post(agent, "/v1/holds/"+h5+"/void", nil), http.StatusOK)
	assert.Equal(t, funds{960, 960, 0}, a.funds(wallet))
	ledgerConsistent(t, a, wallet, shop)
}

// Many agents' requests race through one mandate: the limit holds to the minor unit.
func TestMandateConcurrentSpendNeverExceedsLimit(t *testing.T) {
	a := newAPI(t)
	alice := token(t, "alice", auth.ScopeRead, auth.ScopeWrite)
	agent := token(t, "agent-c", auth.ScopeRead, auth.ScopeWrite)
	wallet, shop := a.createWallet(alice, "USD"), a.createWallet(token(t, "shop", auth.ScopeWrite), "USD")
	a.fund(wallet, "USD", 1_000_000)
	const limit, amount, workers = 1000, 37, 60
	mid := grant(t, a, alice, wallet, map[string]any{"agent": "agent-c", "limit": map[string]any{"amount": limit, "period": "total"}})["mandate_id"].(string)

	var wg sync.WaitGroup
	var mu sync.Mutex
	ok, refused := 0, 0
	start := make(chan struct{})
	for i := 0; i < workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			var r response
			if i%3 == 0 { // holds count against the limit too
				r = a.post(agent, "/v1/holds", map[string]any{"wallet_id": wallet, "amount": amount, "asset": "USD", "to_wallet_id": shop})
			} else {
				r = a.post(agent, "/v1/transfers", map[string]any{"from_wallet_id": wallet, "to_wallet_id": shop, "amount": amount, "asset": "USD"})
			}
			mu.Lock()
			defer mu.Unlock()
			switch r.Status {
			case http.StatusCreated:
				ok++
			case http.StatusForbidden:
				assert.Equal(t, "mandate_limit_exceeded", r.Code(t))
				refused++
			default:
				t.Errorf("unexpected %d: %s", r.Status, r.Body)
			}
		}()
	}
	close(start)
	wg.Wait()
	assert.Equal(t, limit/amount, ok, "exactly as many spends as fit in the limit")
	assert.Equal(t, workers-limit/amount, refused)
	m := created(t, a.get(alice, "/v1/mandates/"+mid), http.StatusOK)
	assert.EqualValues(t, ok*amount, m["spent_in_period"])
	assert.LessOrEqual(t, int64(m["spent_in_period"].(float64)), int64(limit))
	f := a.funds(wallet)
	assert.Equal(t, int64(1_000_000-ok*amount), f.Available, "what left available is exactly what the mandate charged")
	ledgerConsistent(t, a, wallet, shop)
}
