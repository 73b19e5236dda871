package webhook

import (
	"math/rand/v2"
	"time"
)

// Schedule is when a failed delivery is tried again: after Delays[0], Delays[1], ... and then every Every, each
// delay spread by +-Jitter (a fraction) so endpoints that failed together do not all come back at once, until
// Window has passed since the schedule started; the delivery is failed then.
type Schedule struct {
	Delays []time.Duration
	Every  time.Duration
	Window time.Duration
	Jitter float64
}

// DefaultSchedule: about 5 s, 30 s, 2 min, 10 min, 30 min, 1 h, then hourly, for 24 h in all.
var DefaultSchedule = Schedule{
	Delays: []time.Duration{5 * time.Second, 30 * time.Second, 2 * time.Minute, 10 * time.Minute, 30 * time.Minute, time.Hour},
	Every:  time.Hour,
	Window: 24 * time.Hour,
	Jitter: 0.2,
}

// Next returns when to try again after the failed attempt number failed (1 for the first) at now, for a schedule
// started at started, and false when the window is over: the delivery has failed for good.
func (s Schedule) Next(failed int, started, now time.Time) (time.Time, bool) {
	d := s.Every
	if failed >= 1 && failed <= len(s.Delays) {
		d = s.Delays[failed-1]
	}
	if s.Jitter > 0 {
		d = time.Duration(float64(d) * (1 - s.Jitter + 2*s.Jitter*rand.Float64()))
	}
	next := now.Add(d)
	if next.After(started.Add(s.Window)) {
		return time.Time{}, false
	}
	return next, true
}

// Valid reports whether every delay is positive and the window is.
func (s Schedule) Valid() bool {
	for _, d := range s.Delays {
		if d <= 0 {
			return false
		}
	}
	return s.Every > 0 && s.Window > 0 && s.Jitter >= 0 && s.Jitter < 1
}
