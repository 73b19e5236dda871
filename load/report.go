package load

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
	"github.com/tsenart/vegeta/v12/lib/plot"

	"github.com/agentic-commerce/wallet-ledger/client"
)

// RetryStats summarises the deliberate same-key retries.
type RetryStats struct {
	KeysWritten     int      `json:"keys_written"`
	Committed       int      `json:"committed"`
	RetryMismatches []string `json:"retry_mismatches,omitempty"`
}

// RecoveryReport is the latency of the writes the recovery threshold judges:
// those started FromS seconds into the run or later.
type RecoveryReport struct {
	FromS      float64 `json:"from_s"`
	Writes     int     `json:"writes"`
	WriteP95MS float64 `json:"write_p95_ms"`
}

// Report is a run's outcome, printed and written as JSON.
type Report struct {
	Scenario        string          `json:"scenario"`
	BaseURL         string          `json:"base_url"`
	Stages          []Stage         `json:"stages"`
	StartedAt       time.Time       `json:"started_at"`
	DurationS       float64         `json:"duration_s"`
	Requests        int             `json:"requests"`
	ExpectedReqs    float64         `json:"expected_requests"`
	OKPerSec        float64         `json:"ok_per_second"`
	TransfersPerSec float64         `json:"transfers_committed_per_second"`
	WriteP50MS      float64         `json:"write_p50_ms"`
	WriteP95MS      float64         `json:"write_p95_ms"`
	WriteP99MS      float64         `json:"write_p99_ms"`
	WriteMaxMS      float64         `json:"write_max_ms"`
	Recovery        *RecoveryReport `json:"recovery,omitempty"`
	Errors          int             `json:"errors"`
	ErrorRate       float64         `json:"error_rate"`
	// Unexpected counts the errors no load explains: answers outside the allowed statuses other than a shed 503 or
	// a client timeout (a 500, a 4xx the profile does not send for, a refused connection outside a fault).
	Unexpected int              `json:"unexpected"`
	Statuses   map[string]int   `json:"statuses"`
	Ops        map[Op]OpSummary `json:"operations"`
	Retries    RetryStats       `json:"retries"`
	Fault      *FaultReport     `json:"fault,omitempty"`
	Invariants InvariantResult  `json:"invariants"`
	Thresholds Thresholds       `json:"thresholds"`
	// Broken are the ledger's promises the run broke; they never depend on the machine's speed: an invariant, an
	// unexpected answer, a fault's fail-closed behaviour. The tests of make test require none.
	Broken []string `json:"broken"`
	// Missed are the speed thresholds the run missed: latency, error rate, throughput, hangs, recovery time.
	// make load, make resiliency and make bench-ceiling judge them.
	Missed []string `json:"missed"`
	// Failures are Broken and Missed together; Passed is true when there is none.
	Failures []string `json:"failures"`
	Passed   bool     `json:"passed"`
	plot     *opPlot
}

func buildReport(sc *Scenario, cfg RunConfig, col *collector, elapsed time.Duration, began time.Time, ft *faultTimes) *Report {
	r := &Report{Scenario: sc.Name, BaseURL: cfg.BaseURL, Stages: sc.Stages, StartedAt: began.UTC(), DurationS: elapsed.Seconds(),
		Requests: len(col.samples), ExpectedReqs: sc.ExpectedRequests(), Statuses: map[string]int{},
		Ops: col.summaries(elapsed), Thresholds: sc.Thresholds}
	var skip func(sample) bool
	if ft != nil && sc.Fault != nil {
		skip = func(s sample) bool { return inWindow(s, *ft, sc.Fault) }
	}
	// The fault window is left out: its latency is the timeout by design, judged by the fault analysis instead.
	w := percentiles(col.writeLatencies(skip))
	r.WriteP50MS, r.WriteP95MS, r.WriteP99MS, r.WriteMaxMS = w[0], w[1], w[2], w[3]
	if sc.Thresholds.Recovery != nil {
		from := sc.RecoveryStart()
		lats := col.writeLatencies(func(s sample) bool { return s.start < from })
		r.Recovery = &RecoveryReport{FromS: from.Seconds(), Writes: len(lats), WriteP95MS: percentiles(lats)[1]}
	}
	faultOK := map[int]bool{}
	for _, c := range sc.Thresholds.FaultStatuses {
		faultOK[c] = true
	}
	var ok int
	for _, s := range col.samples {
		r.Statuses[statusLabel(s.code)]++
		switch {
		case col.allowed[s.code]:
			ok++
		case faultExcused(s, sc, cfg.Fault, ft, faultOK):
			// A fail-closed answer during the fault: judged by the fault analysis.
		default:
			r.Errors++
			if !shedOrSlow(s) {
				r.Unexpected++
			}
		}
	}
	if r.Requests > 0 {
		r.ErrorRate = float64(r.Errors) / float64(r.Requests)
	}
	if elapsed > 0 {
		r.OKPerSec = float64(ok) / elapsed.Seconds()
		r.TransfersPerSec = float64(r.Ops[OpTransfer].OK) / elapsed.Seconds()
	}
	return r
}

// faultExcused reports whether a non-success answer is the fail-closed
// behaviour the fault window allows; the fault analysis judges those.
func faultExcused(s sample, sc *Scenario, plan *FaultPlan, ft *faultTimes, faultOK map[int]bool) bool {
	if sc.Fault == nil || ft == nil || plan == nil || !inWindow(s, *ft, sc.Fault) {
		return false
	}
	return faultOK[s.code] || (s.code == 0 && plan.AllowTransportErrors && !isTimeout(s.err))
}

// shedOrSlow reports whether an error is one a loaded machine explains: a 503 (load shed, a timeout inside the
// service) or the client giving up on a slow answer. Anything else is a wrong answer, whatever the load.
func shedOrSlow(s sample) bool {
	return s.code == http.StatusServiceUnavailable || (s.code == 0 && isTimeout(s.err))
}

func retryStats(outcomes map[string]*outcome, issues []string) RetryStats {
	st := RetryStats{KeysWritten: len(outcomes), RetryMismatches: issues}
	for _, o := range outcomes {
		if o.status == http.StatusCreated {
			st.Committed++
		}
	}
	return st
}

// evaluate turns the checks into Broken (promises, whatever the speed) and the thresholds into Missed (speed).
func (r *Report) evaluate(sc *Scenario) {
	t := sc.Thresholds
	if r.Unexpected > 0 {
		r.Broken = append(r.Broken, fmt.Sprintf("%d answers no load explains (neither allowed, nor a 503, nor a timeout): see statuses", r.Unexpected))
	}
	if r.Fault != nil {
		for _, p := range r.Fault.Problems {
			r.Broken = append(r.Broken, "fault "+r.Fault.Name+": "+p)
		}
	}
	r.Broken = append(r.Broken, r.Invariants.Violations...)

	if r.WriteP95MS > t.P95WriteMS {
		r.Missed = append(r.Missed, fmt.Sprintf("p95 write latency %.1f ms > %.0f ms", r.WriteP95MS, t.P95WriteMS))
	}
	if rec := r.Recovery; rec != nil && t.Recovery != nil {
		switch {
		case rec.Writes == 0:
			r.Missed = append(r.Missed, fmt.Sprintf("no writes from %.1f s on to judge the recovery by", rec.FromS))
		case rec.WriteP95MS > t.Recovery.P95WriteMS:
			r.Missed = append(r.Missed, fmt.Sprintf("not recovered: p95 write latency %.1f ms > %.0f ms for writes from %.1f s on",
				rec.WriteP95MS, t.Recovery.P95WriteMS, rec.FromS))
		}
	}
	if r.ErrorRate > t.MaxErrorRate {
		r.Missed = append(r.Missed, fmt.Sprintf("error rate %.5f > %.5f (%d errors)", r.ErrorRate, t.MaxErrorRate, r.Errors))
	}
	if r.ExpectedReqs > 0 {
		okCount := 0
		for _, o := range r.Ops {
			okCount += o.OK
		}
		if ratio := float64(okCount) / r.ExpectedReqs; ratio < t.MinThroughputRatio {
			r.Missed = append(r.Missed, fmt.Sprintf("only %.1f%% of the scheduled requests succeeded (want >= %.0f%%)", 100*ratio, 100*t.MinThroughputRatio))
		}
	}
	if r.Fault != nil {
		for _, m := range r.Fault.Missed {
			r.Missed = append(r.Missed, "fault "+r.Fault.Name+": "+m)
		}
	}
	r.Failures = append(append([]string(nil), r.Broken...), r.Missed...)
	r.Passed = len(r.Failures) == 0
}

// checkAfter gathers what the invariant checker needs once the run is over.
func checkAfter(ctx context.Context, cfg RunConfig, reader *client.Client, sc *Scenario, seeded []string,
	before map[string]int64, outcomes map[string]*outcome, retryIssues []string) (InvariantResult, error) {
	ids := append([]string(nil), seeded...)
	var committedTx []string
	var adjusted int64
	for _, o := range outcomes {
		if o.status != http.StatusCreated {
			continue
		}
		switch o.op {
		case OpCreateWallet:
			ids = append(ids, o.walletID)
		case OpAdjustment:
			adjusted += o.amount
			committedTx = append(committedTx, o.txID)
		default:
			committedTx = append(committedTx, o.txID)
		}
	}
	after, err := Balances(ctx, reader, ids)
	if err != nil {
		return InvariantResult{}, fmt.Errorf("read balances after the run: %w", err)
	}
	audits, auditErrs := Audits(ctx, reader, ids)
	in := InvariantInput{Asset: sc.Population.Asset, Before: before, After: after, AdjustedNet: adjusted,
		Audits: audits, AuditErrors: auditErrs, RetryMismatches: retryIssues}
	if cfg.DatabaseURL != "" {
		in.DB, err = ReadDBFacts(ctx, cfg.DatabaseURL, committedTx)
		if err != nil {
			return InvariantResult{}, err
		}
	} else {
		// Without the database, ask the API for every committed transaction
		// (bounded, so a long soak does not spend minutes here).
		sample := committedTx
		if len(sample) > 5000 {
			sample = sample[:5000]
		}
		in.MissingCommitted, err = MissingTransactions(ctx, reader, sample)
		if err != nil {
			return InvariantResult{}, fmt.Errorf("look up committed transactions: %w", err)
		}
	}
	return CheckInvariants(in), nil
}

// opPlot wraps vegeta's HTML plot, one line per operation and outcome.
type opPlot struct{ p *plot.Plot }

func newPlot(title string) *opPlot {
	return &opPlot{p: plot.New(plot.Title("wallet-ledger "+title), plot.Downsample(4000), plot.Label(func(r *vegeta.Result) string {
		op, _ := parseFragment(r.URL)
		return fmt.Sprintf("%s %s", op, statusLabel(int(r.Code)))
	}))}
}

func (o *opPlot) add(r *vegeta.Result, _ Op) { _ = o.p.Add(r) }

// Print writes the human summary.
func (r *Report) Print(w io.Writer) {
	fmt.Fprintf(w, "\n== %s against %s: %d requests in %.1fs (%.0f ok/s, %.0f transfers committed/s)\n",
		r.Scenario, r.BaseURL, r.Requests, r.DurationS, r.OKPerSec, r.TransfersPerSec)
	fmt.Fprintf(w, "%-17s %8s %8s %9s %9s %9s %9s  %s\n", "operation", "count", "ok/s", "p50 ms", "p95 ms", "p99 ms", "max ms", "statuses")
	for _, op := range append(AllOps, "unknown") {
		s, ok := r.Ops[op]
		if !ok {
			continue
		}
		fmt.Fprintf(w, "%-17s %8d %8.1f %9.2f %9.2f %9.2f %9.2f  %s\n", op, s.Count, s.PerSec, s.P50MS, s.P95MS, s.P99MS, s.MaxMS, fmtCounts(s.Statuses))
		for e, n := range s.Errors {
			fmt.Fprintf(w, "%17s %8d x %s\n", "", n, e)
		}
	}
	fmt.Fprintf(w, "%-17s %8s %8s %9.2f %9.2f %9.2f %9.2f\n", "all writes", "", "", r.WriteP50MS, r.WriteP95MS, r.WriteP99MS, r.WriteMaxMS)
	if rec := r.Recovery; rec != nil {
		fmt.Fprintf(w, "recovery: %d writes from %.1fs on, p95 %.2f ms\n", rec.Writes, rec.FromS, rec.WriteP95MS)
	}
	fmt.Fprintf(w, "statuses: %s; errors %d (rate %.5f)\n", fmtCounts(r.Statuses), r.Errors, r.ErrorRate)
	fmt.Fprintf(w, "idempotency: %d keys written, %d committed, %d retry mismatches\n", r.Retries.KeysWritten, r.Retries.Committed, len(r.Retries.RetryMismatches))
	if f := r.Fault; f != nil {
		fmt.Fprintf(w, "fault %s: injected %.1fs, healed %.1fs, window %s, writes refused %d, committed %d, recovery %.2fs\n",
			f.Name, f.InjectedAtS, f.HealedAtS, fmtCounts(f.WindowStatuses), f.WritesRefused, f.WritesCommitted, f.RecoveryS)
	}
	inv := r.Invariants
	fmt.Fprintf(w, "invariants: %d wallets, total %d -> %d (adjustments %+d), %d audits", inv.WalletsChecked, inv.BeforeTotal, inv.AfterTotal, inv.AdjustedNet, inv.AuditsChecked)
	if db := inv.DB; db != nil {
		fmt.Fprintf(w, "; db balance sums %v, journal sums %v, duplicate keys %d, 201s checked %d missing %d",
			db.BalanceSums, db.JournalSums, db.DuplicateKeys, db.CommittedChecked, db.MissingCommitted)
	}
	fmt.Fprintln(w)
	if r.Passed {
		fmt.Fprintln(w, "PASS")
		return
	}
	for _, f := range r.Broken {
		fmt.Fprintln(w, "FAIL (broken):", f)
	}
	for _, f := range r.Missed {
		fmt.Fprintln(w, "FAIL (missed):", f)
	}
}

// Write stores the JSON report and the HTML plot in dir and returns the
// JSON report's path.
func (r *Report) Write(dir string) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("create report dir: %w", err)
	}
	stem := filepath.Join(dir, fmt.Sprintf("%s-%s", r.Scenario, r.StartedAt.Format("20060102T150405Z")))
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return "", fmt.Errorf("encode report: %w", err)
	}
	if err := os.WriteFile(stem+".json", b, 0o644); err != nil {
		return "", fmt.Errorf("write report: %w", err)
	}
	if r.plot != nil {
		f, err := os.Create(stem + ".html")
		if err != nil {
			return "", fmt.Errorf("create plot: %w", err)
		}
		r.plot.p.Close()
		if _, err := r.plot.p.WriteTo(f); err != nil {
			f.Close()
			return "", fmt.Errorf("write plot: %w", err)
		}
		if err := f.Close(); err != nil {
			return "", fmt.Errorf("close plot: %w", err)
		}
	}
	return stem + ".json", nil
}

func fmtCounts(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%d", k, m[k])
	}
	return strings.Join(parts, " ")
}
