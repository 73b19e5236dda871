package replica

import (
	"context"
	"fmt"
	"log/slog"
	"time"
)

// Run checks the standby every CheckInterval until ctx ends, logging when it goes out of use and comes back. It
// returns at once without a standby.
func (r *Router) Run(ctx context.Context) {
	if r.standby == nil {
		return
	}
	t := time.NewTicker(r.cfg.CheckInterval)
	defer t.Stop()
	wasInUse := r.Status().InUse
	for {
		s := r.Check(ctx)
		switch {
		case ctx.Err() != nil:
			return
		case wasInUse && !s.InUse:
			slog.WarnContext(ctx, "read replica out of use: reads go to the primary", "reason", s.Reason,
				"lag_ms", s.Lag.Milliseconds())
		case !wasInUse && s.InUse:
			slog.InfoContext(ctx, "read replica in use", "lag_ms", s.Lag.Milliseconds(), "replayed", s.Replayed.String())
		}
		wasInUse = s.InUse
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Check samples the primary's WAL position, then asks the standby how far it has replayed, and puts the standby in
// or out of use: in use when it answers, is in recovery and lags at most MaxLag. The primary is sampled first, so a
// standby that has replayed what the primary had a moment before lags zero. When the primary cannot be sampled (it
// is down), the lag is measured against the samples already taken: bounded reads keep being served meanwhile.
func (r *Router) Check(ctx context.Context) Status {
	if r.standby == nil {
		return r.Status()
	}
	ctx, cancel := context.WithTimeout(ctx, r.checkTimeout())
	defer cancel()
	var primaryAt string
	if err := r.primary.QueryRow(ctx, `SELECT pg_current_wal_insert_lsn()::text`).Scan(&primaryAt); err == nil {
		if pos, err := ParsePosition(primaryAt); err == nil {
			r.addSample(sample{at: time.Now(), pos: pos})
		}
	}
	replayed, err := r.replayPosition(ctx)
	now := time.Now()
	s := Status{CheckedAt: now.UTC(), Replayed: replayed}
	if err != nil {
		s.Reason = err.Error()
		r.setStatus(s)
		return s
	}
	s.Lag = r.lag(replayed, now)
	s.InUse = s.Lag <= r.cfg.MaxLag
	if !s.InUse {
		s.Reason = fmt.Sprintf("the replica lags %s, more than REPLICA_MAX_LAG (%s)", s.Lag.Round(time.Millisecond), r.cfg.MaxLag)
	}
	r.setStatus(s)
	return s
}

// addSample keeps the primary's positions of the last MaxLag and a few intervals more: enough to tell a lag
// beyond MaxLag from one within it.
func (r *Router) addSample(s sample) {
	r.mu.Lock()
	defer r.mu.Unlock()
	keep := s.at.Add(-(r.cfg.MaxLag + 3*r.cfg.CheckInterval))
	i := 0
	for i < len(r.samples) && r.samples[i].at.Before(keep) {
		i++
	}
	r.samples = append(r.samples[i:], s)
}

func (r *Router) lag(replayed Position, now time.Time) time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	return lagOf(r.samples, replayed, now)
}

// lagOf is how long ago the primary first held WAL the standby has still not replayed: the first sample beyond
// replayed was taken then. It is a lower bound (the true lag is less than one sampling interval longer), and 0 when
// the standby has replayed everything sampled. samples are in time order, their positions never decrease.
func lagOf(samples []sample, replayed Position, now time.Time) time.Duration {
	for _, s := range samples {
		if s.pos > replayed {
			if d := now.Sub(s.at); d > 0 {
				return d
			}
			return 0
		}
	}
	return 0
}

// StatusView is the standby's state as GET /v1/ready reports it.
type StatusView struct {
	InUse            bool       `json:"in_use"`
	Reason           string     `json:"reason,omitempty"`
	LagMS            int64      `json:"lag_ms"`
	ReplayedPosition string     `json:"replayed_position,omitempty"`
	CheckedAt        *time.Time `json:"checked_at,omitempty"`
}

// View returns the status for /v1/ready.
func (s Status) View() StatusView {
	v := StatusView{InUse: s.InUse, Reason: s.Reason, LagMS: s.Lag.Milliseconds()}
	if !s.CheckedAt.IsZero() {
		at := s.CheckedAt
		v.CheckedAt = &at
	}
	if s.Replayed > 0 {
		v.ReplayedPosition = s.Replayed.String()
	}
	return v
}
