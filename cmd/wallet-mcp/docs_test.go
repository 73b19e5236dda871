package main

import (
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentic-commerce/wallet-ledger/api/apitest"
	"github.com/agentic-commerce/wallet-ledger/internal/auth"
	"github.com/agentic-commerce/wallet-ledger/internal/docblock"
)

// docs/agents.md's command for wallet-mcp over streamable HTTP, run as written (the API's address and the MCP port
// swapped for the test's): an agent connects with its own token and reads its balance, and Ctrl-C stops the server.
func TestMCPHTTPBlockWorksAsWritten(t *testing.T) {
	block := docblock.Find(t, "../../docs/agents.md", "mcp-http")
	require.Contains(t, block, ":8090")
	l := newLedger(t, "agent-docs", 700)

	root := t.TempDir()
	out, err := exec.Command(goTool(), "build", "-o", filepath.Join(root, "bin", "wallet-mcp"), ".").CombinedOutput()
	require.NoError(t, err, "build wallet-mcp: %s", out)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())

	script := strings.ReplaceAll(block, "http://localhost:8080", apitest.NewProxy(t, l.base))
	script = strings.ReplaceAll(script, ":8090", addr)
	cmd := exec.Command("bash", "-euo", "pipefail", "-c", script)
	cmd.Dir = root
	// Its own process group, as a terminal's foreground job: Ctrl-C is SIGINT to the whole group.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var logs strings.Builder
	cmd.Stdout, cmd.Stderr = &logs, &logs
	require.NoError(t, cmd.Start())
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		if t.Failed() {
			t.Logf("wallet-mcp output:\n%s", logs.String())
		}
	})

	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			break
		}
		select {
		case err := <-exited:
			t.Fatalf("wallet-mcp exited before listening: %v", err)
		default:
		}
		require.True(t, time.Now().Before(deadline), "wallet-mcp never listened on %s: %v", addr, err)
		time.Sleep(50 * time.Millisecond)
	}
	session, err := httpSession("http://"+addr, bearer{token: mint(t, "agent-docs", auth.ScopeRead, auth.ScopeWrite)})
	require.NoError(t, err)
	res, got := callTool(t, session, "get_balance", map[string]any{"wallet_id": l.agentWallet})
	require.False(t, res.IsError, text(res))
	assert.EqualValues(t, 700, got["balance"])
	require.NoError(t, session.Close())

	// The protected resource metadata example, against the same server: the 401 names the document, which is served.
	meta := strings.ReplaceAll(docblock.Find(t, "../../docs/agents.md", "mcp-metadata"), "http://localhost:8090", "http://"+addr)
	shown, err := exec.Command("bash", "-euo", "pipefail", "-c", meta).Output()
	require.NoError(t, err, "%s", shown)
	assert.Contains(t, strings.ToLower(string(shown)), `www-authenticate: bearer resource_metadata="http://`+addr+`/.well-known/oauth-protected-resource"`)
	assert.Contains(t, string(shown), `"bearer_methods_supported":["header"]`)

	require.NoError(t, syscall.Kill(-cmd.Process.Pid, syscall.SIGINT))
	select {
	case err := <-exited:
		assert.NoError(t, err, "Ctrl-C stops wallet-mcp cleanly")
	case <-time.After(30 * time.Second):
		t.Fatal("wallet-mcp did not stop on SIGINT")
	}
}
