package relay

import (
	"context"
	"fmt"
	"time"

	"github.com/agentic-commerce/wallet-ledger/internal/telemetry"
)

// Lag is how far the relay's consumer group is behind the outbox.
type Lag struct {
	Backlog    int64     // outbox rows not yet acked by the relay
	OldestAge  float64   // seconds since the oldest of them was written; 0 when drained
	MeasuredAt time.Time // zero until the first measurement
}

// lagQuery counts the outbox rows past the consumer group's acked offset (the relay's cursor is the offset alone,
// see ordering.go); before the group's first ack every row counts. created_at
// is Watermill's "timestamp without time zone" DEFAULT CURRENT_TIMESTAMP, so the age is taken against
// LOCALTIMESTAMP in the same server time zone.
const lagQuery = `
	SELECT count(*), COALESCE(EXTRACT(EPOCH FROM (LOCALTIMESTAMP - min(o.created_at))), 0)::float8
	FROM outbox_events o
	WHERE o."offset" > COALESCE((SELECT offset_acked FROM watermill_offsets_outbox_events WHERE consumer_group = $1), 0)`

// MeasureLag reads the current outbox lag of the relay's consumer group.
func (r *Relay) MeasureLag(ctx context.Context) (Lag, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	var l Lag
	if err := r.pool.QueryRow(ctx, lagQuery, r.cfg.ConsumerGroup).Scan(&l.Backlog, &l.OldestAge); err != nil {
		return Lag{}, fmt.Errorf("measure outbox lag: %w", err)
	}
	if l.OldestAge < 0 {
		l.OldestAge = 0
	}
	l.MeasuredAt = time.Now()
	return l, nil
}

// LastLag returns the last lag measured by the running relay.
func (r *Relay) LastLag() Lag {
	r.lagMu.Lock()
	defer r.lagMu.Unlock()
	return r.lag
}

// measureLag publishes the lag gauges (relay.outbox.lag, relay.outbox.backlog) every LagInterval on every
// replica: the lag is a property of the database, not of the leader.
func (r *Relay) measureLag(ctx context.Context) error {
	t := time.NewTicker(r.cfg.LagInterval)
	defer t.Stop()
	failing := false
	for {
		l, err := r.MeasureLag(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			if !failing {
				r.log.WarnContext(ctx, "relay cannot measure outbox lag", "error", err)
			}
			failing = true
		case err == nil:
			failing = false
			r.lagMu.Lock()
			r.lag = l
			r.lagMu.Unlock()
			telemetry.SetOutboxLag(l.OldestAge, l.Backlog)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
