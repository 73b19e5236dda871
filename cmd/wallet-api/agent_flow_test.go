package main

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentic-commerce/wallet-ledger/internal/docblock"
)

// docs/agents.md's agent flow (grant a mandate, spend as the agent, hold and capture, refund, revoke) is run as
// written, except for the server address, and what it printed is checked; then the journal and the events it left.
func TestAgentFlowWorksAsWritten(t *testing.T) {
	block := docblock.Find(t, "../../docs/agents.md", "agent-flow")
	// Its own database: the flow's fixed wallet IDs must not collide with other tests', and the event counts
	// below must be the flow's alone.
	a := newIsolatedAPI(t)
	run := func() string { return runDocBlock(t, block, a.base, "jq") }
	text := run()
	lines := strings.Split(strings.TrimSpace(text), "\n")
	problems := regexp.MustCompile(`"code":"([a-z_]+)"`).FindAllStringSubmatch(text, -1)
	var codes []string
	for _, p := range problems {
		codes = append(codes, p[1])
	}
	assert.Equal(t, []string{"mandate_limit_exceeded", "mandate_inactive"}, codes, "the only refusals are the two the flow shows: %s", text)
	assert.Contains(t, text, `"kind":"refund"`)
	assert.Contains(t, text, `"status":"revoked"`)
	assert.Regexp(t, `"spent_in_period":4000,"remaining":2000`, text, "the transfer and the capture are charged, the released 5.00 is not")
	assert.Contains(t, lines[len(lines)-2], `"balance":7000`, "alice's balance at the end")
	assert.Contains(t, lines[len(lines)-1], `"consistent":true`)

	// Run again: every write replays its first answer (the reads now see the mandate revoked), nothing moves twice.
	again := run()
	ids := regexp.MustCompile(`"transaction_id":"[0-9a-f-]+"`)
	assert.Equal(t, ids.FindAllString(text, -1), ids.FindAllString(again, -1), "the same transactions, replayed")
	againLines := strings.Split(strings.TrimSpace(again), "\n")
	assert.Equal(t, lines[len(lines)-2], againLines[len(againLines)-2], "alice's balance did not move")

	// The events name the agent and the mandate; the refund links its original.
	ctx := context.Background()
	var n int
	require.NoError(t, a.app.pool.QueryRow(ctx, `SELECT count(*) FROM outbox_events
		WHERE payload->>'sub' = 'shopping-agent' AND payload->>'mandate_id' IS NOT NULL`).Scan(&n))
	assert.GreaterOrEqual(t, n, 5, "transfer, hold and capture: their transaction.committed and hold.* events")
	var types []string
	rows, err := a.app.pool.Query(ctx, `SELECT DISTINCT payload->>'type' FROM outbox_events
		WHERE payload::jsonb->'wallet_ids' ? '33333333-3333-4333-8333-333333333333' ORDER BY 1`)
	require.NoError(t, err)
	for rows.Next() {
		var s string
		require.NoError(t, rows.Scan(&s))
		types = append(types, s)
	}
	require.NoError(t, rows.Err())
	for _, want := range []string{"hold.captured", "hold.created", "mandate.granted", "mandate.revoked", "transaction.committed", "wallet.created"} {
		assert.Contains(t, types, want)
	}
	require.NoError(t, a.app.pool.QueryRow(ctx, `SELECT count(*) FROM outbox_events
		WHERE payload->>'kind' = 'refund' AND payload->>'refund_of' IS NOT NULL`).Scan(&n))
	assert.Equal(t, 1, n)
	ledgerConsistent(t, a, "33333333-3333-4333-8333-333333333333", "44444444-4444-4444-8444-444444444444")
}

// The relay's sweeper worker releases expired holds on its own.
func TestHoldSweeperWorker(t *testing.T) {
	a := newAPI(t)
	alice := token(t, "alice", "wallet:read", "wallet:write")
	w := a.createWallet(alice, "USD")
	a.fund(w, "USD", 50)
	id := created(t, a.post(alice, "/v1/holds", map[string]any{"wallet_id": w, "amount": 50, "asset": "USD",
		"expires_at": in(300 * time.Millisecond)}))["hold_id"].(string)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.app.commands.RunHoldSweeper(ctx, 100*time.Millisecond) }()
	require.Eventually(t, func() bool { return a.funds(w).Held == 0 }, patience, 50*time.Millisecond)
	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(patience):
		t.Fatal("the sweeper did not stop with its context")
	}
	assert.Equal(t, "expired", created(t, a.get(alice, "/v1/holds/"+id), 200)["status"])
	ledgerConsistent(t, a, w)
}
