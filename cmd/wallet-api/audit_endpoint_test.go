package main

import (
	"context"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentic-commerce/wallet-ledger/eventstore"
	"github.com/agentic-commerce/wallet-ledger/internal/auth"
	"github.com/agentic-commerce/wallet-ledger/projector"
)

// A projection corrupted with SQL behind the ledger's back: the endpoint (the audit engine's one-wallet check)
// reports it with both sums, a neighbouring wallet stays consistent, and after the rebuild it is consistent again.
func TestBalanceAuditReportsCorruptedProjection(t *testing.T) {
	api := newIsolatedAPI(t) // the corruption must never be seen by another test's database-wide checks
	owner := token(t, "audit-erin", auth.ScopeRead, auth.ScopeWrite)
	w := api.createWallet(owner, "AUX")
	other := api.createWallet(owner, "AUX")
	api.fund(w, "AUX", 900)
	api.fund(other, "AUX", 100)
	ctx := context.Background()
	_, err := api.app.pool.Exec(ctx, `UPDATE balance_projections SET balance = balance - 40 WHERE wallet_id = $1`, w)
	require.NoError(t, err)

	r := api.get(owner, "/v1/wallets/"+w+"/balance/audit")
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	body := r.JSON(t)
	assert.Equal(t, false, body["consistent"])
	assert.EqualValues(t, 860, body["projected_balance"])
	assert.EqualValues(t, 900, body["journal_balance"])
	assert.EqualValues(t, 1, body["entry_count"])

	r = api.get(owner, "/v1/wallets/"+other+"/balance/audit")
	require.Equal(t, http.StatusOK, r.Status)
	assert.Equal(t, true, r.JSON(t)["consistent"])

	r = api.get(token(t, "audit-frank", auth.ScopeRead), "/v1/wallets/"+w+"/balance/audit")
	assert.Equal(t, http.StatusNotFound, r.Status)
	assert.Equal(t, "wallet_not_found", r.Code(t))

	store, err := eventstore.NewStore(api.app.pool)
	require.NoError(t, err)
	plan, err := projector.PlanRebuild(ctx, store)
	require.NoError(t, err)
	_, err = projector.ApplyRebuild(ctx, store, plan)
	require.NoError(t, err)
	r = api.get(owner, "/v1/wallets/"+w+"/balance/audit")
	require.Equal(t, http.StatusOK, r.Status)
	assert.Equal(t, true, r.JSON(t)["consistent"])
	assert.EqualValues(t, 900, r.JSON(t)["projected_balance"])
}
