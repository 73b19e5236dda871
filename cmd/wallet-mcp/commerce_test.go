package main

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentic-commerce/wallet-ledger/client"
	"github.com/agentic-commerce/wallet-ledger/internal/auth"
)

// An agent spending a principal's wallet under a mandate: it sees its mandate, holds, captures and voids through
// the tools, the mandate's limit stops it, and the history tool reports how current it is.
func TestAgentHoldsAndCapturesUnderAMandate(t *testing.T) {
	l := newLedger(t, "principal", 1000)
	mandate, _, err := l.admin.GrantMandate(bg(), l.agentWallet, client.GrantMandateRequest{Agent: "agent-4",
		Limit: &client.MandateLimit{Amount: 500, Period: "total"}, ExpiresAt: time.Now().Add(24 * time.Hour)})
	require.NoError(t, err)
	cs := connect(t, l.base, mint(t, "agent-4", auth.ScopeRead, auth.ScopeWrite))
	owner := connect(t, l.base, mint(t, "principal", auth.ScopeRead))

	res, mandates := callTool(t, owner, "list_mandates", map[string]any{"wallet_id": l.agentWallet})
	require.False(t, res.IsError, text(res))
	list := mandates["mandates"].([]any)
	require.Len(t, list, 1)
	assert.Equal(t, "agent-4", list[0].(map[string]any)["agent"])
	assert.EqualValues(t, 500, list[0].(map[string]any)["remaining"])

	// The agent finds the wallet its mandate lets it spend, and sees its own mandate on it.
	res, wallets := callTool(t, cs, "list_wallets", map[string]any{"asset": "USD"})
	require.False(t, res.IsError, text(res))
	require.Len(t, wallets["wallets"].([]any), 1)
	assert.Equal(t, l.agentWallet, wallets["wallets"].([]any)[0].(map[string]any)["wallet_id"])
	assert.Nil(t, wallets["next_cursor"])
	res, own := callTool(t, cs, "list_mandates", map[string]any{"wallet_id": l.agentWallet, "status": "active", "limit": 5})
	require.False(t, res.IsError, text(res))
	require.Len(t, own["mandates"].([]any), 1)
	assert.Equal(t, mandate.MandateID, own["mandates"].([]any)[0].(map[string]any)["mandate_id"])

	hold := map[string]any{"wallet_id": l.agentWallet, "amount": 300, "asset": "USD", "to_wallet_id": l.merchantWallet,
		"idempotency_key": "agent-4-hold-1"}
	res, h1 := callTool(t, cs, "create_hold", hold)
	require.False(t, res.IsError, text(res))
	res, again := callTool(t, cs, "create_hold", hold)
	require.False(t, res.IsError, text(res))
	assert.Equal(t, h1["hold_id"], again["hold_id"])
	assert.Equal(t, true, again["replayed"], "one hold, not two")
	assert.Equal(t, "active", h1["status"])

	assert.Equal(t, mandate.MandateID, h1["mandate_id"])

	res, captured := callTool(t, cs, "capture_hold", map[string]any{"hold_id": h1["hold_id"], "amount": 200})
	require.False(t, res.IsError, text(res))
	assert.Equal(t, "captured", captured["status"])
	assert.NotEmpty(t, captured["idempotency_key"])
	assert.Equal(t, int64(800), l.balance(t, l.agentWallet), "200 captured, 100 released")
	assert.Equal(t, int64(200), l.balance(t, l.merchantWallet))

	// The capture's transaction names the hold it paid from and the mandate it spent under.
	require.NotEmpty(t, captured["release_transaction_id"], "a captured hold names its capture")
	res, capture := callTool(t, cs, "get_transaction", map[string]any{"transaction_id": captured["release_transaction_id"]})
	require.False(t, res.IsError, text(res))
	assert.Equal(t, "capture", capture["kind"])
	assert.Equal(t, h1["hold_id"], capture["hold_id"])
	assert.Equal(t, mandate.MandateID, capture["mandate_id"])

	res, h2 := callTool(t, cs, "create_hold", map[string]any{"wallet_id": l.agentWallet, "amount": 250, "asset": "USD",
		"to_wallet_id": l.merchantWallet})
	require.False(t, res.IsError, text(res))
	res, voided := callTool(t, cs, "void_hold", map[string]any{"hold_id": h2["hold_id"]})
	require.False(t, res.IsError, text(res))
	assert.Equal(t, "voided", voided["status"])

	// A transfer under the mandate says so, and a refund of it names what it refunds.
	res, paid := callTool(t, cs, "transfer", map[string]any{"from_wallet_id": l.agentWallet, "to_wallet_id": l.merchantWallet,
		"amount": 100, "asset": "USD"})
	require.False(t, res.IsError, text(res))
	paidTx := paid["transaction"].(map[string]any)
	assert.Equal(t, mandate.MandateID, paidTx["mandate_id"])
	assert.Nil(t, paidTx["hold_id"], "a plain transfer belongs to no hold")
	refund, _, err := l.admin.Refund(bg(), paidTx["transaction_id"].(string), client.RefundRequest{Amount: 100, Reason: "returned"})
	require.NoError(t, err)
	res, refunded := callTool(t, owner, "get_transaction", map[string]any{"transaction_id": refund.TransactionID})
	require.False(t, res.IsError, text(res))
	assert.Equal(t, paidTx["transaction_id"], refunded["refund_of"])
	assert.Equal(t, int64(800), l.balance(t, l.agentWallet))

	// 300 of the 500 are spent: 201 more is over the mandate.
	res, _ = callTool(t, cs, "transfer", map[string]any{"from_wallet_id": l.agentWallet, "to_wallet_id": l.merchantWallet,
		"amount": 201, "asset": "USD"})
	require.True(t, res.IsError)
	assert.Contains(t, text(res), "mandate_limit_exceeded")
	assert.Contains(t, text(res), "smaller amount")
	assert.Equal(t, int64(800), l.balance(t, l.agentWallet))

	res, _ = callTool(t, cs, "capture_hold", map[string]any{"hold_id": h2["hold_id"]})
	require.True(t, res.IsError)
	assert.Contains(t, text(res), "hold_not_active")

	res, hist := callTool(t, owner, "list_transactions", map[string]any{"wallet_id": l.agentWallet, "limit": 10})
	require.False(t, res.IsError, text(res))
	assert.Equal(t, l.agentWallet, hist["wallet_id"])
	readModel := hist["read_model"].(map[string]any)
	assert.Greater(t, readModel["journal_head"].(float64), float64(0), "the history says how far the journal is")
}
