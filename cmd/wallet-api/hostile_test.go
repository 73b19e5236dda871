package main

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentic-commerce/wallet-ledger/eventstore"
	"github.com/agentic-commerce/wallet-ledger/internal/auth"
)

// What probing the running service from outside, as a hostile or careless client, turned up: each request gets a
// clear problem or the answer the contract promises, and changes nothing it should not.

func detail(t *testing.T, r response) string {
	t.Helper()
	d, _ := r.JSON(t)["detail"].(string)
	return d
}

// Naming a mandate_id must not tell another owner's wallet from a missing one: both are wallet_not_found, with
// the same words.
func TestAnotherOwnersWalletLooksMissingWhateverMandateIsNamed(t *testing.T) {
	a := newAPI(t)
	alice := token(t, "alice", auth.ScopeRead, auth.ScopeWrite)
	mallory := token(t, "mallory", auth.ScopeRead, auth.ScopeWrite)
	victim := a.createWallet(alice, "USD")
	a.fund(victim, "USD", 1000)
	mine := a.createWallet(mallory, "USD")
	other := a.createWallet(alice, "USD")
	// mallory's own mandate, on another of alice's wallets, opens this one no more than a made-up ID does.
	own := grant(t, a, alice, other, map[string]any{"agent": "mallory"})["mandate_id"].(string)
	missing := uuid.NewString()

	for _, mandate := range []string{uuid.NewString(), own} {
		for path, body := range map[string]func(from string) map[string]any{
			"/v1/transfers": func(from string) map[string]any {
				return map[string]any{"from_wallet_id": from, "to_wallet_id": mine, "amount": 1, "asset": "USD", "mandate_id": mandate}
			},
			"/v1/holds": func(from string) map[string]any {
				return map[string]any{"wallet_id": from, "amount": 1, "asset": "USD", "mandate_id": mandate}
			},
		} {
			existing := a.post(mallory, path, body(victim))
			absent := a.post(mallory, path, body(missing))
			expectProblem(t, existing, http.StatusNotFound, "wallet_not_found")
			expectProblem(t, absent, http.StatusNotFound, "wallet_not_found")
			assert.Equal(t, strings.ReplaceAll(detail(t, absent), missing, "ID"), strings.ReplaceAll(detail(t, existing), victim, "ID"), path)
		}
	}
	// The owner, who may see the wallet, learns that the mandate is wrong.
	expectProblem(t, a.post(alice, "/v1/transfers", map[string]any{"from_wallet_id": victim, "to_wallet_id": other,
		"amount": 1, "asset": "USD", "mandate_id": uuid.NewString()}), http.StatusNotFound, "mandate_not_found")
	assert.Equal(t, funds{1000, 1000, 0}, a.funds(victim))
}

// A hold or mandate whose expires_at has passed by the time the client retries is answered from its key, so the
// client learns the hold_id or mandate_id it created; a new request with that expiry is refused, and that refusal
// is replayed in turn.
func TestRetriesReplayAfterTheirExpiryHasPassed(t *testing.T) {
	a := newAPI(t)
	alice := token(t, "alice", auth.ScopeRead, auth.ScopeWrite)
	from := a.createWallet(alice, "USD")
	a.fund(from, "USD", 1000)
	soon := time.Now().Add(1500 * time.Millisecond)
	at := soon.UTC().Format(time.RFC3339Nano)
	writes := []request{
		{Method: http.MethodPost, Path: "/v1/holds", Token: alice, Key: newKey(),
			Body: map[string]any{"wallet_id": from, "amount": 100, "asset": "USD", "expires_at": at}},
		{Method: http.MethodPost, Path: "/v1/wallets/" + from + "/mandates", Token: alice, Key: newKey(),
			Body: map[string]any{"agent": "agent-9", "expires_at": at}},
	}
	var first []response
	for _, w := range writes {
		r := a.do(w)
		require.Equal(t, http.StatusCreated, r.Status, "%s", r.Body)
		first = append(first, r)
	}
	time.Sleep(time.Until(soon) + 100*time.Millisecond)
	for i, w := range writes {
		again := a.do(w)
		require.Equal(t, http.StatusCreated, again.Status, "%s: %s", w.Path, again.Body)
		assert.Equal(t, "true", again.Header.Get("Idempotent-Replayed"))
		assert.JSONEq(t, string(first[i].Body), string(again.Body))

		w.Key = newKey()
		late := a.do(w)
		expectProblem(t, late, http.StatusUnprocessableEntity, "validation_error")
		assert.Contains(t, string(late.Body), "must be in the future")
		replayed := a.do(w)
		expectProblem(t, replayed, http.StatusUnprocessableEntity, "validation_error")
		assert.Equal(t, "true", replayed.Header.Get("Idempotent-Replayed"))
	}
	assert.Equal(t, funds{1000, 900, 100}, a.funds(from), "one hold, held once")
}

// The ledger's own identity owns the system wallets and writes the hold sweeper's expiries: no token carries it.
func TestNoTokenActsAsTheLedger(t *testing.T) {
	a := newAPI(t)
	from := a.createWallet(token(t, "alice", auth.ScopeWrite), "USD")
	a.fund(from, "USD", 10) // creates the USD system wallet
	system := token(t, auth.SystemSub, auth.ScopeRead, auth.ScopeWrite)
	for _, r := range []response{
		a.get(system, "/v1/wallets/"+eventstore.SystemWalletID(testConfig(t).SystemWalletID, "USD").String()+"/balance"),
		a.post(system, "/v1/wallets", map[string]any{"asset": "USD"}),
	} {
		expectProblem(t, r, http.StatusUnauthorized, "unauthorized")
	}
}
