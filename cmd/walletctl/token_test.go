package main

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentic-commerce/wallet-ledger/internal/auth"
	"github.com/agentic-commerce/wallet-ledger/internal/config"
)

// walletctl token mints what the API accepts, and refuses to print a token the API would only ever refuse.
func TestToken(t *testing.T) {
	t.Setenv("JWT_SECRET", "walletctl-test-secret")
	t.Setenv("JWT_AUDIENCE", "")
	var out, errs strings.Builder
	require.Equal(t, 0, run(context.Background(), []string{"token", "--sub", "agent-1", "--scope", "wallet:read wallet:admin"}, &out, &errs), errs.String())
	caller, err := auth.NewVerifier("walletctl-test-secret", config.DefaultJWTAudience).Verify(strings.TrimSpace(out.String()))
	require.NoError(t, err)
	assert.Equal(t, "agent-1", caller.Sub)
	assert.Equal(t, []string{"wallet:read", "wallet:admin"}, caller.Scopes)

	out.Reset()
	require.Equal(t, 0, run(context.Background(), []string{"token", "--sub", "alice", "--act", "shopping-agent"}, &out, &errs), errs.String())
	caller, err = auth.NewVerifier("walletctl-test-secret", config.DefaultJWTAudience).Verify(strings.TrimSpace(out.String()))
	require.NoError(t, err)
	assert.Equal(t, "alice", caller.Sub)
	assert.Equal(t, "shopping-agent", caller.Actor)

	for _, args := range [][]string{
		{"token"},
		{"token", "--sub", "a", "--act", "a"},
		{"token", "--sub", "a", "--act", auth.SystemSub},
		{"token", "--sub", auth.SystemSub},
		{"token", "--sub", "a\x00b"},
		{"token", "--sub", "a", "--scope", ""},
		{"token", "--sub", "a", "--scope", "wallet:read wallet:rule"},
		{"token", "--sub", "a", "stray"},
		{"token", "--sub", "a", "--ttl", "-1h"},
	} {
		out.Reset()
		errs.Reset()
		assert.NotEqual(t, 0, run(context.Background(), args, &out, &errs), "%q", args)
		assert.Empty(t, out.String(), "%q printed a token", args)
		assert.Contains(t, errs.String(), "token", "%q", args)
	}
}
