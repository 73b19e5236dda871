package load

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestShippedScenariosParse(t *testing.T) {
	f, err := LoadFile("data/scenarios.json")
	require.NoError(t, err)
	assert.Equal(t, []string{"baseline", "hot_merchant", "resiliency_partition", "smoke", "soak", "spike"}, f.Names())

	base, err := f.Get("baseline")
	require.NoError(t, err)
	// The bar from the issue: 1,000 transfers/s for 60 s over 3000 uniform wallets, p95 < 150 ms, no errors.
	assert.Equal(t, 60*time.Second, base.TotalDuration())
	assert.InDelta(t, 1000, float64(base.Stages[0].Rate)*base.Mix[OpTransfer]/sumWeights(base.Mix), 1)
	assert.Equal(t, 3000, base.Population.Wallets)
	assert.Zero(t, base.Population.HotShare)
	assert.Equal(t, 150.0, base.Thresholds.P95WriteMS)
	assert.Zero(t, base.Thresholds.MaxErrorRate)

	res, err := f.Get("resiliency_partition")
	require.NoError(t, err)
	require.NotNil(t, res.Fault)
	assert.Contains(t, res.Thresholds.FaultStatuses, 503)
	assert.NotContains(t, res.Thresholds.AllowedStatuses, 503, "503 is excused only inside the fault window")

	_, err = f.Get("nope")
	assert.ErrorContains(t, err, "known: baseline")
}

func sumWeights(m map[Op]float64) float64 {
	var s float64
	for _, w := range m {
		s += w
	}
	return s
}

// validScenario is a minimal valid profile the table below breaks one field at a time.
func validScenario() map[string]any {
	return map[string]any{
		"stages":          []any{map[string]any{"duration": "2s", "rate": 10}},
		"max_vus":         10,
		"request_timeout": "5s",
		"mix":             map[string]any{"transfer": 1},
		"population":      map[string]any{"wallets": 10, "asset": "USD", "initial_balance": 1000, "hot_wallets": 0, "hot_share": 0},
		"amount":          map[string]any{"min": 1, "max": 10},
		"thresholds":      map[string]any{"p95_write_ms": 100, "max_error_rate": 0, "allowed_statuses": []int{201}, "min_throughput_ratio": 0.9},
	}
}

func doc(t *testing.T, sc map[string]any) []byte {
	b, err := json.Marshal(map[string]any{"version": 1, "scenarios": map[string]any{"x": sc}})
	require.NoError(t, err)
	return b
}

func TestParseRejectsBadScenarios(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(map[string]any)
		want   string
	}{
		{"valid", func(map[string]any) {}, ""},
		{"no stages", func(s map[string]any) { s["stages"] = []any{} }, "no stages"},
		{"zero rate", func(s map[string]any) { s["stages"] = []any{map[string]any{"duration": "1s", "rate": 0}} }, "rate must be positive"},
		{"bad duration", func(s map[string]any) { s["stages"] = []any{map[string]any{"duration": "ten", "rate": 1}} }, "parse duration"},
		{"unknown op", func(s map[string]any) { s["mix"] = map[string]any{"transfer": 1, "teleport": 1} }, "unknown operation"},
		{"negative weight", func(s map[string]any) { s["mix"] = map[string]any{"transfer": -1} }, "weight"},
		{"zero mix", func(s map[string]any) { s["mix"] = map[string]any{"transfer": 0} }, "sum to zero"},
		{"retry without transfers", func(s map[string]any) { s["mix"] = map[string]any{"audit": 1, "idempotent_retry": 1} }, "needs transfers"},
		{"one wallet", func(s map[string]any) { s["population"].(map[string]any)["wallets"] = 1 }, "at least 2"},
		{"bad asset", func(s map[string]any) { s["population"].(map[string]any)["asset"] = "usd" }, "asset"},
		{"hot share without hot wallets", func(s map[string]any) { s["population"].(map[string]any)["hot_share"] = 0.5 }, "hot_wallets"},
		{"amount above balance", func(s map[string]any) { s["amount"] = map[string]any{"min": 1, "max": 5000} }, "amount"},
		{"no allowed statuses", func(s map[string]any) { s["thresholds"].(map[string]any)["allowed_statuses"] = []int{} }, "allowed_statuses"},
		{"typo in threshold", func(s map[string]any) { s["thresholds"].(map[string]any)["p95_write_msec"] = 1 }, "unknown field"},
		{"recovery with one stage", func(s map[string]any) {
			s["thresholds"].(map[string]any)["recovery"] = map[string]any{"after": "1s", "p95_write_ms": 10}
		}, "a stage to recover from"},
		{"recovery after the last stage", func(s map[string]any) {
			s["stages"] = []any{map[string]any{"duration": "2s", "rate": 10}, map[string]any{"duration": "2s", "rate": 10}}
			s["thresholds"].(map[string]any)["recovery"] = map[string]any{"after": "2s", "p95_write_ms": 10}
		}, "within the last stage"},
		{"recovery without a bar", func(s map[string]any) {
			s["stages"] = []any{map[string]any{"duration": "2s", "rate": 10}, map[string]any{"duration": "2s", "rate": 10}}
			s["thresholds"].(map[string]any)["recovery"] = map[string]any{"after": "1s"}
		}, "recovery.p95_write_ms"},
		{"fault after the end", func(s map[string]any) {
			s["fault"] = map[string]any{"at": "1s", "duration": "5s", "recovery_within": "1s"}
			s["thresholds"].(map[string]any)["fault_statuses"] = []int{503}
		}, "heal before the run ends"},
		{"fault without fault statuses", func(s map[string]any) {
			s["stages"] = []any{map[string]any{"duration": "20s", "rate": 10}}
			s["fault"] = map[string]any{"at": "1s", "duration": "5s", "recovery_within": "1s"}
		}, "fault_statuses"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sc := validScenario()
			tc.mutate(sc)
			_, err := Parse(doc(t, sc))
			if tc.want == "" {
				assert.NoError(t, err)
				return
			}
			assert.ErrorContains(t, err, tc.want)
		})
	}
	_, err := Parse([]byte(`{"version":2,"scenarios":{}}`))
	assert.ErrorContains(t, err, "version 2")
}

func TestPickOpFollowsTheMix(t *testing.T) {
	sc := validScenario()
	sc["mix"] = map[string]any{"transfer": 3, "balance_read": 1}
	f, err := Parse(doc(t, sc))
	require.NoError(t, err)
	s := f.Scenarios["x"]
	counts := map[Op]int{}
	for i := 0; i < 1000; i++ {
		counts[s.PickOp(float64(i)/1000)]++
	}
	assert.Equal(t, map[Op]int{OpTransfer: 750, OpBalanceRead: 250}, counts)
}

func TestScaleDurationKeepsRatesAndMovesTheFault(t *testing.T) {
	f, err := LoadFile("data/scenarios.json")
	require.NoError(t, err)
	s := f.Scenarios["resiliency_partition"]
	s.ScaleDuration(20 * time.Second)
	assert.Equal(t, 20*time.Second, s.TotalDuration())
	assert.Equal(t, 150, s.Stages[0].Rate)
	assert.Equal(t, 5*time.Second, time.Duration(s.Fault.At))
	assert.Equal(t, 5*time.Second, time.Duration(s.Fault.Duration))
	require.NoError(t, s.Validate())
}

func TestSpikeMustRecoverAndScalesItsGrace(t *testing.T) {
	f, err := LoadFile("data/scenarios.json")
	require.NoError(t, err)
	s := f.Scenarios["spike"]
	require.NotNil(t, s.Thresholds.Recovery, "the spike is judged on its recovery")
	assert.Equal(t, 30*time.Second, s.RecoveryStart(), "15 s calm, 10 s burst, then 5 s of grace")
	s.ScaleDuration(9 * time.Second)
	assert.Equal(t, 6*time.Second, s.RecoveryStart())
	require.NoError(t, s.Validate())
}

func TestScaleRateKeepsTheShape(t *testing.T) {
	f, err := LoadFile("data/scenarios.json")
	require.NoError(t, err)
	s := f.Scenarios["spike"]
	require.Len(t, s.Stages, 3)
	before := s.TotalDuration()
	s.ScaleRate(3000) // the spike's 1,500/s stage doubles, and its 200/s stages with it
	assert.Equal(t, []int{400, 3000, 400}, []int{s.Stages[0].Rate, s.Stages[1].Rate, s.Stages[2].Rate})
	assert.Equal(t, before, s.TotalDuration())

	s.ScaleRate(1) // no stage rounds down to zero
	assert.Equal(t, []int{1, 1, 1}, []int{s.Stages[0].Rate, s.Stages[1].Rate, s.Stages[2].Rate})
	require.NoError(t, s.Validate())
}

func TestStagedPacerHoldsEachRate(t *testing.T) {
	p := stagedPacer{stages: []Stage{{Duration: Duration(2 * time.Second), Rate: 10}, {Duration: Duration(time.Second), Rate: 100}}}
	// Simulate: count the hits the pacer lets through in each stage.
	var hits uint64
	var now time.Duration
	for {
		wait, stop := p.Pace(now, hits)
		if stop {
			break
		}
		now += wait
		if now >= 3*time.Second {
			break
		}
		hits++
	}
	assert.InDelta(t, 120, float64(hits), 1)
	assert.Equal(t, 10.0, p.Rate(time.Second))
	assert.Equal(t, 100.0, p.Rate(2500*time.Millisecond))
	_, stop := p.Pace(3*time.Second, hits)
	assert.True(t, stop)
}

func TestK6ProfilesMatchScenarios(t *testing.T) {
	f, err := LoadFile("data/scenarios.json")
	require.NoError(t, err)
	for _, name := range f.Names() {
		b, err := os.ReadFile("k6/" + name + ".js")
		require.NoError(t, err, "scenario %s has no k6 script", name)
		assert.Contains(t, string(b), "const NAME = '"+name+"'", "k6/%s.js must run its own profile", name)
	}
	entries, err := os.ReadDir("k6")
	require.NoError(t, err)
	for _, e := range entries {
		n := strings.TrimSuffix(e.Name(), ".js")
		if n == "lib" || n == "ids" {
			continue
		}
		_, err := f.Get(n)
		assert.NoError(t, err, "k6/%s has no scenario in scenarios.json", e.Name())
	}
}

// hot_merchant sends every transfer to its merchant wallet, from one of the payers, never from the merchant.
func TestHotMerchantPaysOneMerchant(t *testing.T) {
	f, err := LoadFile("data/scenarios.json")
	require.NoError(t, err)
	sc := f.Scenarios["hot_merchant"]
	require.Equal(t, 1, sc.Population.Merchants)
	tr := newTargeter(sc, "http://127.0.0.1:1", "t", "u", "a", 7)
	payers := map[uuid.UUID]bool{}
	for range 2000 {
		from, to := tr.transferPair()
		require.Equal(t, WalletID(0), to)
		require.NotEqual(t, WalletID(0), from)
		payers[from] = true
	}
	assert.Greater(t, len(payers), 1000, "the payers are spread over the population")

	bad := validScenario()
	bad["population"].(map[string]any)["merchants"] = bad["population"].(map[string]any)["wallets"]
	_, err = Parse(doc(t, bad))
	assert.ErrorContains(t, err, "merchants")
}
