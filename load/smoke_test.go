package load

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestSmokeRunAgainstRealAPI runs a short smoke profile (every operation,
// same-key retries) against the real API and database and requires it to
// pass its thresholds and every invariant, database-wide checks included.
func TestSmokeRunAgainstRealAPI(t *testing.T) {
	bin := binaries(t)
	dbURL := freshDB(t)
	base := startAPI(t, bin, dbURL)
	sc := shrink(t, "smoke", 5*time.Second, 40)
	sc.ScaleRate(60) // as loadgen -rate does: the run must keep the new pace and say so in its report

	rep := runReport(t, RunConfig{BaseURL: base, Scenario: sc, DatabaseURL: dbURL, Seed: 1})
	assert.True(t, rep.Passed, "failures: %v", rep.Failures)
	assert.Equal(t, []Stage{{Duration: Duration(5 * time.Second), Rate: 60}}, rep.Stages)
	assert.InDelta(t, 300, rep.Requests, 3, "60 requests/s for 5 s")
	for _, op := range AllOps {
		assert.Positive(t, rep.Ops[op].OK, "operation %s never succeeded", op)
	}
	assert.Positive(t, rep.Ops[OpIdempotentRetry].Count)
	assert.Empty(t, rep.Retries.RetryMismatches)
	require.NotNil(t, rep.Invariants.DB)
	assert.Zero(t, rep.Invariants.DB.BalanceSums["USD"])
	assert.Positive(t, rep.Invariants.DB.CommittedChecked)
	assert.Equal(t, int64(40*sc.Population.InitialBalance)+rep.Invariants.AdjustedNet, rep.Invariants.AfterTotal)

	// Seeding again changes nothing: every request replays.
	res, err := Seed(context.Background(), SeedConfig{BaseURL: base, Count: 40, Asset: "USD",
		InitialBalance: sc.Population.InitialBalance, Tokens: TokenConfig{Secret: testSecret, Audience: "agentic-commerce"}, HTTP: contractClient(t)})
	require.NoError(t, err)
	assert.Zero(t, res.Created)
	assert.Zero(t, res.Funded)
	assert.Equal(t, int64(40), res.Replayed)
}

// TestRunFailsOnAMissedThreshold shows the run can fail: the same smoke
// profile with an impossible latency bar must come back not passed.
func TestRunFailsOnAMissedThreshold(t *testing.T) {
	bin := binaries(t)
	dbURL := freshDB(t)
	base := startAPI(t, bin, dbURL)
	sc := shrink(t, "smoke", 2*time.Second, 10)
	sc.Thresholds.P95WriteMS = 0.001
	rep := runReport(t, RunConfig{BaseURL: base, Scenario: sc, Seed: 2})
	assert.False(t, rep.Passed)
	assert.Contains(t, joinAll(rep.Failures), "p95 write latency")
}

// TestResiliencyProxyFaults cuts the API's link to PostgreSQL mid-run with
// the TCP proxy, loudly (reset) and silently (blackhole), and requires the
// fail-closed behaviour: 503s during the fault, nothing else, recovery
// within seconds, and the invariants afterwards. The proxy stands in for
// `pg_ctl stop` here because stopping the shared server would break every
// other test running at the same time; `make resiliency` does the real stop.
func TestResiliencyProxyFaults(t *testing.T) {
	bin := binaries(t)
	for _, mode := range []ProxyMode{ProxyReset, ProxyBlackhole} {
		t.Run(string(mode), func(t *testing.T) {
			dbURL := freshDB(t)
			p, err := NewProxy("127.0.0.1:0", pgAddr(t))
			require.NoError(t, err)
			defer p.Close()
			viaProxy := replaceHost(t, dbURL, p.Addr())
			base := startAPI(t, bin, viaProxy, "REQUEST_TIMEOUT=2s", "DB_STATEMENT_TIMEOUT=1s")
			sc := shrink(t, "resiliency_partition", 12*time.Second, 30)
			sc.Stages[0].Rate = 60
			sc.RequestTimeout = Duration(2 * time.Second)
			sc.Fault.RecoveryWithin = Duration(5 * time.Second)
			plan := &FaultPlan{Name: "proxy-" + string(mode),
				Inject: func(context.Context) error { return p.Set(mode) },
				Heal:   func(context.Context) error { return p.Set(ProxyUp) },
			}
			rep := runReport(t, RunConfig{BaseURL: base, Scenario: sc, DatabaseURL: dbURL, Fault: plan, Seed: 3})
			assert.True(t, rep.Passed, "failures: %v", rep.Failures)
			require.NotNil(t, rep.Fault)
			assert.Positive(t, rep.Fault.WritesRefused)
			assert.Positive(t, rep.Fault.WindowStatuses["503"])
			assert.GreaterOrEqual(t, rep.Fault.RecoveryS, 0.0)
			assert.Less(t, rep.Fault.RecoveryS, 5.0)
			// After the heal the API is ready again.
			resp, err := contractClient(t).Get(base + "/v1/ready")
			require.NoError(t, err)
			resp.Body.Close()
			assert.Equal(t, http.StatusOK, resp.StatusCode)
		})
	}
}

// TestResiliencyAPIKill SIGKILLs the API under load and starts it again:
// while it is down connections are refused (the only fault where a transport
// error is acceptable), requests cut mid-flight are settled by retrying their
// key, and nothing is lost, created or applied twice.
func TestResiliencyAPIKill(t *testing.T) {
	bin := binaries(t)
	dbURL := freshDB(t)
	api := newAPI(t, bin, dbURL, "REQUEST_TIMEOUT=2s", "DB_STATEMENT_TIMEOUT=1s")
	sc := shrink(t, "resiliency_partition", 12*time.Second, 30)
	sc.Stages[0].Rate = 60
	sc.RequestTimeout = Duration(2 * time.Second)
	sc.Fault.RecoveryWithin = Duration(5 * time.Second)
	plan := &FaultPlan{Name: "api-kill", AllowTransportErrors: true,
		Inject: func(context.Context) error { api.kill(); return nil },
		Heal:   api.start,
	}
	rep := runReport(t, RunConfig{BaseURL: api.base(), Scenario: sc, DatabaseURL: dbURL, Fault: plan, Seed: 4})
	assert.True(t, rep.Passed, "failures: %v", rep.Failures)
	require.NotNil(t, rep.Fault)
	assert.Positive(t, rep.Fault.WindowStatuses["transport_error"], "the kill must be visible to clients")
	assert.Less(t, rep.Fault.RecoveryS, 5.0)
	require.NotNil(t, rep.Invariants.DB)
	assert.Zero(t, rep.Invariants.DB.DuplicateKeys)
}

// TestResiliencyPostgresCrash stops PostgreSQL hard (pg_ctl stop -m
// immediate) in the middle of a run and starts it again. It crashes a
// private server started for the test, never the shared one.
func TestResiliencyPostgresCrash(t *testing.T) {
	bin := binaries(t)
	pg := newPGCluster(t)
	dbURL := pg.newDatabase(t, "ledger")
	base := startAPI(t, bin, dbURL, "REQUEST_TIMEOUT=2s", "DB_STATEMENT_TIMEOUT=1s")
	sc := shrink(t, "resiliency_partition", 12*time.Second, 30)
	sc.Stages[0].Rate = 60
	sc.RequestTimeout = Duration(2 * time.Second)
	sc.Fault.RecoveryWithin = Duration(6 * time.Second)
	plan := &FaultPlan{Name: "pg-stop", Inject: pg.crash, Heal: pg.start}
	rep := runReport(t, RunConfig{BaseURL: base, Scenario: sc, DatabaseURL: dbURL, Fault: plan, Seed: 5})
	assert.True(t, rep.Passed, "failures: %v", rep.Failures)
	require.NotNil(t, rep.Fault)
	assert.Positive(t, rep.Fault.WindowStatuses["503"])
	require.NotNil(t, rep.Invariants.DB)
	assert.Zero(t, rep.Invariants.DB.MissingCommitted, "a 201 must survive the crash: it was committed")
}
