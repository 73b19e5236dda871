package main

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentic-commerce/wallet-ledger/client"
	"github.com/agentic-commerce/wallet-ledger/internal/auth"
)

// The Go client's controls against the real API, every exchange held to the document: freeze and unfreeze,
// suspend, resume and replace (with the version GetMandate read), and a delegated agent's calls.
func TestClientControls(t *testing.T) {
	a := newAPI(t)
	ctx := context.Background()
	alice := a.newClient(token(t, "alice", auth.ScopeRead, auth.ScopeWrite), nil, fastRetry)
	agent := alice.WithToken(actToken(t, "alice", "shopping-agent", auth.ScopeRead, auth.ScopeWrite))
	wallet, shop := a.createWallet(token(t, "alice", auth.ScopeWrite), "USD"), a.createWallet(token(t, "shop", auth.ScopeWrite), "USD")
	a.fund(wallet, "USD", 1_000)

	m, _, err := alice.GrantMandate(ctx, wallet, client.GrantMandateRequest{Agent: "shopping-agent", MaxPerTransaction: 100,
		MaxTransactions: &client.MandateCountLimit{Count: 3, Period: "day"}, ExpiresAt: time.Now().Add(time.Hour)})
	require.NoError(t, err)
	assert.EqualValues(t, 1, m.Version)
	tx, _, err := agent.Transfer(ctx, client.TransferRequest{FromWalletID: wallet, ToWalletID: shop, Amount: 40, Asset: "USD"})
	require.NoError(t, err)
	require.NotNil(t, tx.Actor)
	assert.Equal(t, "shopping-agent", *tx.Actor)
	assert.Equal(t, "alice", tx.Sub)

	s, _, err := agent.SuspendMandate(ctx, m.MandateID)
	require.NoError(t, err)
	assert.Equal(t, "suspended", s.Status)
	_, _, err = agent.ResumeMandate(ctx, m.MandateID)
	assert.True(t, client.IsCode(err, client.CodeForbidden), "%v", err)
	_, _, err = agent.Transfer(ctx, client.TransferRequest{FromWalletID: wallet, ToWalletID: shop, Amount: 1, Asset: "USD"})
	assert.True(t, client.IsCode(err, client.CodeMandateInactive), "%v", err)
	r, _, err := alice.ResumeMandate(ctx, m.MandateID)
	require.NoError(t, err)
	assert.Equal(t, "active", r.Status)

	read, resp, err := alice.GetMandate(ctx, m.MandateID)
	require.NoError(t, err)
	assert.Equal(t, `"4"`, resp.ETag)
	_, _, err = alice.ReplaceMandate(ctx, m.MandateID, read.Version-1, client.GrantMandateRequest{Agent: "shopping-agent", MaxPerTransaction: 500, ExpiresAt: time.Now().Add(time.Hour)})
	assert.True(t, client.IsCode(err, client.CodeVersionMismatch), "%v", err)
	repl, resp, err := alice.ReplaceMandate(ctx, m.MandateID, read.Version, client.GrantMandateRequest{Agent: "shopping-agent",
		MaxPerTransaction: 500, MaxTransactions: &client.MandateCountLimit{Count: 3, Period: "day"}, ExpiresAt: time.Now().Add(time.Hour)})
	require.NoError(t, err)
	assert.Equal(t, "/v1/mandates/"+repl.MandateID, resp.Location)
	assert.Equal(t, m.MandateID, repl.Replaces)
	assert.EqualValues(t, 1, repl.TransactionsInPeriod)
	assert.EqualValues(t, 40, repl.SpentInPeriod)

	fr, _, err := agent.FreezeWallet(ctx, wallet, "looks wrong")
	require.NoError(t, err)
	assert.Equal(t, "frozen", fr.Status)
	require.NotNil(t, fr.FrozenBy)
	assert.Equal(t, "shopping-agent", *fr.FrozenBy)
	_, _, err = agent.Transfer(ctx, client.TransferRequest{FromWalletID: wallet, ToWalletID: shop, Amount: 1, Asset: "USD"})
	assert.True(t, client.IsCode(err, client.CodeWalletFrozen), "%v", err)
	_, _, err = agent.UnfreezeWallet(ctx, wallet)
	assert.True(t, client.IsCode(err, client.CodeForbidden), "%v", err)
	un, _, err := alice.UnfreezeWallet(ctx, wallet)
	require.NoError(t, err)
	assert.Equal(t, "active", un.Status)
	assert.Nil(t, un.FrozenAt)
	ledgerConsistent(t, a, wallet, shop)
}
