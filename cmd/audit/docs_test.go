package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentic-commerce/wallet-ledger/command"
	"github.com/agentic-commerce/wallet-ledger/eventstore"
	"github.com/agentic-commerce/wallet-ledger/internal/auth"
	"github.com/agentic-commerce/wallet-ledger/internal/docblock"
	"github.com/agentic-commerce/wallet-ledger/internal/pgtest"
	"github.com/agentic-commerce/wallet-ledger/migrations"
)

// docs/operations.md's audit by hand, run as written against a ledger with money in it: the built binary prints
// its text report, then its JSON report, then the exit code 0 of a clean sweep.
func TestAuditByHandWorksAsWritten(t *testing.T) {
	block := docblock.Find(t, "../../docs/operations.md", "audit-by-hand")
	const docURL = "postgres://postgres@localhost:5432/wallet_service?sslmode=disable"
	require.Contains(t, block, docURL, "the block names the development database; the test swaps in its own")

	l := newLedger(t)
	w := l.fundedWallet(t, "AUD", 500)

	dir := t.TempDir()
	build := exec.Command("go", "build", "-o", filepath.Join(dir, "bin", "audit"), ".")
	build.Stderr = os.Stderr
	require.NoError(t, build.Run())
	cmd := exec.Command("bash", "-euo", "pipefail", "-c", strings.ReplaceAll(block, docURL, l.url))
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "OTEL_SDK_DISABLED=true")
	out, err := cmd.Output()
	require.NoError(t, err, "%s", out)

	text := string(out)
	assert.Contains(t, text, "audit full: clean")
	start, end := strings.Index(text, "{"), strings.LastIndex(text, "}")
	require.True(t, start >= 0 && end > start, "a JSON report: %s", text)
	var rep jsonReport
	require.NoError(t, json.Unmarshal([]byte(text[start:end+1]), &rep), text)
	assert.True(t, rep.Clean)
	assert.GreaterOrEqual(t, rep.Wallets, int64(2), "the funded wallet and its asset's system wallet: %s", w)
	assert.Equal(t, "0", strings.TrimSpace(text[end+1:]), "echo $? prints the clean sweep's exit code")
}

// ledger is a database of the test's own, with the write side on it: the audit sweeps a whole database, so a
// test sharing one would see another test's wallets (and corruptions).
type ledger struct {
	url   string
	pool  *pgxpool.Pool
	store *eventstore.Store
	cmds  *command.Commands
}

func newLedger(t *testing.T) *ledger {
	t.Helper()
	l := &ledger{url: pgtest.NewDatabase(t, migrations.Apply)}
	pool, err := pgxpool.New(context.Background(), l.url)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	l.pool = pool
	l.store, err = eventstore.NewStore(pool)
	require.NoError(t, err)
	l.cmds, err = command.New(l.store, uuid.MustParse("00000000-0000-0000-0000-000000000001"), 24*time.Hour)
	require.NoError(t, err)
	t.Cleanup(l.cmds.Close)
	return l
}

// fundedWallet opens a wallet of asset and funds it with amount, through the write side.
func (l *ledger) fundedWallet(t *testing.T, asset string, amount int64) uuid.UUID {
	t.Helper()
	ctx := context.Background()
	admin := auth.Caller{Sub: "treasury", Scopes: []string{auth.ScopeAdmin}}
	idem := func() command.Idempotency {
		k := uuid.NewString()
		return command.Idempotency{Sub: admin.Sub, Key: k, Hash: []byte(k)}
	}
	w := uuid.New()
	_, err := l.cmds.CreateWallet.Run(ctx, admin, idem(), command.CreateWallet{WalletID: w, Asset: asset, Owner: "ann"})
	require.NoError(t, err)
	out, err := l.cmds.Adjust.Run(ctx, admin, idem(), command.Adjustment{WalletID: w, Asset: asset, Amount: amount, Reason: "seed"})
	require.NoError(t, err)
	require.Equal(t, 201, out.Status)
	return w
}
