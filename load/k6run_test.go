package load

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentic-commerce/wallet-ledger/api/apitest"
)

// k6Run is what testdata/k6shim/run.mjs prints: the script's exported options and what the stand-in modules saw.
type k6Run struct {
	Options struct {
		Scenarios map[string]struct {
			Executor  string `json:"executor"`
			StartRate int    `json:"startRate"`
			MaxVUs    int    `json:"maxVUs"`
			Stages    []struct {
				Target   int    `json:"target"`
				Duration string `json:"duration"`
			} `json:"stages"`
		} `json:"scenarios"`
		Thresholds     map[string][]string `json:"thresholds"`
		HTTPReqTimeout string              `json:"httpReqTimeout"`
	} `json:"options"`
	Checks   map[string]struct{ Pass, Fail int } `json:"checks"`
	Counters map[string]int                      `json:"counters"`
	Statuses map[string]map[string]int           `json:"statuses"`
	Keys     map[string]int                      `json:"keys"`
	Phases   map[string]int                      `json:"phases"`
	Replayed int                                 `json:"replayed"`
	Errors   []string                            `json:"errors"`
}

// smallPopulation is scenarios.json with every profile's population cut to n wallets (at most 3 of them hot), so
// that a test can seed it; rates, mixes and thresholds stay as shipped.
func smallPopulation(t *testing.T, n int) []byte {
	t.Helper()
	b, err := os.ReadFile("data/scenarios.json")
	require.NoError(t, err)
	var doc map[string]any
	require.NoError(t, json.Unmarshal(b, &doc))
	for _, sc := range doc["scenarios"].(map[string]any) {
		pop := sc.(map[string]any)["population"].(map[string]any)
		pop["wallets"] = n
		pop["hot_wallets"] = min(pop["hot_wallets"].(float64), 3)
	}
	out, err := json.Marshal(doc)
	require.NoError(t, err)
	return out
}

// TestK6ScriptsRunAgainstRealAPI runs each profile's k6 script, its own code, under Node against the real
// wallet-api: the k6 modules are stood in for by testdata/k6shim (k6 cannot be installed here), and the API sits
// behind a proxy that holds every exchange to the OpenAPI document. It shows what a syntax check cannot: the
// scripts' tokens are accepted, their requests succeed, a same-key retry replays the first transaction, their
// options carry the profile's rates and thresholds from scenarios.json, and the ledger balances afterwards.
func TestK6ScriptsRunAgainstRealAPI(t *testing.T) {
	const wallets, iterations = 12, 150
	data := smallPopulation(t, wallets)
	file, err := Parse(data)
	require.NoError(t, err)
	dir := k6Tree(t, data)
	shim := filepath.Join(filepath.Dir(dir), "k6shim", "run.mjs")

	bin := binaries(t)
	dbURL := freshDB(t)
	base := startAPI(t, bin, dbURL)
	ctx := context.Background()
	_, err = Seed(ctx, SeedConfig{BaseURL: base, Tokens: testTokens, Count: wallets, Asset: "USD",
		InitialBalance: 10_000_000, HTTP: contractClient(t)})
	require.NoError(t, err)
	proxy := apitest.NewProxy(t, base)

	for _, name := range file.Names() {
		t.Run(name, func(t *testing.T) {
			sc, err := file.Get(name)
			require.NoError(t, err)
			ctx, cancel := context.WithTimeout(ctx, time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, nodeBinary(t), shim, dir, name, fmt.Sprint(iterations))
			// The shim's clock spans the profile's duration over the iterations, so its phases come round.
			perIteration := sc.TotalDuration().Seconds() / iterations
			cmd.Env = append(os.Environ(), "BASE_URL="+proxy, "JWT_SECRET="+testSecret, "JWT_AUDIENCE="+testTokens.Audience,
				fmt.Sprintf("K6SHIM_SECONDS_PER_ITERATION=%g", perIteration))
			var stderr strings.Builder
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			require.NoError(t, err, "node: %s", stderr.String())
			var run k6Run
			require.NoError(t, json.Unmarshal(out, &run), "%s", out)
			assert.Empty(t, run.Errors)

			// Every answer is one the profile allows (503s only come with a fault, and there is none here).
			assert.Equal(t, iterations, run.Checks["status"].Pass, "status checks: %+v, answers %v", run.Checks, run.Statuses)
			assert.Zero(t, run.Checks["status"].Fail, "answers %v", run.Statuses)
			for op, route := range map[Op]string{OpTransfer: "POST /v1/transfers", OpCreateWallet: "POST /v1/wallets",
				OpAdjustment: "POST /v1/adjustments", OpBalanceRead: "GET balance_read", OpAudit: "GET audit"} {
				if sc.Mix[op] > 0 {
					assert.Positive(t, run.Statuses[route]["200"]+run.Statuses[route]["201"], "%s never succeeded: %v", op, run.Statuses)
				}
			}
			// A share of transfers is sent again under its key, and each replay names the first transaction.
			if sc.Mix[OpIdempotentRetry] > 0 {
				retried := 0
				for _, n := range run.Keys {
					if n > 1 {
						retried++
					}
				}
				assert.Positive(t, retried, "no key was sent twice")
				assert.Positive(t, run.Replayed, "no answer was a replay")
				assert.Positive(t, run.Checks["retry replays the same transaction"].Pass)
			}
			assert.Zero(t, run.Checks["retry replays the same transaction"].Fail)
			assert.Zero(t, run.Counters["idempotent_retry_mismatches"])

			// The executor plays scenarios.json's stages and thresholds.
			opt, ok := run.Options.Scenarios[name]
			require.True(t, ok, "options name the scenario %s", name)
			assert.Equal(t, "ramping-arrival-rate", opt.Executor)
			assert.Equal(t, sc.Stages[0].Rate, opt.StartRate)
			assert.Equal(t, sc.MaxVUs, opt.MaxVUs)
			require.Len(t, opt.Stages, 2*len(sc.Stages))
			var total time.Duration
			for i, st := range opt.Stages {
				assert.Equal(t, sc.Stages[i/2].Rate, st.Target)
				d, err := time.ParseDuration(st.Duration)
				require.NoError(t, err)
				total += d
			}
			assert.Equal(t, sc.TotalDuration(), total)
			assert.Equal(t, []string{fmt.Sprintf("p(95)<%g", sc.Thresholds.P95WriteMS)}, run.Options.Thresholds["http_req_duration{kind:write}"])
			assert.Equal(t, []string{fmt.Sprintf("rate>=%g", 1-sc.Thresholds.MaxErrorRate)}, run.Options.Thresholds["checks{check:status}"])
			// Writes from recovery_start on carry phase:recovery, which the recovery threshold selects.
			writes := run.Phases["load"] + run.Phases["recovery"]
			if rec := sc.Thresholds.Recovery; rec != nil {
				assert.Equal(t, []string{fmt.Sprintf("p(95)<%g", rec.P95WriteMS)}, run.Options.Thresholds["http_req_duration{kind:write,phase:recovery}"])
				share := 1 - sc.RecoveryStart().Seconds()/sc.TotalDuration().Seconds()
				assert.InDelta(t, share, float64(run.Phases["recovery"])/float64(writes), 0.1, "phases %v", run.Phases)
			} else {
				assert.NotContains(t, run.Options.Thresholds, "http_req_duration{kind:write,phase:recovery}")
				assert.Zero(t, run.Phases["recovery"], "phases %v", run.Phases)
			}
			assert.Positive(t, run.Phases["load"])
			assert.Zero(t, run.Phases[""], "every write carries a phase")
			timeout, err := time.ParseDuration(run.Options.HTTPReqTimeout)
			require.NoError(t, err)
			assert.Equal(t, time.Duration(sc.RequestTimeout), timeout)
		})
	}

	facts, err := ReadDBFacts(ctx, dbURL, nil)
	require.NoError(t, err)
	assert.Zero(t, facts.BalanceSums["USD"], "money conserved")
	assert.Zero(t, facts.JournalSums["USD"])
	assert.Zero(t, facts.ProjectionMismatches)
	assert.Zero(t, facts.UnbalancedTransactions)
	assert.Zero(t, facts.DuplicateKeys, "no key moved money twice")
}
