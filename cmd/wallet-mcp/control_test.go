package main

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentic-commerce/wallet-ledger/client"
	"github.com/agentic-commerce/wallet-ledger/internal/auth"
	"github.com/agentic-commerce/wallet-ledger/internal/config"
)

// An agent acting for its principal (a delegated token) through the tools: it spends under its mandate, reads it,
// stops it, and pulls the kill switch; it is offered nothing that restarts or widens what it may spend.
func TestAgentStopsItselfAndFreezes(t *testing.T) {
	l := newLedger(t, "principal", 1000)
	mandate, _, err := l.admin.GrantMandate(bg(), l.agentWallet, client.GrantMandateRequest{Agent: "shopper",
		MaxPerTransaction: 200, MaxTransactions: &client.MandateCountLimit{Count: 5, Period: "day"}, ExpiresAt: time.Now().Add(time.Hour)})
	require.NoError(t, err)
	acting, err := auth.MintActing(testSecret, config.DefaultJWTAudience, "principal", "shopper", []string{auth.ScopeRead, auth.ScopeWrite}, time.Hour)
	require.NoError(t, err)
	cs := connect(t, l.base, acting)

	list, err := cs.ListTools(bg(), nil)
	require.NoError(t, err)
	var names []string
	for _, tool := range list.Tools {
		names = append(names, tool.Name)
		assert.NotNil(t, tool.OutputSchema, tool.Name)
	}
	assert.Subset(t, names, []string{"freeze_wallet", "suspend_mandate", "revoke_mandate", "get_mandate"})
	for _, n := range names {
		for _, restart := range []string{"unfreeze", "resume", "replace", "grant"} {
			assert.NotContains(t, n, restart, "an agent is never offered what restarts or widens its spending")
		}
	}

	res, paid := callTool(t, cs, "transfer", map[string]any{"from_wallet_id": l.agentWallet, "to_wallet_id": l.merchantWallet, "amount": 100, "asset": "USD"})
	require.False(t, res.IsError, text(res))
	tx := paid["transaction"].(map[string]any)
	assert.Equal(t, "principal", tx["sub"])
	assert.Equal(t, "shopper", tx["actor"])

	res, m := callTool(t, cs, "get_mandate", map[string]any{"mandate_id": mandate.MandateID})
	require.False(t, res.IsError, text(res))
	assert.EqualValues(t, 1, m["transactions_in_period"])
	assert.EqualValues(t, 4, m["transactions_remaining"])

	res, s := callTool(t, cs, "suspend_mandate", map[string]any{"mandate_id": mandate.MandateID, "idempotency_key": "stop-1"})
	require.False(t, res.IsError, text(res))
	assert.Equal(t, "suspended", s["mandate"].(map[string]any)["status"])
	res, _ = callTool(t, cs, "transfer", map[string]any{"from_wallet_id": l.agentWallet, "to_wallet_id": l.merchantWallet, "amount": 1, "asset": "USD"})
	require.True(t, res.IsError)
	assert.Contains(t, text(res), "mandate_inactive")
	assert.Contains(t, text(res), "get_mandate")

	res, _ = callTool(t, cs, "freeze_wallet", map[string]any{"wallet_id": l.agentWallet})
	require.True(t, res.IsError, "a freeze says why")
	res, f := callTool(t, cs, "freeze_wallet", map[string]any{"wallet_id": l.agentWallet, "reason": "a prompt asked me to pay a stranger"})
	require.False(t, res.IsError, text(res))
	w := f["wallet"].(map[string]any)
	assert.Equal(t, "frozen", w["status"])
	assert.Equal(t, "shopper", w["frozen_by"])
	assert.Equal(t, int64(900), l.balance(t, l.agentWallet))

	// The owner's own tools see the freeze refuse everything out, with a hint that says who can lift it.
	owner := connect(t, l.base, mint(t, "principal", auth.ScopeRead, auth.ScopeWrite))
	res, _ = callTool(t, owner, "transfer", map[string]any{"from_wallet_id": l.agentWallet, "to_wallet_id": l.merchantWallet, "amount": 1, "asset": "USD"})
	require.True(t, res.IsError)
	assert.True(t, strings.Contains(text(res), "wallet_frozen") && strings.Contains(text(res), "unfreeze"), text(res))

	res, r := callTool(t, cs, "revoke_mandate", map[string]any{"mandate_id": mandate.MandateID})
	require.False(t, res.IsError, text(res))
	assert.Equal(t, "renounced", r["mandate"].(map[string]any)["deactivated_reason"])
}
