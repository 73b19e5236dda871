package main

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentic-commerce/wallet-ledger/internal/auth"
)

// The kill switch (issue 15), from outside: POST /v1/wallets/{id}/freeze and /unfreeze.

func freezePath(wallet string) string   { return "/v1/wallets/" + wallet + "/freeze" }
func unfreezePath(wallet string) string { return "/v1/wallets/" + wallet + "/unfreeze" }

// While frozen, every movement out answers 423 wallet_frozen and moves nothing; money comes in, holds are voided
// and expired back, reads work, an admin's adjustment corrects it. The 423 is stored under its key.
func TestFreezeStopsEveryMovementOut(t *testing.T) {
	a := newAPI(t)
	alice := token(t, "alice", auth.ScopeRead, auth.ScopeWrite)
	shopTok := token(t, "shop", auth.ScopeRead, auth.ScopeWrite)
	admin := token(t, "ops", auth.ScopeAdmin)
	wallet, shop := a.createWallet(alice, "USD"), a.createWallet(shopTok, "USD")
	a.fund(wallet, "USD", 1_000)
	a.fund(shop, "USD", 1_000)
	paidIn := created(t, a.post(shopTok, "/v1/transfers", map[string]any{"from_wallet_id": shop, "to_wallet_id": wallet, "amount": 100, "asset": "USD"}))
	paidOut := created(t, a.post(alice, "/v1/transfers", map[string]any{"from_wallet_id": wallet, "to_wallet_id": shop, "amount": 50, "asset": "USD"}))
	toCapture := created(t, a.post(alice, "/v1/holds", map[string]any{"wallet_id": wallet, "amount": 40, "asset": "USD", "to_wallet_id": shop}))["hold_id"].(string)
	toVoid := created(t, a.post(alice, "/v1/holds", map[string]any{"wallet_id": wallet, "amount": 30, "asset": "USD", "to_wallet_id": shop}))["hold_id"].(string)
	toExpire := created(t, a.post(alice, "/v1/holds", map[string]any{"wallet_id": wallet, "amount": 20, "asset": "USD", "to_wallet_id": shop,
		"expires_at": in(700 * time.Millisecond)}))["hold_id"].(string)

	expectProblem(t, a.post(alice, freezePath(wallet), map[string]any{}), http.StatusUnprocessableEntity, "validation_error")
	expectProblem(t, a.post(alice, freezePath(wallet), nil), http.StatusUnprocessableEntity, "validation_error")
	expectProblem(t, a.post(shopTok, freezePath(wallet), map[string]any{"reason": "mine"}), http.StatusNotFound, "wallet_not_found")
	expectProblem(t, a.post(alice, freezePath(uuid.NewString()), map[string]any{"reason": "x"}), http.StatusNotFound, "wallet_not_found")
	fr := created(t, a.post(alice, freezePath(wallet), map[string]any{"reason": "phone stolen"}), http.StatusOK)
	assert.Equal(t, "frozen", fr["status"])
	assert.Equal(t, "phone stolen", fr["frozen_reason"])
	assert.Equal(t, "alice", fr["frozen_by"])
	assert.Equal(t, false, fr["frozen_by_admin"])
	before := a.funds(wallet)

	out := request{Method: http.MethodPost, Path: "/v1/transfers", Token: alice, Key: newKey(),
		Body: map[string]any{"from_wallet_id": wallet, "to_wallet_id": shop, "amount": 1, "asset": "USD"}}
	expectProblem(t, a.do(out), http.StatusLocked, "wallet_frozen")
	replay := a.do(out)
	expectProblem(t, replay, http.StatusLocked, "wallet_frozen")
	assert.Equal(t, "true", replay.Header.Get("Idempotent-Replayed"), "a refusal is stored under its key")
	expectProblem(t, a.post(admin, "/v1/transfers", map[string]any{"from_wallet_id": wallet, "to_wallet_id": shop, "amount": 1, "asset": "USD"}),
		http.StatusLocked, "wallet_frozen")
	expectProblem(t, a.post(alice, "/v1/holds", map[string]any{"wallet_id": wallet, "amount": 1, "asset": "USD"}), http.StatusLocked, "wallet_frozen")
	expectProblem(t, a.post(alice, "/v1/holds/"+toCapture+"/capture", nil), http.StatusLocked, "wallet_frozen")
	expectProblem(t, a.post(alice, "/v1/transactions/"+paidIn["transaction_id"].(string)+"/refunds", map[string]any{"reason": "no"}),
		http.StatusLocked, "wallet_frozen")
	assert.Equal(t, before, a.funds(wallet), "nothing left the wallet")

	// In: a transfer, a refund into it; released back: a void, an expiry; an admin's correction; reads.
	created(t, a.post(shopTok, "/v1/transfers", map[string]any{"from_wallet_id": shop, "to_wallet_id": wallet, "amount": 7, "asset": "USD"}))
	created(t, a.post(shopTok, "/v1/transactions/"+paidOut["transaction_id"].(string)+"/refunds", map[string]any{"amount": 5, "reason": "sorry"}))
	created(t, a.post(alice, "/v1/holds/"+toVoid+"/void", nil), http.StatusOK)
	time.Sleep(800 * time.Millisecond)
	_, err := a.app.commands.ExpireHolds(context.Background())
	require.NoError(t, err)
	assert.Equal(t, "expired", created(t, a.get(alice, "/v1/holds/"+toExpire), http.StatusOK)["status"])
	created(t, a.post(admin, "/v1/adjustments", map[string]any{"wallet_id": wallet, "asset": "USD", "amount": -3, "reason": "fee"}))
	w := created(t, a.get(alice, "/v1/wallets/"+wallet), http.StatusOK)
	assert.Equal(t, "frozen", w["status"])
	assert.Equal(t, "phone stolen", w["frozen_reason"])
	f := a.funds(wallet)
	assert.Equal(t, funds{Balance: before.Balance + 7 + 5 - 3, Available: before.Available + 7 + 5 + 30 + 20 - 3, Held: 40}, f)

	// Unfrozen, money leaves again.
	un := created(t, a.post(alice, unfreezePath(wallet), nil), http.StatusOK)
	assert.Equal(t, "active", un["status"])
	assert.Nil(t, un["frozen_reason"])
	assert.Nil(t, un["frozen_at"])
	created(t, a.post(alice, "/v1/holds/"+toCapture+"/capture", nil), http.StatusOK)
	created(t, a.post(alice, "/v1/transfers", map[string]any{"from_wallet_id": wallet, "to_wallet_id": shop, "amount": 1, "asset": "USD"}))
	assert.Equal(t, 1, eventsOf(t, "wallet.frozen", wallet))
	assert.Equal(t, 1, eventsOf(t, "wallet.unfrozen", wallet))
	ledgerConsistent(t, a, wallet, shop)
}

// A freeze by an admin is lifted only by an admin, and an owner's freeze that an admin freezes again becomes an
// admin's. Both are idempotent under their keys.
func TestAdminFreeze(t *testing.T) {
	a := newAPI(t)
	alice := token(t, "alice", auth.ScopeRead, auth.ScopeWrite)
	admin := token(t, "compliance", auth.ScopeAdmin)
	wallet := a.createWallet(alice, "USD")

	created(t, a.post(alice, freezePath(wallet), map[string]any{"reason": "travelling"}), http.StatusOK)
	key := newKey()
	up := request{Method: http.MethodPost, Path: freezePath(wallet), Token: admin, Key: key, Body: map[string]any{"reason": "fraud review"}}
	first := created(t, a.do(up), http.StatusOK)
	assert.Equal(t, true, first["frozen_by_admin"])
	assert.Equal(t, "compliance", first["frozen_by"])
	again := a.do(up)
	assert.Equal(t, "true", again.Header.Get("Idempotent-Replayed"))
	expectProblem(t, a.post(alice, unfreezePath(wallet), nil), http.StatusForbidden, "forbidden")
	assert.Equal(t, "frozen", created(t, a.get(alice, "/v1/wallets/"+wallet), http.StatusOK)["status"])
	assert.Equal(t, "active", created(t, a.post(admin, unfreezePath(wallet), map[string]any{}), http.StatusOK)["status"])
	assert.Equal(t, "active", created(t, a.post(alice, unfreezePath(wallet), nil), http.StatusOK)["status"], "an active wallet stays active")

	created(t, a.post(admin, freezePath(wallet), map[string]any{"reason": "court order"}), http.StatusOK)
	expectProblem(t, a.post(alice, unfreezePath(wallet), nil), http.StatusForbidden, "forbidden")
	assert.Equal(t, "court order", created(t, a.post(alice, freezePath(wallet), map[string]any{"reason": "me too"}), http.StatusOK)["frozen_reason"],
		"the owner's freeze of an admin-frozen wallet changes nothing")
	created(t, a.post(admin, unfreezePath(wallet), nil), http.StatusOK)
	ledgerConsistent(t, a, wallet)
}

// A freeze racing 50 spenders: each keeps spending until it is refused, and the freeze lands while all of them are
// in flight. Each spend is decided either before the freeze (and commits) or after it (and is refused); once the
// freeze has committed nothing moves. The journal, not only the answers, says so: the wallet's journal balance at
// the end is the balance the freeze answered with, and every 201 is one journal transfer.
func TestFreezeRacingFiftySpends(t *testing.T) {
	a := newAPI(t)
	alice := token(t, "alice", auth.ScopeRead, auth.ScopeWrite)
	wallet, shop := a.createWallet(alice, "USD"), a.createWallet(token(t, "shop", auth.ScopeWrite), "USD")
	a.fund(wallet, "USD", 1_000_000)
	_, txBefore := journalOf(t, wallet)

	const spenders, most = 50, 40
	start, inFlight := make(chan struct{}), make(chan struct{})
	var once sync.Once
	var wg sync.WaitGroup
	var mu sync.Mutex
	answered, won, refused, stopped := 0, 0, 0, 0
	freezeDone := make(chan response, 1)
	go func() {
		<-inFlight
		freezeDone <- a.post(alice, freezePath(wallet), map[string]any{"reason": "stop everything"})
	}()
	for i := range spenders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			for range most {
				r := a.post(alice, "/v1/transfers", map[string]any{"from_wallet_id": wallet, "to_wallet_id": shop, "amount": 1 + i%5, "asset": "USD"})
				mu.Lock()
				if answered++; answered == 2*spenders {
					once.Do(func() { close(inFlight) })
				}
				switch r.Status {
				case http.StatusCreated:
					won++
				case http.StatusLocked:
					assert.Equal(t, "wallet_frozen", r.Code(t))
					refused++
				default:
					t.Errorf("unexpected %d: %s", r.Status, r.Body)
				}
				done := r.Status != http.StatusCreated
				if done {
					stopped++
				}
				mu.Unlock()
				if done {
					return
				}
			}
		}()
	}
	close(start)
	wg.Wait()
	once.Do(func() { close(inFlight) }) // the spenders all failed early: the assertions below say how
	freeze := <-freezeDone
	t.Logf("%d spends committed, %d refused by the freeze", won, refused)
	require.Equal(t, http.StatusOK, freeze.Status, "%s", freeze.Body)
	assert.Equal(t, spenders, stopped, "every spender was stopped by the freeze before its last try")
	frozenAt := int64(freeze.JSON(t)["balance"].(float64))

	expectProblem(t, a.post(alice, "/v1/transfers", map[string]any{"from_wallet_id": wallet, "to_wallet_id": shop, "amount": 1, "asset": "USD"}),
		http.StatusLocked, "wallet_frozen")
	balance, txAfter := journalOf(t, wallet)
	assert.Equal(t, frozenAt, balance, "the journal moved nothing after the freeze")
	assert.EqualValues(t, won, txAfter-txBefore, "every 201 is one journal transfer, and nothing else is")
	assert.Equal(t, frozenAt, a.funds(wallet).Balance)
	ledgerConsistent(t, a, wallet, shop)
}

// With the database unreachable, the controls fail closed with a documented 503: a freeze that cannot be
// recorded is never answered as done.
func TestControlsFailClosed(t *testing.T) {
	cfg := testConfig(t)
	cfg.DatabaseURL = "postgres://postgres@127.0.0.1:1/wallet_service?sslmode=disable" // nothing listens on port 1
	a := newAPIWith(t, cfg)
	alice := token(t, "alice", auth.ScopeRead, auth.ScopeWrite)
	id := uuid.NewString()
	for _, r := range []response{
		a.post(alice, freezePath(id), map[string]any{"reason": "x"}),
		a.post(alice, unfreezePath(id), nil),
		a.post(alice, "/v1/mandates/"+id+"/suspend", nil),
		a.post(alice, "/v1/mandates/"+id+"/resume", nil),
		a.do(replaceRequest(alice, id, `"1"`, map[string]any{"agent": "x", "max_per_transaction": 1})),
	} {
		require.Equal(t, http.StatusServiceUnavailable, r.Status, "%s", r.Body)
		assert.Equal(t, "service_unavailable", r.Code(t))
	}
}
