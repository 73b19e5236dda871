package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentic-commerce/wallet-ledger/api/apitest"
	"github.com/agentic-commerce/wallet-ledger/client"
	"github.com/agentic-commerce/wallet-ledger/internal/auth"
)

// ledger is the wallet-api as the test's operator sees it, plus two wallets: the agent's (funded) and a merchant's.
type ledger struct {
	base, agentWallet, merchantWallet string
	admin                             *client.Client
}

func newLedger(t *testing.T, agent string, funds int64) ledger {
	t.Helper()
	base := startWalletAPI(t)
	admin, err := client.New(base, client.WithToken(mint(t, "ops", auth.ScopeAdmin)),
		client.WithHTTPClient(&http.Client{Transport: apitest.NewTransport(t, nil)}))
	require.NoError(t, err)
	from, _, err := admin.CreateWallet(bg(), client.CreateWalletRequest{Asset: "USD", Owner: agent})
	require.NoError(t, err)
	to, _, err := admin.CreateWallet(bg(), client.CreateWalletRequest{Asset: "USD", Owner: "merchant"})
	require.NoError(t, err)
	_, _, err = admin.Adjust(bg(), client.AdjustmentRequest{WalletID: from.WalletID, Amount: funds, Asset: "USD", Reason: "test funds"})
	require.NoError(t, err)
	return ledger{base: base, agentWallet: from.WalletID, merchantWallet: to.WalletID, admin: admin}
}

func (l ledger) balance(t *testing.T, walletID string) int64 {
	t.Helper()
	b, _, err := l.admin.GetBalance(bg(), walletID)
	require.NoError(t, err)
	return b.Balance
}

// connect runs the MCP server in-process and returns an SDK client session over an in-memory transport, as an
// agent configured with token (stdio semantics: the server's own WALLET_TOKEN is the agent's).
func connect(t *testing.T, base, token string) *mcp.ClientSession {
	t.Helper()
	api, err := client.New(base, client.WithHTTPClient(&http.Client{Transport: apitest.NewTransport(t, nil)}))
	require.NoError(t, err)
	server := newServer(&tools{api: api, stdioToken: token}, "test")
	serverT, clientT := mcp.NewInMemoryTransports()
	ss, err := server.Connect(bg(), serverT, nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = ss.Close() })
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "test-agent", Version: "1"}, nil).Connect(bg(), clientT, nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = cs.Close() })
	return cs
}

func callTool(t *testing.T, cs *mcp.ClientSession, name string, args map[string]any) (*mcp.CallToolResult, map[string]any) {
	t.Helper()
	res, err := cs.CallTool(bg(), &mcp.CallToolParams{Name: name, Arguments: args})
	require.NoError(t, err)
	var out map[string]any
	if res.StructuredContent != nil {
		b, err := json.Marshal(res.StructuredContent)
		require.NoError(t, err)
		require.NoError(t, json.Unmarshal(b, &out))
	}
	return res, out
}

func text(res *mcp.CallToolResult) string {
	var s string
	for _, c := range res.Content {
		if tc, ok := c.(*mcp.TextContent); ok {
			s += tc.Text
		}
	}
	return s
}

func TestAgentTransfersOnceWithTheSameIdempotencyKey(t *testing.T) {
	l := newLedger(t, "agent-1", 1000)
	cs := connect(t, l.base, mint(t, "agent-1", auth.ScopeRead, auth.ScopeWrite))

	list, err := cs.ListTools(bg(), nil)
	require.NoError(t, err)
	var names []string
	for _, tool := range list.Tools {
		names = append(names, tool.Name)
		assert.NotEmpty(t, tool.Description, tool.Name)
		assert.NotNil(t, tool.OutputSchema, tool.Name)
	}
	assert.Subset(t, names, []string{"get_balance", "get_wallet", "get_transaction", "transfer"})

	args := map[string]any{"from_wallet_id": l.agentWallet, "to_wallet_id": l.merchantWallet, "amount": 300,
		"asset": "USD", "description": "order 1042", "idempotency_key": "agent-1-order-1042"}
	first, out1 := callTool(t, cs, "transfer", args)
	require.False(t, first.IsError, text(first))
	second, out2 := callTool(t, cs, "transfer", args)
	require.False(t, second.IsError, text(second))

	assert.Equal(t, "agent-1-order-1042", out1["idempotency_key"])
	assert.Equal(t, false, out1["replayed"])
	assert.Equal(t, true, out2["replayed"], "the second call is answered from the first")
	tx1 := out1["transaction"].(map[string]any)
	tx2 := out2["transaction"].(map[string]any)
	assert.Equal(t, tx1["transaction_id"], tx2["transaction_id"])
	assert.Nil(t, tx1["mandate_id"], "an owner spending its own wallet uses no mandate")
	assert.Equal(t, int64(700), l.balance(t, l.agentWallet), "paid once")
	assert.Equal(t, int64(300), l.balance(t, l.merchantWallet))

	// The model's own view agrees, through the read tools.
	res, bal := callTool(t, cs, "get_balance", map[string]any{"wallet_id": l.agentWallet})
	require.False(t, res.IsError, text(res))
	assert.EqualValues(t, 700, bal["available"])
	res, tx := callTool(t, cs, "get_transaction", map[string]any{"transaction_id": tx1["transaction_id"]})
	require.False(t, res.IsError, text(res))
	assert.Equal(t, "agent-1", tx["sub"], "the transfer was made as the agent, not as the MCP server")

	// Without a key, one is generated and reported.
	res, out := callTool(t, cs, "transfer", map[string]any{"from_wallet_id": l.agentWallet, "to_wallet_id": l.merchantWallet, "amount": 1, "asset": "USD"})
	require.False(t, res.IsError, text(res))
	assert.NotEmpty(t, out["idempotency_key"])
	assert.NotEqual(t, "agent-1-order-1042", out["idempotency_key"])
}

func TestAgentGetsActionableErrors(t *testing.T) {
	l := newLedger(t, "agent-2", 100)
	cs := connect(t, l.base, mint(t, "agent-2", auth.ScopeRead, auth.ScopeWrite))

	res, _ := callTool(t, cs, "transfer", map[string]any{"from_wallet_id": l.agentWallet, "to_wallet_id": l.merchantWallet,
		"amount": 5000, "asset": "USD", "idempotency_key": "too-much"})
	require.True(t, res.IsError)
	msg := text(res)
	assert.Contains(t, msg, "insufficient_funds")
	assert.Contains(t, msg, "Nothing was moved")
	assert.Contains(t, msg, "get_balance")
	assert.Contains(t, msg, "too-much")
	assert.Equal(t, int64(100), l.balance(t, l.agentWallet))

	res, _ = callTool(t, cs, "get_balance", map[string]any{"wallet_id": l.merchantWallet})
	require.True(t, res.IsError)
	assert.Contains(t, text(res), "wallet_not_found", "another owner's wallet is invisible to the agent")

	res, _ = callTool(t, cs, "transfer", map[string]any{"from_wallet_id": "x", "to_wallet_id": l.merchantWallet, "amount": 0, "asset": "usd"})
	require.True(t, res.IsError)
	assert.Contains(t, text(res), "validation_error")
	assert.Contains(t, text(res), "from_wallet_id")

	noToken := connect(t, l.base, "")
	res, _ = callTool(t, noToken, "get_balance", map[string]any{"wallet_id": l.agentWallet})
	require.True(t, res.IsError)
	assert.Contains(t, text(res), "WALLET_TOKEN")
}

// bearer adds an agent's token to every MCP HTTP request and, when session is set, keeps the Mcp-Session-Id the
// server answered with.
type bearer struct {
	token   string
	session *atomic.Pointer[string]
}

func (b bearer) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	req.Header.Set("Authorization", "Bearer "+b.token)
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err == nil && b.session != nil {
		if id := resp.Header.Get("Mcp-Session-Id"); id != "" {
			b.session.Store(&id)
		}
	}
	return resp, err
}

// httpServer serves wallet-mcp over streamable HTTP in front of the wallet-api at base, every exchange with the
// wallet-api held to the OpenAPI document.
func httpServer(t *testing.T, base string) *httptest.Server {
	t.Helper()
	api, err := client.New(base, client.WithHTTPClient(&http.Client{Transport: apitest.NewTransport(t, nil)}))
	require.NoError(t, err)
	srv := httptest.NewServer(httpHandler(&tools{api: api}, resourceConfig{}))
	t.Cleanup(srv.Close)
	return srv
}

// httpSession connects an agent to the MCP server at url over streamable HTTP with its own token.
func httpSession(url string, agent bearer) (*mcp.ClientSession, error) {
	transport := &mcp.StreamableClientTransport{Endpoint: url, MaxRetries: -1, HTTPClient: &http.Client{Transport: agent}}
	return mcp.NewClient(&mcp.Implementation{Name: "http-agent", Version: "1"}, nil).Connect(bg(), transport, nil)
}

// Over streamable HTTP each agent's calls carry its own token: the server has none to lend.
func TestStreamableHTTPUsesEachAgentsOwnToken(t *testing.T) {
	l := newLedger(t, "agent-3", 500)
	srv := httpServer(t, l.base)
	session := func(token string) (*mcp.ClientSession, error) { return httpSession(srv.URL, bearer{token: token}) }
	agent, err := session(mint(t, "agent-3", auth.ScopeRead, auth.ScopeWrite))
	require.NoError(t, err)
	defer agent.Close()
	res, out := callTool(t, agent, "transfer", map[string]any{"from_wallet_id": l.agentWallet, "to_wallet_id": l.merchantWallet,
		"amount": 125, "asset": "USD", "idempotency_key": "http-1"})
	require.False(t, res.IsError, text(res))
	assert.Equal(t, "agent-3", out["transaction"].(map[string]any)["sub"])
	assert.Equal(t, int64(375), l.balance(t, l.agentWallet))

	mallory, err := session(mint(t, "mallory", auth.ScopeRead, auth.ScopeWrite))
	require.NoError(t, err)
	defer mallory.Close()
	res, _ = callTool(t, mallory, "transfer", map[string]any{"from_wallet_id": l.agentWallet, "to_wallet_id": l.merchantWallet,
		"amount": 1, "asset": "USD"})
	require.True(t, res.IsError)
	assert.Contains(t, text(res), "wallet_not_found")
	assert.Equal(t, int64(375), l.balance(t, l.agentWallet))

	resp, err := http.Post(srv.URL, "application/json", nil)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode, "no token, no session")
}
