package replica

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestLagIsHowLongAgoThePrimaryFirstHeldWhatTheStandbyLacks(t *testing.T) {
	now := time.Date(2026, 12, 3, 10, 0, 10, 0, time.UTC)
	samples := []sample{
		{now.Add(-9 * time.Second), 100},
		{now.Add(-6 * time.Second), 200},
		{now.Add(-3 * time.Second), 200}, // an idle primary: the position stays
		{now.Add(-1 * time.Second), 300},
	}
	for _, tc := range []struct {
		replayed Position
		want     time.Duration
	}{
		{300, 0},           // everything sampled is replayed
		{400, 0},           // a standby never lags a position it is past
		{250, time.Second}, // missing what the primary held from the last sample on
		{200, time.Second}, // position 200 itself is replayed
		{199, 6 * time.Second},
		{50, 9 * time.Second}, // behind the oldest sample: at least that old
	} {
		assert.Equal(t, tc.want, lagOf(samples, tc.replayed, now), "replayed %d", tc.replayed)
	}
	assert.Zero(t, lagOf(nil, 0, now), "no sample: nothing known to be missing")
}

func TestSamplesKeepEnoughHistoryToSeeALagPastTheLimit(t *testing.T) {
	r := &Router{cfg: Config{MaxLag: 5 * time.Second, CheckInterval: time.Second}}
	start := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	for i := 0; i < 60; i++ {
		r.addSample(sample{at: start.Add(time.Duration(i) * time.Second), pos: Position(1000 + i)})
	}
	now := start.Add(59 * time.Second)
	assert.LessOrEqual(t, len(r.samples), 9, "samples older than MaxLag plus three intervals are dropped")
	// A standby stuck at the first position lags more than MaxLag, whatever was dropped.
	assert.Greater(t, lagOf(r.samples, 1000, now), 5*time.Second)
	assert.Equal(t, time.Second, lagOf(r.samples, 1057, now), "1058 was sampled a second ago")
}
