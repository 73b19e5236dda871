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

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentic-commerce/wallet-ledger/command"
	"github.com/agentic-commerce/wallet-ledger/internal/auth"
	"github.com/agentic-commerce/wallet-ledger/internal/leaktest"
	"github.com/agentic-commerce/wallet-ledger/internal/pgtest"
	"github.com/agentic-commerce/wallet-ledger/projector"
)

// Every test makes its own database (newLedger): the sweep reads a whole database, so a shared one would let one
// test's wallets, and corruptions, show up in another's report.
func TestMain(m *testing.M) { leaktest.Main(m) }

type jsonReport struct {
	Clean    bool                `json:"clean"`
	Mode     string              `json:"mode"`
	Wallets  int64               `json:"wallets_checked"`
	Events   int                 `json:"events"`
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

// --incremental runs one pass of the relay's continuous audit: it covers what the outbox says changed since the
// audit's checkpoint, finds a corrupted projection among them, and has nothing left to do after.
func TestAuditIncrementalPass(t *testing.T) {
	ctx := context.Background()
	l := newLedger(t)
	t.Setenv("DATABASE_URL", l.url)
	pool, cmds := l.pool, l.cmds
	admin := auth.Caller{Sub: "treasury", Scopes: []string{auth.ScopeAdmin}}
	idem := func() command.Idempotency {
		k := uuid.NewString()
		return command.Idempotency{Sub: admin.Sub, Key: k, Hash: []byte(k)}
	}
	// Passes until the stream is drained, once every outbox row is readable: the stream reads a row only when no
	// older transaction of the (shared) server still runs.
	drain := func() (passes []jsonReport) {
		t.Helper()
		deadline := time.Now().Add(time.Minute)
		for {
			var waiting bool
			require.NoError(t, pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM outbox_events
				WHERE transaction_id >= pg_snapshot_xmin(pg_current_snapshot()))`).Scan(&waiting))
			if !waiting {
				break
			}
			require.True(t, time.Now().Before(deadline), "outbox rows never became readable")
			time.Sleep(20 * time.Millisecond)
		}
		for time.Now().Before(deadline) {
			code, js, _ := audit(t, "--incremental", "--json")
			require.Contains(t, []int{exitClean, exitDiscrepancy}, code, js)
			var rep jsonReport
			require.NoError(t, json.Unmarshal([]byte(js), &rep), js)
			require.Equal(t, projector.ModeIncremental, rep.Mode)
			if rep.Events == 0 {
				return passes
			}
			passes = append(passes, rep)
		}
		t.Fatal("the incremental audit never drained the outbox")
		return nil
	}
	drain()

	w := uuid.New()
	_, err := cmds.CreateWallet.Run(ctx, admin, idem(), command.CreateWallet{WalletID: w, Asset: "NZD", Owner: "ann"})
	require.NoError(t, err)
	_, err = cmds.Adjust.Run(ctx, admin, idem(), command.Adjustment{WalletID: w, Asset: "NZD", Amount: 300, Reason: "seed"})
	require.NoError(t, err)
	passes := drain()
	require.NotEmpty(t, passes)
	for _, p := range passes {
		assert.True(t, p.Clean, "%+v", p.Findings)
	}

	_, err = pool.Exec(ctx, `UPDATE balance_projections SET balance = 299 WHERE wallet_id = $1`, w)
	require.NoError(t, err)
	_, err = cmds.Adjust.Run(ctx, admin, idem(), command.Adjustment{WalletID: w, Asset: "NZD", Amount: 1, Reason: "more"})
	require.NoError(t, err)
	passes = drain()
	var found bool
	for _, p := range passes {
		for _, f := range p.Findings {
			found = found || (f.WalletID != nil && *f.WalletID == w && f.JournalBalance == 301 && f.ProjectedBalance == 300)
		}
	}
	assert.True(t, found, "the pass that covered the new adjustment reports the corrupted projection: %+v", passes)
}

// With READ_DATABASE_URL (a streaming standby) the CronJob's sweep reads the standby: a projection corrupted on the
// primary is found there once replayed, and the report says where it read.
func TestAuditSweepsTheStandby(t *testing.T) {
	ctx := context.Background()
	l := newLedger(t)
	standby := pgtest.StandbyURL(t, l.url)
	pgtest.HoldStandby(t, false) // no other package's test pauses or stops it meanwhile
	t.Setenv("DATABASE_URL", l.url)
	w := l.fundedWallet(t, "STB", 500)
	_, err := l.pool.Exec(ctx, `UPDATE balance_projections SET balance = 499 WHERE wallet_id = $1`, w)
	require.NoError(t, err)
	var written string
	require.NoError(t, l.pool.QueryRow(ctx, `SELECT pg_current_wal_lsn()::text`).Scan(&written))
	pgtest.WaitReplayed(t, standby, written, 2*time.Minute)

	t.Setenv("READ_DATABASE_URL", standby)
	code, js, logs := audit(t, "--json")
	require.Equal(t, exitDiscrepancy, code, "%s\n%s", js, logs)
	var rep struct {
		jsonReport
		Source string `json:"source"`
	}
	require.NoError(t, json.Unmarshal([]byte(js), &rep), js)
	assert.Equal(t, projector.SourceReplica, rep.Source, "the sweep read the standby: %s", logs)
	assert.Contains(t, js, `"projected_balance":499,"journal_balance":500`)
	code, text, _ := audit(t)
	require.Equal(t, exitDiscrepancy, code, text)
	assert.Contains(t, text, "read on the replica")
}

// A READ_DATABASE_URL that cannot serve the sweep leaves it to the primary, with a warning: one that does not
// answer, and one that answers but is no standby (a promoted or misconfigured node must not be audited as the
// ledger). The sweep finds the same there.
func TestAuditSweepsThePrimaryWhenTheStandbyCannot(t *testing.T) {
	ctx := context.Background()
	l := newLedger(t)
	t.Setenv("DATABASE_URL", l.url)
	w := l.fundedWallet(t, "STP", 500)
	_, err := l.pool.Exec(ctx, `UPDATE balance_projections SET balance = 501 WHERE wallet_id = $1`, w)
	require.NoError(t, err)
	for name, replica := range map[string]string{
		"down":          "postgres://postgres@127.0.0.1:1/none?sslmode=disable&connect_timeout=1",
		"not a standby": l.url,
	} {
		t.Run(name, func(t *testing.T) {
			t.Setenv("READ_DATABASE_URL", replica)
			code, js, logs := audit(t, "--json")
			require.Equal(t, exitDiscrepancy, code, "%s\n%s", js, logs)
			assert.Contains(t, js, `"source":"primary"`)
			assert.Contains(t, js, `"projected_balance":501,"journal_balance":500`)
			assert.Contains(t, logs, "full audit on the replica failed; sweeping the primary")
		})
	}
	t.Setenv("READ_DATABASE_URL", "")
	code, js, logs := audit(t, "--json")
	require.Equal(t, exitDiscrepancy, code, "%s\n%s", js, logs)
	assert.Contains(t, js, `"source":"primary"`)
	assert.NotContains(t, logs, "replica", "no standby configured: nothing to fall back from")
}
