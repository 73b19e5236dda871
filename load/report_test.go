package load

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A burst may queue writes, but once the last stage has run for recovery.after its writes must be back under the
// recovery bar: latency left behind by the burst fails the run even when the run's overall p95 would pass.
func TestRecoveryJudgesTheLastStageAfterItsGrace(t *testing.T) {
	sc := &Scenario{
		Stages: []Stage{{Duration: Duration(10 * time.Second), Rate: 10}, {Duration: Duration(10 * time.Second), Rate: 10}},
		Thresholds: Thresholds{P95WriteMS: 1000, AllowedStatuses: []int{200, 201},
			Recovery: &Recovery{After: Duration(2 * time.Second), P95WriteMS: 50}},
	}
	require.Equal(t, 12*time.Second, sc.RecoveryStart())
	run := func(lateLatency time.Duration) *Report {
		col := newCollector(time.Now(), sc.Thresholds.AllowedStatuses)
		for ms := 0; ms < 20_000; ms += 100 {
			lat := 5 * time.Millisecond
			switch {
			case ms >= 8_000 && ms < 12_000:
				lat = 400 * time.Millisecond // the burst's queue, draining during the grace
			case ms >= 12_000 && ms%1000 == 0:
				lat = lateLatency // one write in ten after the grace
			}
			col.samples = append(col.samples, sample{op: OpTransfer, start: time.Duration(ms) * time.Millisecond, lat: lat, code: 201})
			col.samples = append(col.samples, sample{op: OpBalanceRead, start: time.Duration(ms) * time.Millisecond, lat: time.Second, code: 200})
		}
		rep := buildReport(sc, RunConfig{}, col, 20*time.Second, time.Now(), nil)
		rep.evaluate(sc)
		return rep
	}

	rep := run(5 * time.Millisecond)
	require.NotNil(t, rep.Recovery)
	assert.Equal(t, 12.0, rep.Recovery.FromS)
	assert.Equal(t, 80, rep.Recovery.Writes, "writes only: the slow reads are not judged")
	assert.Equal(t, 5.0, rep.Recovery.WriteP95MS)
	assert.True(t, rep.Passed, "the burst's queue was gone once the grace was over: %v", rep.Failures)

	rep = run(300 * time.Millisecond)
	assert.Equal(t, 300.0, rep.Recovery.WriteP95MS)
	assert.False(t, rep.Passed)
	assert.Contains(t, strings.Join(rep.Failures, "; "), "not recovered: p95 write latency 300.0 ms > 50 ms for writes from 12.0 s on")
	assert.Less(t, rep.WriteP95MS, sc.Thresholds.P95WriteMS, "the overall p95 alone would have passed")
}

// What a loaded machine explains (slow writes, shed 503s, client timeouts) is missed, a speed threshold for make load
// to judge; what no load explains (a 500, an unexpected 4xx, a broken invariant) is broken, whatever the speed.
func TestReportKeepsBrokenPromisesApartFromMissedThresholds(t *testing.T) {
	sc := &Scenario{Thresholds: Thresholds{P95WriteMS: 100, AllowedStatuses: []int{200, 201}}}
	run := func(extra ...sample) *Report {
		col := newCollector(time.Now(), sc.Thresholds.AllowedStatuses)
		for ms := 0; ms < 1000; ms += 10 {
			col.samples = append(col.samples, sample{op: OpTransfer, start: time.Duration(ms) * time.Millisecond, lat: 5 * time.Millisecond, code: 201})
		}
		col.samples = append(col.samples, extra...)
		rep := buildReport(sc, RunConfig{}, col, time.Second, time.Now(), nil)
		rep.evaluate(sc)
		return rep
	}

	rep := run()
	assert.True(t, rep.Passed)
	assert.Empty(t, rep.Broken)
	assert.Empty(t, rep.Missed)

	slow := []sample{
		{op: OpTransfer, start: time.Millisecond, lat: 2 * time.Second, code: 503},
		{op: OpTransfer, start: time.Millisecond, lat: 4 * time.Second, code: 0, err: "Post: context deadline exceeded (Client.Timeout exceeded)"},
	}
	for range 10 {
		slow = append(slow, sample{op: OpTransfer, start: time.Millisecond, lat: time.Second, code: 201})
	}
	rep = run(slow...)
	assert.False(t, rep.Passed)
	assert.Empty(t, rep.Broken, "a busy machine breaks no promise")
	assert.Contains(t, strings.Join(rep.Missed, "; "), "p95 write latency")
	assert.Contains(t, strings.Join(rep.Missed, "; "), "error rate")
	assert.Zero(t, rep.Unexpected)

	rep = run(sample{op: OpTransfer, start: time.Millisecond, lat: time.Millisecond, code: 500},
		sample{op: OpTransfer, start: time.Millisecond, lat: time.Millisecond, code: 0, err: "connection refused"})
	assert.Equal(t, 2, rep.Unexpected)
	assert.Contains(t, strings.Join(rep.Broken, "; "), "2 answers no load explains")
	assert.Equal(t, append(append([]string(nil), rep.Broken...), rep.Missed...), rep.Failures)

	rep.Invariants.Violations = []string{"USD balances sum to 1"}
	rep.Broken, rep.Missed, rep.Failures = nil, nil, nil
	rep.evaluate(sc)
	assert.Contains(t, rep.Broken, "USD balances sum to 1")
}
