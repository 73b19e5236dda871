package load

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/agentic-commerce/wallet-ledger/client"
)

func cleanInput() InvariantInput {
	return InvariantInput{
		Asset:       "USD",
		Before:      map[string]int64{"a": 100, "b": 50},
		After:       map[string]int64{"a": 70, "b": 75, "c": 10}, // c created during the run, funded +5 +10 -10... net
		AdjustedNet: 5,
		Audits: []client.BalanceAudit{
			{WalletID: "a", ProjectedBalance: 70, JournalBalance: 70, Consistent: true},
			{WalletID: "b", ProjectedBalance: 75, JournalBalance: 75, Consistent: true},
		},
		DB: &DBFacts{BalanceSums: map[string]int64{"USD": 0}, JournalSums: map[string]int64{"USD": 0}},
	}
}

func TestCheckInvariants(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(*InvariantInput)
		want   string
	}{
		{"clean", func(*InvariantInput) {}, ""},
		{"money created", func(in *InvariantInput) { in.After["a"]++ }, "money not conserved for USD"},
		{"money lost", func(in *InvariantInput) { in.After["c"] -= 3 }, "-3"},
		{"adjustment not accounted", func(in *InvariantInput) { in.AdjustedNet = 0 }, "money not conserved"},
		{"wallet vanished", func(in *InvariantInput) { delete(in.After, "b"); in.After["a"] += 75 }, "none after"},
		{"audit inconsistent", func(in *InvariantInput) {
			in.Audits[0] = client.BalanceAudit{WalletID: "a", ProjectedBalance: 70, JournalBalance: 69, Consistent: false}
		}, "audit of wallet a inconsistent"},
		{"audit says consistent but differs", func(in *InvariantInput) {
			in.Audits[0] = client.BalanceAudit{WalletID: "a", ProjectedBalance: 70, JournalBalance: 69, Consistent: true}
		}, "inconsistent"},
		{"balance read disagrees with audit", func(in *InvariantInput) {
			in.Audits[1] = client.BalanceAudit{WalletID: "b", ProjectedBalance: 74, JournalBalance: 74, Consistent: true}
		}, "balance 75 but audit projected 74"},
		{"audits unreadable", func(in *InvariantInput) { in.AuditErrors = 2 }, "2 audits could not be read"},
		{"retry mismatch", func(in *InvariantInput) { in.RetryMismatches = []string{"key k: retry returned transaction x"} }, "retry returned"},
		{"201 not committed (API)", func(in *InvariantInput) { in.MissingCommitted = []string{"tx1"} }, "tx1 was answered 201"},
		{"db balances do not sum to zero", func(in *InvariantInput) { in.DB.BalanceSums["EUR"] = 7 }, "balances of EUR"},
		{"db journal does not sum to zero", func(in *InvariantInput) { in.DB.JournalSums["USD"] = -1 }, "journal entries of USD"},
		{"db projection drift", func(in *InvariantInput) { in.DB.ProjectionMismatches = 1 }, "projections differ"},
		{"db unbalanced tx", func(in *InvariantInput) { in.DB.UnbalancedTransactions = 1 }, "do not balance"},
		{"db duplicate effect", func(in *InvariantInput) { in.DB.DuplicateKeys = 3 }, "3 idempotency keys took effect more than once"},
		{"db 201 not committed", func(in *InvariantInput) { in.DB.MissingCommitted = 1 }, "not in the journal"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := cleanInput()
			tc.mutate(&in)
			res := CheckInvariants(in)
			if tc.want == "" {
				assert.Empty(t, res.Violations)
				assert.Equal(t, int64(150), res.BeforeTotal)
				assert.Equal(t, int64(155), res.AfterTotal)
				return
			}
			if assert.NotEmpty(t, res.Violations) {
				assert.Contains(t, res.Violations[0]+"|"+joinAll(res.Violations), tc.want)
			}
		})
	}
}

func joinAll(v []string) string {
	s := ""
	for _, x := range v {
		s += x + "|"
	}
	return s
}

func result(url string, code int, body string, replayed bool) *vegeta.Result {
	h := http.Header{}
	if replayed {
		h.Set("Idempotent-Replayed", "true")
	}
	return &vegeta.Result{URL: url, Code: uint16(code), Body: []byte(body), Headers: h, Timestamp: time.Now()}
}

// TestTrackCatchesBrokenReplays drives the retry bookkeeping with the answers
// a correct and a broken server would give.
func TestTrackCatchesBrokenReplays(t *testing.T) {
	sc := &Scenario{Population: Population{Wallets: 10, Asset: "USD"}, Amount: AmountRange{Min: 1, Max: 5}}
	tr := newTargeter(sc, "http://127.0.0.1:1", "t", "u", "a", 1)
	tr.records["k1"] = &reqRecord{op: OpTransfer, path: "/v1/transfers"}
	tr.records["k2"] = &reqRecord{op: OpTransfer, path: "/v1/transfers"}
	tr.records["k3"] = &reqRecord{op: OpTransfer, path: "/v1/transfers"}
	out := map[string]*outcome{}
	first := `{"transaction_id":"tx-1"}`
	assert.Empty(t, track(tr, out, OpTransfer, "k1", result("u#op=transfer&key=k1", 201, first, false)))
	assert.Empty(t, track(tr, out, OpIdempotentRetry, "k1", result("u#op=idempotent_retry&key=k1", 201, first, true)))
	assert.Contains(t, track(tr, out, OpIdempotentRetry, "k1", result("u", 201, first, false)), "without Idempotent-Replayed")
	assert.Contains(t, track(tr, out, OpIdempotentRetry, "k1", result("u", 201, `{"transaction_id":"tx-2"}`, true)), "returned transaction tx-2")
	assert.Contains(t, track(tr, out, OpIdempotentRetry, "k1", result("u", 422, `{}`, false)), "answered 422")
	// A retry across a fault: the first answer was 503, the retry may commit fresh.
	assert.Empty(t, track(tr, out, OpTransfer, "k2", result("u", 503, `{}`, false)))
	assert.Empty(t, track(tr, out, OpIdempotentRetry, "k2", result("u", 201, `{"transaction_id":"tx-9"}`, false)))
	assert.Equal(t, "tx-9", out["k2"].txID)
	// Only committed and uncertain transfers are offered for a retry; a 422 is final.
	assert.Empty(t, track(tr, out, OpTransfer, "k3", result("u", 422, `{}`, false)))
	assert.ElementsMatch(t, []string{"k1", "k2"}, tr.retryQ)
}

func TestPercentilesNearestRank(t *testing.T) {
	var l []time.Duration
	for i := 1; i <= 100; i++ {
		l = append(l, time.Duration(i)*time.Millisecond)
	}
	assert.Equal(t, [4]float64{50, 95, 99, 100}, percentiles(l))
	assert.Equal(t, [4]float64{}, percentiles(nil))
}

func TestFaultAnalysis(t *testing.T) {
	sc := &Scenario{RequestTimeout: Duration(2 * time.Second),
		Fault:      &Fault{At: Duration(time.Second), Duration: Duration(time.Second), RecoveryWithin: Duration(time.Second)},
		Thresholds: Thresholds{AllowedStatuses: []int{200, 201}, FaultStatuses: []int{503}}}
	ft := faultTimes{injected: time.Second, healed: 2 * time.Second}
	s := func(startMS, latMS, code int, err string) sample {
		return sample{op: OpTransfer, start: time.Duration(startMS) * time.Millisecond, lat: time.Duration(latMS) * time.Millisecond, code: code, err: err}
	}
	good := []sample{s(100, 5, 201, ""), s(1100, 5, 503, ""), s(1500, 5, 503, ""), s(2100, 5, 201, ""), s(3500, 5, 201, "")}
	rep := analyseFault(sc, &FaultPlan{Name: "x"}, good, ft)
	assert.Empty(t, rep.Problems)
	assert.InDelta(t, 0.1, rep.RecoveryS, 0.001)
	assert.Equal(t, 2, rep.WritesRefused)

	bad := append(append([]sample{}, good...), s(1200, 5, 500, ""), s(1300, 3500, 0, "context deadline exceeded"))
	rep = analyseFault(sc, &FaultPlan{Name: "x"}, bad, ft)
	assert.Contains(t, joinAll(rep.Problems), "1 answers outside the allowed", "the 500; the client's timeout is a hang, not a wrong answer")
	assert.Contains(t, joinAll(rep.Missed), "hung past", "a hang is speed: missed, not broken")

	unnoticed := []sample{s(100, 5, 201, ""), s(1500, 5, 201, ""), s(2500, 5, 201, "")}
	rep = analyseFault(sc, &FaultPlan{Name: "x"}, unnoticed, ft)
	assert.Contains(t, joinAll(rep.Problems), "no write was refused")

	slow := []sample{s(1100, 5, 503, ""), s(2100, 5, 503, ""), s(4000, 5, 201, "")}
	rep = analyseFault(sc, &FaultPlan{Name: "x"}, slow, ft)
	assert.Contains(t, joinAll(rep.Missed), "recovery took 2.0s")
	assert.Empty(t, rep.Problems, "a slow recovery breaks no promise")

	refused := []sample{s(1100, 1, 0, "connection refused"), s(2100, 5, 201, "")}
	rep = analyseFault(sc, &FaultPlan{Name: "kill"}, refused, ft)
	assert.NotEmpty(t, rep.Problems, "refused connections only count as fail-closed when the API itself is the fault")
	rep = analyseFault(sc, &FaultPlan{Name: "kill", AllowTransportErrors: true}, refused, ft)
	assert.Empty(t, rep.Problems)
}

func TestLoopbackOnly(t *testing.T) {
	for u, want := range map[string]bool{"http://127.0.0.1:8080": true, "http://localhost:1": true, "http://[::1]:8080": true,
		"http://10.0.0.1:8080": false, "https://example.com": false, "http://127.9.9.9": true} {
		got, err := IsLoopbackURL(u)
		assert.NoError(t, err, u)
		assert.Equal(t, want, got, u)
	}
	_, err := IsLoopbackURL("ftp://127.0.0.1")
	assert.Error(t, err)
}
