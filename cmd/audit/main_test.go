package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentic-commerce/wallet-ledger/internal/leaktest"
	"github.com/agentic-commerce/wallet-ledger/projector"
)

// Every test makes its own database (newLedger): the sweep reads a whole database, so a shared one would let one
// test's wallets, and corruptions, show up in another's report.
func TestMain(m *testing.M) { leaktest.Main(m) }

type jsonReport struct {
	Clean    bool                `json:"clean"`
	Mode     string              `json:"mode"`
	Wallets  int64               `json:"wallets_checked"`
	Findings []projector.Finding `json:"findings"`
}

func audit(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	var observed int64 = -1
	code := run(context.Background(), args, &out, &errb, func(n int64, _ time.Time) { observed = n })
	if code != exitCannotRun {
		require.GreaterOrEqual(t, observed, int64(0), "the metric hook must see every completed sweep")
	}
	return code, out.String(), errb.String()
}

// The CronJob's sweep: clean is 0; a projection corrupted with SQL is 1 with that wallet and both sums in the
// report (text and JSON) and a log line; after the rebuild it is 0 again; no database is 2.
func TestAuditExitCodes(t *testing.T) {
	ctx := context.Background()
	l := newLedger(t)
	t.Setenv("DATABASE_URL", l.url)
	pool, store := l.pool, l.store
	w := l.fundedWallet(t, "AUD", 500)

	code, text, _ := audit(t)
	require.Equal(t, exitClean, code, text)
	assert.Contains(t, text, "audit full: clean")

	_, err := pool.Exec(ctx, `UPDATE balance_projections SET balance = 499 WHERE wallet_id = $1`, w)
	require.NoError(t, err)

	code, text, logs := audit(t)
	require.Equal(t, exitDiscrepancy, code)
	assert.Contains(t, text, "wallet_mismatch wallet="+w.String()+" asset=AUD projected_balance=499 journal_balance=500")
	assert.Contains(t, text, "asset_sum_not_zero asset=AUD sum=-1")
	assert.Contains(t, logs, `"wallet_id":"`+w.String()+`"`)
	assert.Contains(t, logs, `"projected_balance":499`)

	code, js, _ := audit(t, "--json")
	require.Equal(t, exitDiscrepancy, code)
	var rep jsonReport
	require.NoError(t, json.Unmarshal([]byte(js), &rep), js)
	assert.False(t, rep.Clean)
	assert.Equal(t, projector.ModeFull, rep.Mode)
	var wallets []projector.Finding
	for _, f := range rep.Findings {
		if f.WalletID != nil {
			wallets = append(wallets, f)
		}
	}
	require.Len(t, wallets, 1)
	assert.Equal(t, w, *wallets[0].WalletID)
	assert.Equal(t, int64(499), wallets[0].ProjectedBalance)
	assert.Equal(t, int64(500), wallets[0].JournalBalance)

	// The built binary exits with the same code.
	bin := filepath.Join(t.TempDir(), "audit")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Stderr = os.Stderr
	require.NoError(t, build.Run())
	cmd := exec.Command(bin, "--json")
	cmd.Env = append(os.Environ(), "DATABASE_URL="+l.url, "OTEL_SDK_DISABLED=true")
	binOut, err := cmd.Output()
	var exitErr *exec.ExitError
	require.True(t, errors.As(err, &exitErr), "want exit 1, got %v", err)
	assert.Equal(t, exitDiscrepancy, exitErr.ExitCode())
	assert.Contains(t, string(binOut), w.String())

	plan, err := projector.PlanRebuild(ctx, store)
	require.NoError(t, err)
	changed, err := projector.ApplyRebuild(ctx, store, plan)
	require.NoError(t, err)
	assert.Equal(t, int64(1), changed)
	code, js, _ = audit(t, "--json")
	require.Equal(t, exitClean, code, js)
	assert.True(t, strings.Contains(js, `"clean":true`), js)
	clean := exec.Command(bin)
	clean.Env = cmd.Env
	require.NoError(t, clean.Run(), "the binary exits 0 on a clean ledger")
}

func TestAuditCannotRun(t *testing.T) {
	t.Setenv("DATABASE_URL", "postgres://postgres@127.0.0.1:1/none?sslmode=disable&connect_timeout=1")
	code, _, errs := audit(t)
	assert.Equal(t, exitCannotRun, code)
	assert.Contains(t, errs, "could not run")
	code, _, _ = audit(t, "--no-such-flag")
	assert.Equal(t, exitCannotRun, code)
	code, _, _ = audit(t, "extra")
	assert.Equal(t, exitCannotRun, code)
}
