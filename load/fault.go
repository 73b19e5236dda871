package load

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// faultTimes records when the fault was really injected and healed,
// relative to the attack's start.
type faultTimes struct {
	injected time.Duration
	healed   time.Duration
	err      error
}

func driveFault(ctx context.Context, began time.Time, f *Fault, plan *FaultPlan, out io.Writer) faultTimes {
	var ft faultTimes
	if !sleepCtx(ctx, time.Until(began.Add(time.Duration(f.At)))) {
		ft.err = fmt.Errorf("fault %s: run ended before injection", plan.Name)
		return ft
	}
	ft.injected = time.Since(began)
	fmt.Fprintf(out, "fault %s: injecting at %s\n", plan.Name, ft.injected.Round(time.Millisecond))
	if err := plan.Inject(ctx); err != nil {
		ft.err = fmt.Errorf("inject fault %s: %w", plan.Name, err)
		// Heal anyway: a half-applied fault must not outlive the run.
		_ = plan.Heal(context.WithoutCancel(ctx))
		return ft
	}
	sleepCtx(ctx, time.Until(began.Add(time.Duration(f.At+f.Duration))))
	ft.healed = time.Since(began)
	fmt.Fprintf(out, "fault %s: healing at %s\n", plan.Name, ft.healed.Round(time.Millisecond))
	if err := plan.Heal(context.WithoutCancel(ctx)); err != nil {
		ft.err = fmt.Errorf("heal fault %s: %w", plan.Name, err)
	}
	return ft
}

// FaultReport says how the service behaved around the fault.
type FaultReport struct {
	Name        string  `json:"name"`
	InjectedAtS float64 `json:"injected_at_s"`
	HealedAtS   float64 `json:"healed_at_s"`
	// WindowStatuses counts answers to requests in flight between injection
	// and heal; 503s in the recovery allowance after it are excused too.
	WindowStatuses  map[string]int `json:"window_statuses"`
	WritesRefused   int            `json:"writes_refused"`
	WritesCommitted int            `json:"writes_committed_during_fault"`
	Forbidden       int            `json:"forbidden_answers"`
	Hangs           int            `json:"hangs"`
	RecoveryS       float64        `json:"recovery_s"`
	// Problems are fail-closed promises broken whatever the machine's speed: an answer other than the allowed and
	// fail-closed ones (a 500), a fault no write noticed, no write succeeding after the heal.
	Problems []string `json:"problems,omitempty"`
	// Missed are the fault's speed bars: requests past the request timeout, recovery slower than recovery_within.
	// A busy machine can miss them; make resiliency judges them, the tests of make test do not.
	Missed []string `json:"missed,omitempty"`
}

// allowedOverall is what counts as success outside a fault window.
func allowedOverall(sc *Scenario) []int { return sc.Thresholds.AllowedStatuses }

// inWindow reports whether a request overlapped the fault, from injection
// until the recovery allowance after the heal ran out.
func inWindow(s sample, ft faultTimes, f *Fault) bool {
	return s.end() >= ft.injected && s.start <= ft.healed+time.Duration(f.RecoveryWithin)
}

// analyseFault checks the fail-closed promise around the fault: inside the
// window writes answer 201 (committed; verified afterwards against the
// ledger) or a fault status such as 503 and nothing else, no answer takes
// longer than the request timeout, and a write succeeds again within
// recovery_within of the heal.
func analyseFault(sc *Scenario, plan *FaultPlan, samples []sample, ft faultTimes) *FaultReport {
	f := sc.Fault
	rep := &FaultReport{Name: plan.Name, InjectedAtS: ft.injected.Seconds(), HealedAtS: ft.healed.Seconds(),
		WindowStatuses: map[string]int{}, RecoveryS: -1}
	ok := map[int]bool{}
	for _, c := range sc.Thresholds.AllowedStatuses {
		ok[c] = true
	}
	faultOK := map[int]bool{}
	for _, c := range sc.Thresholds.FaultStatuses {
		faultOK[c] = true
	}
	limit := time.Duration(sc.RequestTimeout) + time.Second
	var firstOKAfterHeal time.Duration = -1
	for _, s := range samples {
		if s.lat > limit || (s.code == 0 && isTimeout(s.err)) {
			rep.Hangs++
		}
		if s.code >= 500 && !faultOK[s.code] {
			rep.Forbidden++ // e.g. a 500 or 502: never acceptable, fault or not
		}
		if s.op.IsWrite() && s.start >= ft.healed && (s.code == http.StatusCreated) {
			if firstOKAfterHeal < 0 || s.start < firstOKAfterHeal {
				firstOKAfterHeal = s.start
			}
		}
		if !inWindow(s, ft, f) {
			continue
		}
		during := s.end() >= ft.injected && s.start <= ft.healed
		if during {
			rep.WindowStatuses[statusLabel(s.code)]++
		}
		switch {
		case ok[s.code]:
			if s.op.IsWrite() && during {
				rep.WritesCommitted++
			}
		case faultOK[s.code] || (s.code == 0 && plan.AllowTransportErrors && !isTimeout(s.err)):
			if s.op.IsWrite() {
				rep.WritesRefused++
			}
		case s.code == 0 && isTimeout(s.err):
			// The client gave up first: a hang, counted above, and a matter of speed, not a wrong answer.
		default:
			if !(s.code >= 500) { // 5xx already counted above
				rep.Forbidden++
			}
		}
	}
	if firstOKAfterHeal >= 0 {
		rep.RecoveryS = (firstOKAfterHeal - ft.healed).Seconds()
	}
	if rep.Forbidden > 0 {
		rep.Problems = append(rep.Problems, fmt.Sprintf("%d answers outside the allowed and fail-closed statuses (see window_statuses)", rep.Forbidden))
	}
	if rep.Hangs > 0 {
		rep.Missed = append(rep.Missed, fmt.Sprintf("%d requests hung past the %s request timeout", rep.Hangs, time.Duration(sc.RequestTimeout)))
	}
	if rep.WritesRefused == 0 {
		// A fault nobody noticed proves nothing: the test must be able to fail.
		rep.Problems = append(rep.Problems, "no write was refused during the fault: was it really injected?")
	}
	switch {
	case rep.RecoveryS < 0:
		rep.Problems = append(rep.Problems, "no write succeeded after the heal")
	case rep.RecoveryS > time.Duration(f.RecoveryWithin).Seconds():
		rep.Missed = append(rep.Missed, fmt.Sprintf("recovery took %.1fs, allowed %s", rep.RecoveryS, time.Duration(f.RecoveryWithin)))
	}
	return rep
}

func isTimeout(e string) bool {
	return strings.Contains(e, "Timeout") || strings.Contains(e, "deadline exceeded") || strings.Contains(e, "timeout")
}
