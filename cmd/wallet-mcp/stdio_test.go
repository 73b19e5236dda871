package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentic-commerce/wallet-ledger/api/apitest"
	"github.com/agentic-commerce/wallet-ledger/internal/auth"
)

// buildWalletMCP builds this package's binary into a fresh directory: the stdio test runs what an MCP client
// would launch, not the in-process server.
func buildWalletMCP(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "wallet-mcp")
	out, err := exec.Command(goTool(), "build", "-o", bin, ".").CombinedOutput()
	require.NoError(t, err, "build wallet-mcp: %s", out)
	return bin
}

// An MCP client launches wallet-mcp as a subprocess and speaks to it over stdin/stdout, the agent's token in
// WALLET_TOKEN as the README's client configuration gives it. This holds what the in-process tests cannot: that
// nothing but protocol reaches stdout, that the binary reads its configuration from the environment, and that it
// exits cleanly when the client closes stdin.
func TestStdioSubprocessTransfersOnceAndExplainsRefusals(t *testing.T) {
	l := newLedger(t, "agent-stdio", 1000)
	bin := buildWalletMCP(t)

	cmd := exec.Command(bin)
	// Later entries win: the parent's environment cannot lend the subprocess another token or API. The subprocess
	// reaches the wallet-api through a proxy that holds its every exchange to the OpenAPI document.
	cmd.Env = append(os.Environ(), "WALLET_API_URL="+apitest.NewProxy(t, l.base),
		"WALLET_TOKEN="+mint(t, "agent-stdio", auth.ScopeRead, auth.ScopeWrite))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	ctx, cancel := context.WithTimeout(bg(), time.Minute)
	defer cancel()
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "stdio-agent", Version: "1"}, nil).
		Connect(ctx, &mcp.CommandTransport{Command: cmd, TerminateDuration: 5 * time.Second}, nil)
	require.NoError(t, err)
	closed := false
	t.Cleanup(func() {
		if !closed {
			_ = cs.Close()
		}
		if t.Failed() {
			t.Logf("wallet-mcp stderr:\n%s", stderr.String())
		}
	})

	list, err := cs.ListTools(ctx, nil)
	require.NoError(t, err)
	var names []string
	for _, tool := range list.Tools {
		names = append(names, tool.Name)
	}
	assert.ElementsMatch(t, []string{"get_balance", "get_wallet", "get_transaction", "list_transactions", "transfer",
		"create_hold", "capture_hold", "void_hold", "list_mandates", "list_wallets", "get_mandate", "suspend_mandate",
		"revoke_mandate", "freeze_wallet"}, names)

	args := map[string]any{"from_wallet_id": l.agentWallet, "to_wallet_id": l.merchantWallet, "amount": 400,
		"asset": "USD", "idempotency_key": "stdio-order-1"}
	first, out1 := callTool(t, cs, "transfer", args)
	require.False(t, first.IsError, text(first))
	second, out2 := callTool(t, cs, "transfer", args)
	require.False(t, second.IsError, text(second))
	assert.Equal(t, false, out1["replayed"])
	assert.Equal(t, true, out2["replayed"], "the retry is answered from the first call")
	tx1, tx2 := out1["transaction"].(map[string]any), out2["transaction"].(map[string]any)
	assert.Equal(t, tx1["transaction_id"], tx2["transaction_id"], "one transaction, not two")
	assert.Equal(t, "agent-stdio", tx1["sub"], "the subprocess called as the agent of WALLET_TOKEN")
	assert.Equal(t, int64(600), l.balance(t, l.agentWallet), "paid once")
	assert.Equal(t, int64(400), l.balance(t, l.merchantWallet), "received once")

	res, _ := callTool(t, cs, "transfer", map[string]any{"from_wallet_id": l.agentWallet, "to_wallet_id": l.merchantWallet,
		"amount": 601, "asset": "USD", "idempotency_key": "stdio-order-2"})
	require.True(t, res.IsError, "a refusal is a tool error the model reads, not a protocol error")
	msg := text(res)
	assert.Contains(t, msg, "insufficient_funds")
	assert.Contains(t, msg, "Nothing was moved")
	assert.Contains(t, msg, "get_balance", "the model is told what to do next")
	assert.Contains(t, msg, "stdio-order-2")
	assert.Equal(t, int64(600), l.balance(t, l.agentWallet))
	assert.Equal(t, int64(400), l.balance(t, l.merchantWallet))

	closed = true
	require.NoError(t, cs.Close(), "wallet-mcp exits 0 when its client closes stdin")
	assert.True(t, cmd.ProcessState.Success())
}
