package main

import (
	"net/http"
	"testing"

	"github.com/agentic-commerce/wallet-ledger/eventstore"
	"github.com/agentic-commerce/wallet-ledger/internal/auth"
)

// What probing the running service from outside, as a hostile or careless client, turned up: each request gets a
// clear problem or the answer the contract promises, and changes nothing it should not.

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
