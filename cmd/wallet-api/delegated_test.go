package main

import (
	"net/http"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentic-commerce/wallet-ledger/internal/auth"
	"github.com/agentic-commerce/wallet-ledger/internal/config"
)

// Delegated tokens (RFC 8693 act), from outside: {sub: alice, act: {sub: shopping-agent}} is an agent acting for
// alice. It spends alice's wallets only under a mandate alice granted shopping-agent, never with alice's own
// authority, and the journal says who acted on whose behalf.

func TestDelegatedTokenSpendsOnlyUnderItsMandate(t *testing.T) {
	a := newAPI(t)
	alice := token(t, "alice", auth.ScopeRead, auth.ScopeWrite)
	acting := actToken(t, "alice", "shopping-agent", auth.ScopeRead, auth.ScopeWrite)
	wallet, shop := a.createWallet(alice, "USD"), a.createWallet(token(t, "shop", auth.ScopeWrite), "USD")
	a.fund(wallet, "USD", 1_000)
	pay := func(tok string, amount int) response {
		return a.post(tok, "/v1/transfers", map[string]any{"from_wallet_id": wallet, "to_wallet_id": shop, "amount": amount, "asset": "USD"})
	}

	// Without a mandate, alice's wallet does not exist for it, to spend or to read.
	expectProblem(t, pay(acting, 1), http.StatusNotFound, "wallet_not_found")
	expectProblem(t, a.get(acting, "/v1/wallets/"+wallet), http.StatusNotFound, "wallet_not_found")
	mid := grant(t, a, alice, wallet, map[string]any{"agent": "shopping-agent", "max_per_transaction": 100})["mandate_id"].(string)

	tx := created(t, pay(acting, 60))
	assert.Equal(t, "alice", tx["sub"])
	assert.Equal(t, "shopping-agent", tx["actor"])
	assert.Equal(t, mid, tx["mandate_id"])
	expectProblem(t, pay(acting, 101), http.StatusForbidden, "mandate_limit_exceeded")
	own := created(t, pay(alice, 1))
	assert.Nil(t, own["actor"], "alice acting herself: actor is null")
	assert.Contains(t, own, "actor")

	// Reads: it reads like the agent (the wallet and its balance, its own transactions and mandate), not like alice.
	for _, tok := range []string{alice, acting} {
		got := created(t, a.get(tok, "/v1/transactions/"+tx["transaction_id"].(string)), http.StatusOK)
		assert.Equal(t, "shopping-agent", got["actor"])
		assert.Equal(t, "alice", got["sub"])
	}
	expectProblem(t, a.get(acting, "/v1/transactions/"+own["transaction_id"].(string)), http.StatusNotFound, "transaction_not_found")
	assert.EqualValues(t, 939, created(t, a.get(acting, "/v1/wallets/"+wallet+"/balance"), http.StatusOK)["available"])
	created(t, a.get(acting, "/v1/mandates/"+mid), http.StatusOK)
	expectProblem(t, a.get(acting, "/v1/wallets/"+wallet+"/mandates"), http.StatusNotFound, "wallet_not_found")
	expectProblem(t, a.get(acting, "/v1/wallets/"+wallet+"/transactions"), http.StatusNotFound, "wallet_not_found")

	// Its holds are its own: it captures them under its mandate; alice's hold is not its to release.
	h := created(t, a.post(acting, "/v1/holds", map[string]any{"wallet_id": wallet, "amount": 50, "asset": "USD", "to_wallet_id": shop}))
	assert.Equal(t, "shopping-agent", h["actor"])
	assert.Equal(t, "alice", h["sub"])
	hers := created(t, a.post(alice, "/v1/holds", map[string]any{"wallet_id": wallet, "amount": 10, "asset": "USD", "to_wallet_id": shop}))
	expectProblem(t, a.post(acting, "/v1/holds/"+hers["hold_id"].(string)+"/void", nil), http.StatusNotFound, "hold_not_found")
	assert.Equal(t, "captured", created(t, a.post(acting, "/v1/holds/"+h["hold_id"].(string)+"/capture", nil), http.StatusOK)["status"])
	created(t, a.post(alice, "/v1/holds/"+hers["hold_id"].(string)+"/void", nil), http.StatusOK)

	// One key, three callers: alice, and two agents acting for her. Three transfers, each replayed only to its own.
	key := newKey()
	ids := map[string]bool{}
	booker := actToken(t, "alice", "booking-agent", auth.ScopeRead, auth.ScopeWrite)
	grant(t, a, alice, wallet, map[string]any{"agent": "booking-agent", "max_per_transaction": 100})
	for _, tok := range []string{alice, acting, booker} {
		req := request{Method: http.MethodPost, Path: "/v1/transfers", Token: tok, Key: key,
			Body: map[string]any{"from_wallet_id": wallet, "to_wallet_id": shop, "amount": 5, "asset": "USD"}}
		first := created(t, a.do(req))
		again := a.do(req)
		assert.Equal(t, "true", again.Header.Get("Idempotent-Replayed"))
		assert.Equal(t, first["transaction_id"], again.JSON(t)["transaction_id"])
		ids[first["transaction_id"].(string)] = true
	}
	assert.Len(t, ids, 3, "two agents acting for alice never see each other's response")
	assert.Equal(t, funds{1_000 - 60 - 1 - 50 - 15, 1_000 - 60 - 1 - 50 - 15, 0}, a.funds(wallet))
	ledgerConsistent(t, a, wallet, shop)
}

// An agent acting for alice tries each operation it may not do: every one is 403 forbidden (an admin-scoped
// delegated token gets no admin authority either) and nothing changes. What it may do, it does: stop its own
// mandate and freeze alice's wallet.
func TestDelegatedTokenForbiddenOperations(t *testing.T) {
	a := newAPI(t)
	alice := token(t, "alice", auth.ScopeRead, auth.ScopeWrite)
	acting := actToken(t, "alice", "shopping-agent", auth.ScopeRead, auth.ScopeWrite)
	actingAdmin := actToken(t, "alice", "shopping-agent", auth.ScopeAdmin)
	wallet, shop := a.createWallet(alice, "USD"), a.createWallet(token(t, "shop", auth.ScopeWrite), "USD")
	a.fund(wallet, "USD", 1_000)
	a.fund(shop, "USD", 1_000)
	mid := grant(t, a, alice, wallet, map[string]any{"agent": "shopping-agent", "max_per_transaction": 100})["mandate_id"].(string)
	created(t, a.post(alice, "/v1/mandates/"+mid+"/suspend", nil), http.StatusOK)
	incoming := created(t, a.post(token(t, "shop", auth.ScopeWrite), "/v1/transfers",
		map[string]any{"from_wallet_id": shop, "to_wallet_id": wallet, "amount": 10, "asset": "USD"}))
	created(t, a.post(alice, freezePath(wallet), map[string]any{"reason": "alice froze it"}), http.StatusOK)
	etag := a.get(alice, "/v1/mandates/"+mid).Header.Get("ETag")
	before := a.funds(wallet)

	for _, tok := range []string{acting, actingAdmin} {
		for name, r := range map[string]response{
			"open a wallet": a.post(tok, "/v1/wallets", map[string]any{"asset": "USD"}),
			"grant":         a.post(tok, "/v1/wallets/"+wallet+"/mandates", map[string]any{"agent": "helper", "max_per_transaction": 5, "expires_at": in(time.Hour)}),
			"replace":       a.do(replaceRequest(tok, mid, etag, map[string]any{"agent": "shopping-agent", "max_per_transaction": 1_000})),
			"resume":        a.post(tok, "/v1/mandates/"+mid+"/resume", nil),
			"unfreeze":      a.post(tok, unfreezePath(wallet), nil),
			"refund":        a.post(tok, "/v1/transactions/"+incoming["transaction_id"].(string)+"/refunds", map[string]any{"reason": "x"}),
		} {
			require.Equal(t, http.StatusForbidden, r.Status, "%s: %s", name, r.Body)
			assert.Equal(t, "forbidden", r.Code(t), name)
		}
	}
	expectProblem(t, a.post(actingAdmin, "/v1/adjustments", map[string]any{"wallet_id": wallet, "asset": "USD", "amount": 1_000_000, "reason": "x"}),
		http.StatusForbidden, "forbidden")
	expectProblem(t, a.post(acting, "/v1/adjustments", map[string]any{"wallet_id": wallet, "asset": "USD", "amount": 1_000_000, "reason": "x"}),
		http.StatusForbidden, "insufficient_scope")
	expectProblem(t, a.get(actingAdmin, "/v1/wallets/"+shop), http.StatusNotFound, "wallet_not_found")
	assert.Equal(t, before, a.funds(wallet), "nothing moved")
	m := created(t, a.get(alice, "/v1/mandates/"+mid), http.StatusOK)
	assert.Equal(t, "suspended", m["status"])
	assert.Equal(t, "frozen", created(t, a.get(alice, "/v1/wallets/"+wallet), http.StatusOK)["status"])

	// Stopping is always allowed: it revokes its own mandate and freezes alice's other wallet.
	other := a.createWallet(alice, "USD")
	fr := created(t, a.post(acting, freezePath(other), map[string]any{"reason": "I was tricked"}), http.StatusOK)
	assert.Equal(t, "shopping-agent", fr["frozen_by"])
	rv := created(t, a.post(acting, "/v1/mandates/"+mid+"/revoke", nil), http.StatusOK)
	assert.Equal(t, "renounced", rv["deactivated_reason"])
	created(t, a.post(alice, unfreezePath(other), nil), http.StatusOK)
	ledgerConsistent(t, a, wallet, shop)
}

// A nested act, or an act without sub, is not a token the ledger reads: 401.
func TestDelegatedTokenShapesAreRefused(t *testing.T) {
	a := newAPI(t)
	sign := func(act any) string {
		now := time.Now()
		tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "alice", "aud": config.DefaultJWTAudience,
			"scope": "wallet:read wallet:write", "iat": now.Unix(), "exp": now.Add(time.Hour).Unix(), "act": act}).SignedString([]byte(testSecret))
		require.NoError(t, err)
		return tok
	}
	for name, act := range map[string]any{
		"nested":      map[string]any{"sub": "agent", "act": map[string]any{"sub": "sub-agent"}},
		"without sub": map[string]any{"iss": "https://idp.example"},
		"not object":  "agent",
	} {
		r := a.post(sign(act), "/v1/wallets", map[string]any{"asset": "USD"})
		require.Equal(t, http.StatusUnauthorized, r.Status, "%s: %s", name, r.Body)
		assert.Equal(t, "unauthorized", r.Code(t), name)
	}
	created(t, a.post(sign(map[string]any{"sub": "agent"}), "/v1/transfers",
		map[string]any{"from_wallet_id": a.createWallet(token(t, "alice", auth.ScopeWrite), "USD"), "to_wallet_id": a.createWallet(token(t, "bob", auth.ScopeWrite), "USD"),
			"amount": 1, "asset": "USD"}), http.StatusNotFound)
}
