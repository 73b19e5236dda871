package main

import (
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentic-commerce/wallet-ledger/internal/auth"
)

// What probing the running MCP server turned up: arguments a model gets wrong are refused, never read as something
// else, and one agent's session is not another's to use or close.

func TestToolArgumentsAreNotReadAsSomethingElse(t *testing.T) {
	l := newLedger(t, "agent-5", 1000)
	cs := connect(t, l.base, mint(t, "agent-5", auth.ScopeRead, auth.ScopeWrite))
	res, h := callTool(t, cs, "create_hold", map[string]any{"wallet_id": l.agentWallet, "amount": 500, "asset": "USD",
		"to_wallet_id": l.merchantWallet})
	require.False(t, res.IsError, text(res))

	// A capture of 0 is a capture of 0 (refused), not of the whole hold.
	res, _ = callTool(t, cs, "capture_hold", map[string]any{"hold_id": h["hold_id"], "amount": 0})
	require.True(t, res.IsError)
	assert.Contains(t, text(res), "validation_error")
	assert.Equal(t, int64(0), l.balance(t, l.merchantWallet), "nothing captured")
	res, captured := callTool(t, cs, "capture_hold", map[string]any{"hold_id": h["hold_id"]})
	require.False(t, res.IsError, text(res))
	assert.EqualValues(t, 500, captured["captured_amount"], "no amount: the whole hold")

	for _, limit := range []int{0, -1, 201} {
		res, _ = callTool(t, cs, "list_transactions", map[string]any{"wallet_id": l.agentWallet, "limit": limit})
		require.True(t, res.IsError, "limit %d", limit)
		assert.Contains(t, text(res), "limit must be from 1 to 200")
	}

	// A key the API would refuse is refused before anything is sent, and is not offered back for a retry.
	res, _ = callTool(t, cs, "transfer", map[string]any{"from_wallet_id": l.agentWallet, "to_wallet_id": l.merchantWallet,
		"amount": 1, "asset": "USD", "idempotency_key": "abc\r\nX-Evil: 1"})
	require.True(t, res.IsError)
	assert.Contains(t, text(res), "Nothing was sent")
	assert.NotContains(t, text(res), "retry with idempotency_key")
	assert.Equal(t, int64(500), l.balance(t, l.agentWallet))
}

func TestStreamableHTTPSessionsBelongToTheirToken(t *testing.T) {
	l := newLedger(t, "agent-6", 500)
	srv := httpServer(t, l.base)
	agentTok := mint(t, "agent-6", auth.ScopeRead, auth.ScopeWrite)
	var session atomic.Pointer[string]
	agent, err := httpSession(srv.URL, bearer{token: agentTok, session: &session})
	require.NoError(t, err)
	defer agent.Close()
	require.NotNil(t, session.Load())
	sessionID := *session.Load()

	// Another token, even a made-up one, can neither close the session nor call through it.
	for _, method := range []string{http.MethodDelete, http.MethodPost} {
		req, err := http.NewRequest(method, srv.URL, nil)
		require.NoError(t, err)
		req.Header.Set("Mcp-Session-Id", sessionID)
		req.Header.Set("Authorization", "Bearer x")
		req.Header.Set("Accept", "application/json, text/event-stream")
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusForbidden, resp.StatusCode, method)
	}
	res, _ := callTool(t, agent, "get_balance", map[string]any{"wallet_id": l.agentWallet})
	require.False(t, res.IsError, text(res), "the agent's session is still open")

	// Two Authorization headers are one too many, as at the wallet-api.
	req, err := http.NewRequest(http.MethodPost, srv.URL, nil)
	require.NoError(t, err)
	req.Header.Add("Authorization", "Bearer "+agentTok)
	req.Header.Add("Authorization", "Bearer x")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
}
