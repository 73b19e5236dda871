package main

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentic-commerce/wallet-ledger/command"
	"github.com/agentic-commerce/wallet-ledger/eventstore"
	"github.com/agentic-commerce/wallet-ledger/internal/auth"
	"github.com/agentic-commerce/wallet-ledger/internal/docblock"
)

var (
	buildOnce sync.Once
	buildDir  string // holds bin/walletctl, as the repository root does after make build
	buildErr  error
)

// runBlock builds walletctl once, then runs a documentation block with bash from a folder where bin/walletctl
// resolves as in the repository root, with DATABASE_URL set (ctlDB sets it), and returns its stdout and exit code.
// strict adds -e: a block whose commands must all succeed.
func runBlock(t *testing.T, block string, strict bool) (string, int) {
	t.Helper()
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "walletctl-docs-")
		if buildErr != nil {
			return
		}
		out, err := exec.Command("go", "build", "-o", filepath.Join(buildDir, "bin", "walletctl"), ".").CombinedOutput()
		if err != nil {
			buildErr = err
			buildDir = string(out)
		}
	})
	require.NoError(t, buildErr, "go build walletctl: %s", buildDir)
	flags := "-uo"
	if strict {
		flags = "-euo"
	}
	cmd := exec.Command("bash", flags, "pipefail", "-c", block)
	cmd.Dir = buildDir
	cmd.Env = append(os.Environ(), "OTEL_SDK_DISABLED=true")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		t.Fatalf("run block: %v", err)
	}
	if stderr.Len() > 0 {
		t.Logf("stderr:\n%s", stderr.String())
	}
	return string(out), cmd.ProcessState.ExitCode()
}

// docs/events.md's quarantine and prune commands, run as written against a database holding the quarantined event
// the block names and one more: the list shows both, the release by id and --all put both back in the outbox, and
// the prune, with nothing relayed yet, prunes nothing.
func TestQuarantineBlockWorksAsWritten(t *testing.T) {
	block := docblock.Find(t, "../../docs/events.md", "relay-quarantine")
	const named = "6f1c0e0a-3d2b-4c53-9a43-0b8f2a7d9e11"
	require.Contains(t, block, named)
	ctx := context.Background()
	pool := ctlDB(t)
	other := uuid.NewString()
	for i, id := range []string{named, other} {
		_, err := pool.Exec(ctx, `INSERT INTO relay_quarantine (event_id, event_type, payload, metadata, attempts, last_error, quarantined_at)
			VALUES ($1, 'wallet.created', $2, '{"event_type":"wallet.created"}', 5, 'nats: maximum payload exceeded',
				now() - make_interval(mins => $3))`, id, `{"event_id":"`+id+`","type":"wallet.created","version":1}`, 10-i)
		require.NoError(t, err)
	}

	out, code := runBlock(t, block, true)
	require.Equal(t, 0, code, out)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.GreaterOrEqual(t, len(lines), 6, out)
	assert.Regexp(t, `^EVENT ID\s+TYPE`, lines[0])
	assert.Contains(t, lines[1], named)
	assert.Contains(t, lines[2], other)
	assert.Contains(t, out, "released 1 events")
	assert.Equal(t, "the relay has acked no event yet; nothing pruned", lines[len(lines)-1])
	assert.Empty(t, quarantined(t, pool))
	var back int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM outbox_events WHERE uuid IN ($1, $2)`, named, other).Scan(&back))
	assert.Equal(t, 2, back, "both events are in the outbox again, with their own ids")
}

// docs/operations.md's rebuild commands, run as written against a ledger whose projection was corrupted with SQL:
// the dry run names the wallet and exits 1, --apply repairs it, and the journal and projections agree after.
func TestProjectionsRebuildBlockWorksAsWritten(t *testing.T) {
	block := docblock.Find(t, "../../docs/operations.md", "projections-rebuild")
	ctx := context.Background()
	pool := ctlDB(t)
	store, err := eventstore.NewStore(pool)
	require.NoError(t, err)
	cmds, err := command.New(store, uuid.MustParse("00000000-0000-0000-0000-000000000001"), 24*time.Hour)
	require.NoError(t, err)
	t.Cleanup(cmds.Close)
	admin := auth.Caller{Sub: "treasury", Scopes: []string{auth.ScopeAdmin}}
	idem := func() command.Idempotency {
		k := uuid.NewString()
		return command.Idempotency{Sub: admin.Sub, Key: k, Hash: []byte(k)}
	}
	w := uuid.New()
	_, err = cmds.CreateWallet.Run(ctx, admin, idem(), command.CreateWallet{WalletID: w, Asset: "NZD", Owner: "o"})
	require.NoError(t, err)
	o, err := cmds.Adjust.Run(ctx, admin, idem(), command.Adjustment{WalletID: w, Asset: "NZD", Amount: 10_000, Reason: "seed"})
	require.NoError(t, err)
	require.Equal(t, 201, o.Status)
	_, err = pool.Exec(ctx, `UPDATE balance_projections SET balance = balance + 1234 WHERE wallet_id = $1`, w)
	require.NoError(t, err)

	// Not -e: the dry run exits 1 when a projection differs, as the block's comment says, and the reader goes on.
	out, code := runBlock(t, block, false)
	assert.Equal(t, 0, code, "the last command, --apply, succeeds: %s", out)
	assert.Contains(t, out, "1 projections differ")
	assert.Contains(t, out, w.String()+" NZD projection balance=11234")
	assert.Contains(t, out, "rewrote 1 projections")
	assert.Contains(t, out, "every projection equals the journal")
	var bal int64
	require.NoError(t, pool.QueryRow(ctx, `SELECT balance FROM balance_projections WHERE wallet_id = $1`, w).Scan(&bal))
	assert.Equal(t, int64(10_000), bal)
}
