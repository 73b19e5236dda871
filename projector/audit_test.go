package projector_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentic-commerce/wallet-ledger/internal/pgtest"
	"github.com/agentic-commerce/wallet-ledger/projector"
)

func walletFindings(r projector.Report) []projector.Finding {
	var out []projector.Finding
	for _, f := range r.Findings {
		if f.WalletID != nil {
			out = append(out, f)
		}
	}
	return out
}

// A projection corrupted behind the ledger's back is reported, with both sums, by the one-wallet audit, the
// incremental and the full pass and the relay's continuous loop; rebuild --apply repairs exactly it.
func TestCorruptedProjectionIsFoundAndRebuilt(t *testing.T) {
	ctx := context.Background()
	l := newLedger(t, freshPool(t))
	log, logs := newLogger()
	auditor, err := projector.NewAuditor(l.store, log)
	require.NoError(t, err)

	a, b := l.wallet("EUR"), l.wallet("EUR")
	l.adjust(a, "EUR", 1000)
	ok, err := l.transfer(ctx, a, b, "EUR", 250)
	require.NoError(t, err)
	require.True(t, ok)
	clean, err := auditor.Full(ctx)
	require.NoError(t, err)
	require.True(t, clean.Clean(), "before corruption: %+v", clean.Findings)
	drainAudit(t, l, auditor) // consume everything written so far

	_, err = l.pool.Exec(ctx, `UPDATE balance_projections SET balance = balance + 7 WHERE wallet_id = $1`, b)
	require.NoError(t, err)

	// One wallet: the endpoint's path.
	one, err := auditor.Wallet(ctx, b)
	require.NoError(t, err)
	assert.False(t, one.Consistent())
	assert.Equal(t, int64(257), one.ProjectedBalance)
	assert.Equal(t, int64(250), one.JournalBalance)
	viaAPI, err := projector.AuditWallet(ctx, l.store, b)
	require.NoError(t, err)
	assert.Equal(t, one.ProjectedBalance, viaAPI.ProjectedBalance)
	assert.Equal(t, one.JournalBalance, viaAPI.JournalBalance)

	// Full sweep: exactly that wallet, and the asset no longer sums to zero.
	full, err := auditor.Full(ctx)
	require.NoError(t, err)
	wf := walletFindings(full)
	require.Len(t, wf, 1, "%+v", full.Findings)
	assert.Equal(t, b, *wf[0].WalletID)
	assert.Equal(t, projector.FindingWalletMismatch, wf[0].Kind)
	assert.Equal(t, int64(257), wf[0].ProjectedBalance)
	assert.Equal(t, int64(250), wf[0].JournalBalance)
	assertAssetFinding(t, full, "EUR", "7")

	// Incremental: the corruption emitted no event; the next write to b brings it into the pass.
	ok, err = l.transfer(ctx, b, a, "EUR", 10)
	require.NoError(t, err)
	require.True(t, ok)
	inc := drainAudit(t, l, auditor)
	wf = walletFindings(inc)
	require.Len(t, wf, 1, "%+v %+v", inc, inc.Findings)
	assert.Equal(t, b, *wf[0].WalletID)
	assert.Equal(t, int64(247), wf[0].ProjectedBalance)
	assert.Equal(t, int64(240), wf[0].JournalBalance)
	assert.Equal(t, int64(2), inc.Wallets, "only the two wallets the transfer touched")

	// One log line per discrepancy, naming the wallet and both sums.
	lines := logs.lines(`"wallet_id":"` + b.String() + `"`)
	require.NotEmpty(t, lines)
	var rec map[string]any
	require.NoError(t, json.Unmarshal([]byte(lines[0]), &rec))
	assert.Equal(t, "audit discrepancy", rec["msg"])
	assert.EqualValues(t, 257, rec["projected_balance"])
	assert.EqualValues(t, 250, rec["journal_balance"])

	// The relay's continuous loop reports it as open, through the metric hook.
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	open := &projector.OpenFindings{}
	observed := make(chan int64, 100)
	cfg := projector.WorkerConfig{AuditInterval: 50 * time.Millisecond, AuditFullInterval: 200 * time.Millisecond}
	done := make(chan struct{})
	go func() {
		defer close(done)
		projector.RunAudit(runCtx, auditor, cfg, open, func(n int64, _ time.Time) { observed <- n })
	}()
	require.Equal(t, int64(2), <-observed, "the wallet and its asset")
	var mine []projector.Finding
	for _, f := range open.Snapshot() {
		if f.WalletID != nil {
			mine = append(mine, f)
		}
	}
	require.Len(t, mine, 1)
	assert.Equal(t, b, *mine[0].WalletID)

	// Rebuild: the dry run names the wallet, the apply repairs only it.
	plan, err := projector.PlanRebuild(ctx, l.store)
	require.NoError(t, err)
	require.Len(t, plan.Diffs, 1, "%+v", plan.Diffs)
	assert.Equal(t, b, plan.Diffs[0].WalletID)
	assert.Equal(t, int64(247), plan.Diffs[0].Current.Balance)
	assert.Equal(t, int64(240), plan.Diffs[0].Replayed.Balance)
	changed, err := projector.ApplyRebuild(ctx, l.store, plan)
	require.NoError(t, err)
	assert.Equal(t, int64(1), changed)

	after, err := auditor.Full(ctx)
	require.NoError(t, err)
	assert.True(t, after.Clean(), "%+v", after.Findings)
	var lastClean time.Time
	var discrepancies int64
	require.NoError(t, l.pool.QueryRow(ctx, `SELECT discrepancies, last_clean_at FROM audit_runs WHERE mode = 'full'`).
		Scan(&discrepancies, &lastClean))
	assert.Equal(t, int64(0), discrepancies)
	assert.WithinDuration(t, after.FinishedAt, lastClean, time.Second)
	// The continuous loop's next full sweep retires the findings.
	eventually(t, patience, func() bool {
		for {
			select {
			case n := <-observed:
				if n == 0 {
					return true
				}
			default:
				return false
			}
		}
	}, "the continuous audit to report zero open findings")
	cancel()
	pgtest.WaitOrTimeout(t, done, patience)
}

// drainAudit runs incremental passes until the audit's checkpoint has reached the end of the outbox. The stream
// only reads rows below the xmin of the cluster's snapshot, so a long transaction anywhere on the shared test server
// can hold it back for a while. It returns the passes merged.
func drainAudit(t *testing.T, l *ledger, auditor *projector.Auditor) projector.Report {
	t.Helper()
	var all projector.Report
	eventually(t, patience, func() bool {
		r, err := auditor.Incremental(context.Background())
		require.NoError(t, err)
		all.Events += r.Events
		all.Wallets += r.Wallets
		all.Findings = append(all.Findings, r.Findings...)
		return pendingEvents(t, l, projector.ConsumerAudit) == 0
	}, "the incremental audit to consume the outbox")
	return all
}

func pendingEvents(t *testing.T, l *ledger, consumer string) int64 {
	var n int64
	require.NoError(t, l.pool.QueryRow(context.Background(), `SELECT count(*) FROM outbox_events o, read_side_checkpoints c
		WHERE c.consumer = $1 AND (o.transaction_id, o."offset") > (c.last_xid, c.last_offset)`, consumer).Scan(&n))
	return n
}

func assertAssetFinding(t *testing.T, r projector.Report, asset, sum string) {
	t.Helper()
	for _, f := range r.Findings {
		if f.Kind == projector.FindingAssetSumNotZero && f.Asset == asset {
			assert.Equal(t, sum, f.Sum)
			return
		}
	}
	t.Errorf("no %s finding for %s in %+v", projector.FindingAssetSumNotZero, asset, r.Findings)
}

// After a concurrent random workload, deleting every projection and rebuilding from the journal gives back the
// very rows the writers maintained: balance, held, version and updated_at.
func TestRebuildFromEmptyEqualsWriters(t *testing.T) {
	ctx := context.Background()
	l := newLedger(t, freshPool(t))
	wallets := make([]uuid.UUID, 10)
	for i := range wallets {
		wallets[i] = l.wallet("GBP")
		l.adjust(wallets[i], "GBP", 2000)
	}
	committed := l.randomWorkload(wallets, "GBP", 6, 400)
	require.Greater(t, committed, int64(100))

	dump := func() string {
		var s string
		require.NoError(t, l.pool.QueryRow(ctx, `SELECT coalesce(string_agg(p::text, E'\n' ORDER BY wallet_id), '')
			FROM balance_projections p`).Scan(&s))
		return s
	}
	before := dump()
	_, err := l.pool.Exec(ctx, `DELETE FROM balance_projections`)
	require.NoError(t, err)

	plan, err := projector.PlanRebuild(ctx, l.store)
	require.NoError(t, err)
	require.Equal(t, plan.Wallets, len(plan.Diffs))
	for _, d := range plan.Diffs {
		require.True(t, d.Missing)
	}
	changed, err := projector.ApplyRebuild(ctx, l.store, plan)
	require.NoError(t, err)
	assert.Equal(t, int64(plan.Wallets), changed)
	after := dump()
	assert.Equal(t, before, after)
	assert.True(t, strings.Count(after, "\n") >= 10)

	again, err := projector.PlanRebuild(ctx, l.store)
	require.NoError(t, err)
	assert.Empty(t, again.Diffs)
}

// auditedPair is a fresh ledger with two wallets of asset, a funded with 300, and an auditor whose continuous
// audit has covered that: a's verified prefix is the adjustment.
func auditedPair(t *testing.T, asset string) (l *ledger, auditor *projector.Auditor, a, b uuid.UUID) {
	t.Helper()
	l = newLedger(t, freshPool(t))
	auditor, err := projector.NewAuditor(l.store, nil)
	require.NoError(t, err)
	a, b = l.wallet(asset), l.wallet(asset)
	l.adjust(a, asset, 300)
	drainAudit(t, l, auditor)
	return l, auditor, a, b
}

// A stale prefix sum alone never produces a finding: the incremental pass rechecks a suspect wallet over its whole
// journal and stores the recomputed sum.
func TestIncrementalRechecksStalePrefix(t *testing.T) {
	ctx := context.Background()
	l, auditor, a, b := auditedPair(t, "CHF")
	_, err := l.pool.Exec(ctx, `UPDATE audit_wallet_sums SET balance = balance + 50 WHERE wallet_id = $1`, a)
	require.NoError(t, err)
	ok, err := l.transfer(ctx, a, b, "CHF", 20)
	require.NoError(t, err)
	require.True(t, ok)
	r := drainAudit(t, l, auditor)
	assert.Empty(t, r.Findings)
	var prefix int64
	require.NoError(t, l.pool.QueryRow(ctx, `SELECT balance FROM audit_wallet_sums WHERE wallet_id = $1`, a).Scan(&prefix))
	assert.Equal(t, int64(280), prefix)
}

// A wallet's audit adds the entries after its verified prefix; a stale prefix never makes a consistent wallet look
// inconsistent (the wallet is summed again from its whole journal), and a wrong projection is still found.
func TestWalletAuditFromItsPrefix(t *testing.T) {
	ctx := context.Background()
	l, auditor, a, b := auditedPair(t, "SEK")
	ok, err := l.transfer(ctx, a, b, "SEK", 20)
	require.NoError(t, err)
	require.True(t, ok)

	check := func(consistent bool, projected int64) {
		t.Helper()
		w, err := auditor.Wallet(ctx, a)
		require.NoError(t, err)
		assert.Equal(t, consistent, w.Consistent())
		assert.Equal(t, int64(280), w.JournalBalance, "the journal's sum, whatever the prefix says")
		assert.Equal(t, int64(2), w.EntryCount)
		assert.Equal(t, projected, w.ProjectedBalance)
	}
	check(true, 280)
	_, err = l.pool.Exec(ctx, `UPDATE audit_wallet_sums SET balance = balance + 50 WHERE wallet_id = $1`, a)
	require.NoError(t, err)
	check(true, 280)
	_, err = l.pool.Exec(ctx, `UPDATE balance_projections SET balance = balance + 7 WHERE wallet_id = $1`, a)
	require.NoError(t, err)
	check(false, 287)
}
