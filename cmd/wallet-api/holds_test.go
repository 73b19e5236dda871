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

func TestHoldCaptureReleasesTheRest(t *testing.T) {
	a := newAPI(t)
	alice := token(t, "alice", auth.ScopeRead, auth.ScopeWrite)
	shop := token(t, "shop", auth.ScopeRead, auth.ScopeWrite)
	from, to := a.createWallet(alice, "USD"), a.createWallet(shop, "USD")
	a.fund(from, "USD", 1000)

	key := newKey()
	body := map[string]any{"wallet_id": from, "amount": 300, "asset": "USD", "to_wallet_id": to, "description": "order 17"}
	first := a.do(request{Method: http.MethodPost, Path: "/v1/holds", Token: alice, Key: key, Body: body})
	h := created(t, first)
	id := h["hold_id"].(string)
	assert.Equal(t, "/v1/holds/"+id, first.Header.Get("Location"))
	assert.Equal(t, "active", h["status"])
	assert.EqualValues(t, 0, h["captured_amount"])
	expires, err := time.Parse(time.RFC3339Nano, h["expires_at"].(string))
	require.NoError(t, err)
	assert.WithinDuration(t, time.Now().Add(7*24*time.Hour), expires, time.Minute, "default expiry is 7 days")
	assert.Equal(t, funds{1000, 700, 300}, a.funds(from), "held funds leave available, stay in balance")

	replay := a.do(request{Method: http.MethodPost, Path: "/v1/holds", Token: alice, Key: key, Body: body})
	require.Equal(t, http.StatusCreated, replay.Status)
	assert.Equal(t, "true", replay.Header.Get("Idempotent-Replayed"))
	assert.JSONEq(t, string(first.Body), string(replay.Body))
	expectProblem(t, a.do(request{Method: http.MethodPost, Path: "/v1/holds", Token: alice, Key: key,
		Body: map[string]any{"wallet_id": from, "amount": 301, "asset": "USD"}}), http.StatusUnprocessableEntity, "idempotency_key_reuse")
	assert.Equal(t, funds{1000, 700, 300}, a.funds(from), "a replay holds nothing more")

	got := created(t, a.get(alice, "/v1/holds/"+id), http.StatusOK)
	assert.Equal(t, "active", got["status"])
	created(t, a.get(shop, "/v1/holds/"+id), http.StatusOK) // the destination's owner sees it
	expectProblem(t, a.get(token(t, "mallory", auth.ScopeRead), "/v1/holds/"+id), http.StatusNotFound, "hold_not_found")

	expectProblem(t, a.post(alice, "/v1/holds/"+id+"/capture", map[string]any{"amount": 301}), http.StatusUnprocessableEntity, "capture_exceeds_hold")
	capKey := newKey()
	capReq := request{Method: http.MethodPost, Path: "/v1/holds/" + id + "/capture", Token: alice, Key: capKey, Body: map[string]any{"amount": 120}}
	c := created(t, a.do(capReq), http.StatusOK)
	assert.Equal(t, "captured", c["status"])
	assert.EqualValues(t, 120, c["captured_amount"])
	assert.Equal(t, funds{880, 880, 0}, a.funds(from), "the uncaptured 180 is released")
	assert.Equal(t, funds{120, 120, 0}, a.funds(to))
	again := a.do(capReq)
	require.Equal(t, http.StatusOK, again.Status)
	assert.Equal(t, "true", again.Header.Get("Idempotent-Replayed"))
	assert.Equal(t, funds{120, 120, 0}, a.funds(to), "a replayed capture moves nothing")

	// One capture per hold: a second one, or a void, finds it no longer active.
	expectProblem(t, a.post(alice, "/v1/holds/"+id+"/capture", map[string]any{"amount": 10}), http.StatusUnprocessableEntity, "hold_not_active")
	expectProblem(t, a.post(alice, "/v1/holds/"+id+"/void", nil), http.StatusUnprocessableEntity, "hold_not_active")

	txID := c["release_transaction_id"].(string)
	tx := created(t, a.get(shop, "/v1/transactions/"+txID), http.StatusOK)
	assert.Equal(t, "capture", tx["kind"])
	assert.Equal(t, id, tx["hold_id"])
	assert.Equal(t, from, tx["from_wallet_id"])
	assert.Equal(t, to, tx["to_wallet_id"])
	assert.EqualValues(t, 120, tx["amount"])
	ledgerConsistent(t, a, from, to)
}

func TestHoldVoidAndErrors(t *testing.T) {
	a := newAPI(t)
	alice := token(t, "alice", auth.ScopeRead, auth.ScopeWrite)
	bob := token(t, "bob", auth.ScopeRead, auth.ScopeWrite)
	from, to, bobs := a.createWallet(alice, "USD"), a.createWallet(bob, "USD"), a.createWallet(bob, "USD")
	eur := a.createWallet(bob, "EUR")
	a.fund(from, "USD", 500)
	hold := func(extra map[string]any) response {
		body := map[string]any{"wallet_id": from, "amount": 100, "asset": "USD"}
		for k, v := range extra {
			body[k] = v
		}
		return a.post(alice, "/v1/holds", body)
	}

	// A hold without a destination is voided with no body at all.
	h := created(t, hold(nil))
	id := h["hold_id"].(string)
	v := created(t, a.post(alice, "/v1/holds/"+id+"/void", nil), http.StatusOK)
	assert.Equal(t, "voided", v["status"])
	assert.Equal(t, funds{500, 500, 0}, a.funds(from))
	tx := created(t, a.get(alice, "/v1/transactions/"+v["release_transaction_id"].(string)), http.StatusOK)
	assert.Equal(t, "void", tx["kind"])
	assert.Equal(t, from, tx["wallet_id"])

	// Capture needs a destination when the hold names none.
	id2 := created(t, hold(nil))["hold_id"].(string)
	expectProblem(t, a.post(alice, "/v1/holds/"+id2+"/capture", map[string]any{}), http.StatusUnprocessableEntity, "validation_error")
	expectProblem(t, a.post(alice, "/v1/holds/"+id2+"/capture", map[string]any{"to_wallet_id": eur}), http.StatusUnprocessableEntity, "asset_mismatch")
	expectProblem(t, a.post(alice, "/v1/holds/"+id2+"/capture", map[string]any{"to_wallet_id": from}), http.StatusUnprocessableEntity, "same_wallet")
	expectProblem(t, a.post(bob, "/v1/holds/"+id2+"/capture", map[string]any{"to_wallet_id": to}), http.StatusNotFound, "hold_not_found")
	expectProblem(t, a.post(bob, "/v1/holds/"+id2+"/void", nil), http.StatusNotFound, "hold_not_found")
	created(t, a.post(alice, "/v1/holds/"+id2+"/capture", map[string]any{"to_wallet_id": to}), http.StatusOK)
	assert.Equal(t, funds{400, 400, 0}, a.funds(from))

	expectProblem(t, hold(map[string]any{"amount": 401}), http.StatusUnprocessableEntity, "insufficient_funds")
	expectProblem(t, hold(map[string]any{"amount": 0}), http.StatusUnprocessableEntity, "validation_error")
	expectProblem(t, hold(map[string]any{"asset": "EUR"}), http.StatusUnprocessableEntity, "asset_mismatch")
	expectProblem(t, hold(map[string]any{"to_wallet_id": eur}), http.StatusUnprocessableEntity, "asset_mismatch")
	expectProblem(t, hold(map[string]any{"to_wallet_id": from}), http.StatusUnprocessableEntity, "same_wallet")
	expectProblem(t, hold(map[string]any{"to_wallet_id": uuid.NewString()}), http.StatusNotFound, "wallet_not_found")
	expectProblem(t, hold(map[string]any{"expires_at": in(-time.Minute)}), http.StatusUnprocessableEntity, "validation_error")
	expectProblem(t, hold(map[string]any{"expires_at": in(31 * 24 * time.Hour)}), http.StatusUnprocessableEntity, "validation_error")
	expectProblem(t, hold(map[string]any{"expires_at": "tomorrow"}), http.StatusUnprocessableEntity, "validation_error")
	expectProblem(t, hold(map[string]any{"surprise": 1}), http.StatusBadRequest, "invalid_json")
	expectProblem(t, a.post(bob, "/v1/holds", map[string]any{"wallet_id": from, "amount": 1, "asset": "USD"}), http.StatusNotFound, "wallet_not_found")
	expectProblem(t, a.post(bob, "/v1/holds", map[string]any{"wallet_id": bobs, "amount": 1, "asset": "USD"}), http.StatusUnprocessableEntity, "insufficient_funds")
	expectProblem(t, a.post("", "/v1/holds", map[string]any{"wallet_id": from, "amount": 1, "asset": "USD"}), http.StatusUnauthorized, "unauthorized")
	expectProblem(t, a.post(token(t, "alice", auth.ScopeRead), "/v1/holds", map[string]any{"wallet_id": from, "amount": 1, "asset": "USD"}), http.StatusForbidden, "insufficient_scope")
	expectProblem(t, a.do(request{Method: http.MethodPost, Path: "/v1/holds", Token: alice, Body: map[string]any{"wallet_id": from, "amount": 1, "asset": "USD"}}), http.StatusBadRequest, "idempotency_key_required")
	expectProblem(t, a.do(request{Method: http.MethodPost, Path: "/v1/holds", Token: alice, Key: newKey(), Body: "{}", ContentType: "text/plain"}), http.StatusUnsupportedMediaType, "unsupported_media_type")
	expectProblem(t, a.do(request{Method: http.MethodPost, Path: "/v1/holds/" + id + "/void", Token: alice, Key: newKey(), Body: `{"x":1}`}), http.StatusBadRequest, "invalid_json")
	expectProblem(t, a.post(alice, "/v1/holds/not-a-uuid/void", nil), http.StatusBadRequest, "invalid_id")
	expectProblem(t, a.post(alice, "/v1/holds/"+uuid.NewString()+"/capture", map[string]any{"to_wallet_id": to}), http.StatusNotFound, "hold_not_found")
	expectProblem(t, a.get(alice, "/v1/holds/"+uuid.NewString()), http.StatusNotFound, "hold_not_found")
	expectProblem(t, a.get(alice, "/v1/holds/nope"), http.StatusBadRequest, "invalid_id")
	ledgerConsistent(t, a, from, to, bobs, eur)
}

func TestHoldMaxTTLIsConfigurable(t *testing.T) {
	t.Setenv("HOLD_MAX_TTL", "1h")
	a := newAPI(t)
	alice := token(t, "alice", auth.ScopeRead, auth.ScopeWrite)
	w := a.createWallet(alice, "USD")
	a.fund(w, "USD", 10)
	h := created(t, a.post(alice, "/v1/holds", map[string]any{"wallet_id": w, "amount": 1, "asset": "USD"}))
	expires, err := time.Parse(time.RFC3339Nano, h["expires_at"].(string))
	require.NoError(t, err)
	assert.WithinDuration(t, time.Now().Add(time.Hour), expires, time.Minute, "the default is capped by the maximum")
	expectProblem(t, a.post(alice, "/v1/holds", map[string]any{"wallet_id": w, "amount": 1, "asset": "USD", "expires_at": in(2 * time.Hour)}),
		http.StatusUnprocessableEntity, "validation_error")
}

// Capture and void of one hold race: exactly one wins, the loser gets 422 hold_not_active, and the money moves
// once.
func TestHoldRacingCaptureAndVoid(t *testing.T) {
	a := newAPI(t)
	alice := token(t, "alice", auth.ScopeRead, auth.ScopeWrite)
	from, to := a.createWallet(alice, "USD"), a.createWallet(token(t, "shop", auth.ScopeWrite), "USD")
	const rounds = 15
	a.fund(from, "USD", rounds*10)
	captured := 0
	for i := 0; i < rounds; i++ {
		id := created(t, a.post(alice, "/v1/holds", map[string]any{"wallet_id": from, "amount": 10, "asset": "USD", "to_wallet_id": to}))["hold_id"].(string)
		var wg sync.WaitGroup
		results := make([]response, 2)
		start := make(chan struct{})
		for j, op := range []string{"capture", "void"} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				results[j] = a.post(alice, "/v1/holds/"+id+"/"+op, nil)
			}()
		}
		close(start)
		wg.Wait()
		wins := 0
		for _, r := range results {
			if r.Status == http.StatusOK {
				wins++
				continue
			}
			expectProblem(t, r, http.StatusUnprocessableEntity, "hold_not_active")
		}
		require.Equal(t, 1, wins, "exactly one of capture and void wins")
		if results[0].Status == http.StatusOK {
			captured++
		}
		final := created(t, a.get(alice, "/v1/holds/"+id), http.StatusOK)
		assert.Contains(t, []string{"captured", "voided"}, final["status"])
	}
	assert.Equal(t, funds{int64(rounds*10 - captured*10), int64(rounds*10 - captured*10), 0}, a.funds(from))
	assert.Equal(t, int64(captured*10), a.funds(to).Balance)
	ledgerConsistent(t, a, from, to)
}

// A hold past its expiry can never be captured, before the sweeper runs; the sweeper then releases it once.
func TestHoldExpiry(t *testing.T) {
	a := newAPI(t)
	alice := token(t, "alice", auth.ScopeRead, auth.ScopeWrite)
	from, to := a.createWallet(alice, "USD"), a.createWallet(token(t, "shop", auth.ScopeWrite), "USD")
	a.fund(from, "USD", 100)
	short := func(amount int) string {
		return created(t, a.post(alice, "/v1/holds", map[string]any{"wallet_id": from, "amount": amount, "asset": "USD",
			"to_wallet_id": to, "expires_at": in(700 * time.Millisecond)}))["hold_id"].(string)
	}
	h1, h2, h3 := short(10), short(20), short(30)
	keep := created(t, a.post(alice, "/v1/holds", map[string]any{"wallet_id": from, "amount": 5, "asset": "USD"}))["hold_id"].(string)
	time.Sleep(time.Second)

	expectProblem(t, a.post(alice, "/v1/holds/"+h1+"/capture", nil), http.StatusUnprocessableEntity, "hold_expired")
	assert.Equal(t, "expired", created(t, a.get(alice, "/v1/holds/"+h1), http.StatusOK)["status"], "reads say expired before the sweep")
	assert.Equal(t, funds{100, 35, 65}, a.funds(from), "nothing moved yet")
	assert.EqualValues(t, 0, a.funds(to).Balance)

	// A void after the expiry releases the hold as expired.
	v := created(t, a.post(alice, "/v1/holds/"+h2+"/void", nil), http.StatusOK)
	assert.Equal(t, "expired", v["status"])

	n, err := a.app.commands.ExpireHolds(context.Background())
	require.NoError(t, err)
	assert.GreaterOrEqual(t, n, 2, "h1 and h3")
	for _, id := range []string{h1, h3} {
		h := created(t, a.get(alice, "/v1/holds/"+id), http.StatusOK)
		assert.Equal(t, "expired", h["status"])
		tx := created(t, a.get(alice, "/v1/transactions/"+h["release_transaction_id"].(string)), http.StatusOK)
		assert.Equal(t, "expire", tx["kind"])
		assert.Equal(t, "system", tx["sub"])
	}
	assert.Equal(t, funds{100, 95, 5}, a.funds(from), "only the unexpired hold is still held")
	assert.Equal(t, "active", created(t, a.get(alice, "/v1/holds/"+keep), http.StatusOK)["status"])
	again, err := a.app.commands.ExpireHolds(context.Background())
	require.NoError(t, err)
	assert.Zero(t, again, "an expired hold is released once")
	expectProblem(t, a.post(alice, "/v1/holds/"+h3+"/capture", nil), http.StatusUnprocessableEntity, "hold_not_active")
	ledgerConsistent(t, a, from, to)
}

// Every route of holds, mandates and refunds fails closed when the database is unreachable.
func TestAgentRoutesFailClosed(t *testing.T) {
	cfg := testConfig(t)
	cfg.DatabaseURL = "postgres://postgres@127.0.0.1:1/wallet_service?sslmode=disable" // nothing listens on port 1
	a := newAPIWith(t, cfg)
	alice := token(t, "alice", auth.ScopeRead, auth.ScopeWrite)
	id := uuid.NewString()
	expectUnavailable(t, a.post(alice, "/v1/holds", map[string]any{"wallet_id": id, "amount": 1, "asset": "USD"}))
	expectUnavailable(t, a.post(alice, "/v1/holds/"+id+"/capture", map[string]any{"amount": 1}))
	expectUnavailable(t, a.post(alice, "/v1/holds/"+id+"/void", nil))
	expectUnavailable(t, a.post(alice, "/v1/wallets/"+id+"/mandates", map[string]any{"agent": "x", "max_per_transaction": 1, "expires_at": in(time.Hour)}))
	expectUnavailable(t, a.post(alice, "/v1/mandates/"+id+"/revoke", nil))
	expectUnavailable(t, a.post(alice, "/v1/transactions/"+id+"/refunds", map[string]any{"reason": "x"}))
	expectUnavailable(t, a.get(alice, "/v1/holds/"+id))
	expectUnavailable(t, a.get(alice, "/v1/mandates/"+id))
	expectUnavailable(t, a.get(alice, "/v1/wallets/"+id+"/mandates"))
	_, err := a.app.commands.ExpireHolds(context.Background())
	require.Error(t, err, "the sweeper reports the outage instead of pretending it swept")
}
