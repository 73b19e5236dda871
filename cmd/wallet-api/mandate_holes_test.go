package main

import (
	"maps"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentic-commerce/wallet-ledger/internal/auth"
	"github.com/agentic-commerce/wallet-ledger/internal/config"
)

// The holes a hostile client found in mandates (issue 15, "fix first"): each let an agent spend where its owner
// meant to stop it. Every case is tried from outside, and the agent then tries to spend through whatever the
// request left behind.

// An empty destination list can only be a mistake: refused, never read as "anywhere". A list that is given is
// always echoed back, on the grant and on every read.
func TestMandateEmptyDestinationListIsRefused(t *testing.T) {
	a := newAPI(t)
	alice := token(t, "alice", auth.ScopeRead, auth.ScopeWrite)
	agent := token(t, "agent-e", auth.ScopeRead, auth.ScopeWrite)
	wallet, shop := a.createWallet(alice, "USD"), a.createWallet(token(t, "shop", auth.ScopeWrite), "USD")
	a.fund(wallet, "USD", 1_000)
	path := "/v1/wallets/" + wallet + "/mandates"

	r := a.post(alice, path, map[string]any{"agent": "agent-e", "max_per_transaction": 100, "allowed_destinations": []string{},
		"expires_at": in(time.Hour)})
	expectProblem(t, r, http.StatusUnprocessableEntity, "validation_error")
	assert.Contains(t, string(r.Body), "allowed_destinations")
	expectProblem(t, a.post(agent, "/v1/transfers", map[string]any{"from_wallet_id": wallet, "to_wallet_id": shop, "amount": 1, "asset": "USD"}),
		http.StatusNotFound, "wallet_not_found")

	m := grant(t, a, alice, wallet, map[string]any{"agent": "agent-e", "max_per_transaction": 100, "allowed_destinations": []string{shop}})
	assert.Equal(t, []any{shop}, m["allowed_destinations"])
	read := created(t, a.get(alice, "/v1/mandates/"+m["mandate_id"].(string)), http.StatusOK)
	assert.Equal(t, []any{shop}, read["allowed_destinations"])
	assert.Equal(t, 1000, int(a.funds(wallet).Available), "nothing moved")
}

// An explicit null is never "no rule": where the document does not say nullable, null is a 400 and changes
// nothing. Omitting a field is how a client says "none" or "all". A description or metadata, which the document
// declares nullable and which set no rule, may be null.
func TestExplicitNullIsRefused(t *testing.T) {
	a := newAPI(t)
	alice := token(t, "alice", auth.ScopeRead, auth.ScopeWrite)
	agent := token(t, "agent-n", auth.ScopeRead, auth.ScopeWrite)
	wallet, shop := a.createWallet(alice, "USD"), a.createWallet(token(t, "shop", auth.ScopeWrite), "USD")
	a.fund(wallet, "USD", 1_000)
	path := "/v1/wallets/" + wallet + "/mandates"

	for _, body := range []map[string]any{
		{"agent": "agent-n", "max_per_transaction": nil, "limit": map[string]any{"amount": 100, "period": "day"}},
		{"agent": "agent-n", "max_per_transaction": 100, "limit": nil},
		{"agent": "agent-n", "max_per_transaction": 100, "allowed_destinations": nil},
		{"agent": "agent-n", "max_per_transaction": 100, "allowed_destinations": []any{nil}},
		{"agent": "agent-n", "limit": map[string]any{"amount": nil, "period": "day"}},
		{"agent": "agent-n", "max_per_transaction": 100, "expires_at": nil},
	} {
		if _, ok := body["expires_at"]; !ok {
			body["expires_at"] = in(time.Hour)
		}
		expectProblem(t, a.post(alice, path, body), http.StatusBadRequest, "invalid_json")
	}
	expectProblem(t, a.post(agent, "/v1/transfers", map[string]any{"from_wallet_id": wallet, "to_wallet_id": shop, "amount": 1, "asset": "USD"}),
		http.StatusNotFound, "wallet_not_found")
	m := grant(t, a, alice, wallet, map[string]any{"agent": "agent-n", "max_per_transaction": 5, "description": nil})
	assert.NotContains(t, m, "description")
	expectProblem(t, a.post(agent, "/v1/transfers", map[string]any{"from_wallet_id": wallet, "to_wallet_id": shop, "amount": 6, "asset": "USD"}),
		http.StatusForbidden, "mandate_limit_exceeded")

	// The same anywhere a null could stand for "all" or "none".
	transfer := map[string]any{"from_wallet_id": wallet, "to_wallet_id": shop, "amount": 10, "asset": "USD"}
	for _, field := range []string{"mandate_id", "amount", "to_wallet_id"} {
		body := map[string]any{}
		for k, v := range transfer {
			body[k] = v
		}
		body[field] = nil
		expectProblem(t, a.post(alice, "/v1/transfers", body), http.StatusBadRequest, "invalid_json")
	}
	noted := created(t, a.post(alice, "/v1/transfers", map[string]any{"from_wallet_id": wallet, "to_wallet_id": shop, "amount": 10,
		"asset": "USD", "description": nil, "metadata": nil}))
	assert.Equal(t, []string{"request_id"}, slices.Collect(maps.Keys(noted["metadata"].(map[string]any))), "null metadata is none: only the server's request_id")
	hold := created(t, a.post(alice, "/v1/holds", map[string]any{"wallet_id": wallet, "to_wallet_id": shop, "amount": 300, "asset": "USD"}))
	holdPath := "/v1/holds/" + hold["hold_id"].(string)
	expectProblem(t, a.post(alice, holdPath+"/capture", map[string]any{"amount": nil}), http.StatusBadRequest, "invalid_json")
	expectProblem(t, a.post(alice, holdPath+"/capture", map[string]any{"to_wallet_id": nil}), http.StatusBadRequest, "invalid_json")
	assert.Equal(t, "active", created(t, a.get(alice, holdPath), http.StatusOK)["status"], "the hold is untouched")

	paid := created(t, a.post(alice, "/v1/transfers", transfer))
	refunds := "/v1/transactions/" + paid["transaction_id"].(string) + "/refunds"
	shopOwner := token(t, "shop", auth.ScopeRead, auth.ScopeWrite)
	expectProblem(t, a.post(shopOwner, refunds, map[string]any{"amount": nil, "reason": "x"}), http.StatusBadRequest, "invalid_json")
	expectProblem(t, a.post(shopOwner, refunds, map[string]any{"reason": nil}), http.StatusBadRequest, "invalid_json")
	f := a.funds(wallet)
	assert.EqualValues(t, 680, f.Available, "the hold and the payments stand, nothing was refunded")
	assert.EqualValues(t, 300, f.Held)
	ledgerConsistent(t, a, wallet, shop)
}

// A mandate always caps spending: max_per_transaction, limit, or both. Without either it is refused.
func TestMandateWithoutCapIsRefused(t *testing.T) {
	a := newAPI(t)
	alice := token(t, "alice", auth.ScopeRead, auth.ScopeWrite)
	wallet, shop := a.createWallet(alice, "USD"), a.createWallet(token(t, "shop", auth.ScopeWrite), "USD")
	path := "/v1/wallets/" + wallet + "/mandates"
	for _, body := range []map[string]any{
		{"agent": "agent-c", "expires_at": in(time.Hour)},
		{"agent": "agent-c", "expires_at": in(time.Hour), "allowed_destinations": []string{shop}},
	} {
		r := a.post(alice, path, body)
		expectProblem(t, r, http.StatusUnprocessableEntity, "validation_error")
		assert.Contains(t, string(r.Body), "max_per_transaction")
	}
	list := created(t, a.get(alice, path), http.StatusOK)
	assert.Empty(t, list["mandates"])
	grant(t, a, alice, wallet, map[string]any{"agent": "agent-c", "limit": map[string]any{"amount": 5, "period": "total"}})
	grant(t, a, alice, wallet, map[string]any{"agent": "agent-d", "max_per_transaction": 5})
}

// A token is refused a few seconds after its exp, not half a minute.
func TestExpiredTokenIsRefusedPromptly(t *testing.T) {
	a := newAPI(t)
	expired, err := auth.Mint(testSecret, config.DefaultJWTAudience, "alice", []string{auth.ScopeRead, auth.ScopeWrite}, -10*time.Second)
	require.NoError(t, err)
	expectProblem(t, a.post(expired, "/v1/wallets", map[string]any{"asset": "USD"}), http.StatusUnauthorized, "unauthorized")
	expectProblem(t, a.get(expired, "/v1/wallets/"+a.createWallet(token(t, "alice", auth.ScopeWrite), "USD")), http.StatusUnauthorized, "unauthorized")
}
