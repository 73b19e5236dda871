package command

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"

	"github.com/agentic-commerce/wallet-ledger/eventstore"
	"github.com/agentic-commerce/wallet-ledger/internal/auth"
)

// expiryBatch bounds how many holds one sweep reads at a time.
const expiryBatch = 100

// ExpireHolds releases every active hold past its expiry (journal, projection, hold row, mandate room and events
// together) and returns how many it released. The holds of one page go to the batcher at once, so many expiries
// share a commit. It is safe to run in several processes at once: the hold row lock lets one release a hold and
// the others find it no longer active. A hold past its expiry can never be captured, whether or not this has run
// yet.
func (c *Commands) ExpireHolds(ctx context.Context) (int, error) {
	total := 0
	for {
		ids, err := eventstore.ListExpiredHolds(ctx, c.store.Pool(), c.now(), expiryBatch)
		if err != nil {
			return total, err
		}
		released, err := c.expireHolds(ctx, ids)
		total += released
		if err != nil {
			return total, err
		}
		if len(ids) < expiryBatch || released == 0 {
			return total, nil
		}
	}
}

// expireHolds releases the holds ids concurrently and counts those released; a hold someone else captured, voided
// or expired first is skipped.
func (c *Commands) expireHolds(ctx context.Context, ids []uuid.UUID) (int, error) {
	sweeper := auth.Caller{Sub: eventstore.SystemOwner}
	type result struct {
		id       uuid.UUID
		released bool
		err      error
	}
	results := make(chan result, len(ids))
	for _, id := range ids {
		go func() {
			ok, err := c.expireHold(ctx, sweeper, id)
			results <- result{id, ok, err}
		}()
	}
	released := 0
	var errs []error
	for range ids {
		r := <-results
		switch {
		case r.err != nil:
			errs = append(errs, fmt.Errorf("expire hold %s: %w", r.id, r.err))
		case r.released:
			released++
		}
	}
	return released, errors.Join(errs...)
}

// expireHold releases one expired hold; false when someone else captured, voided or expired it first.
func (c *Commands) expireHold(ctx context.Context, sweeper auth.Caller, id uuid.UUID) (bool, error) {
	// One expiry per hold, ever: the key, and the journal's (sub, idempotency_key) behind it, guard it.
	key := "hold-expiry:" + id.String()
	idem := Idempotency{Sub: eventstore.SystemOwner, Key: key, Hash: RequestHash("EXPIRE", "/v1/holds/"+id.String(), nil)}
	p, err := c.releaseOf(ctx, sweeper, id, nil, true)
	if err != nil {
		return false, err
	}
	j := &job{ctx: ctx, caller: sweeper, idem: idem, reply: reply{status: updated.status, instance: "/v1/holds/" + id.String()},
		plan: p, done: make(chan answer, 1)}
	out, err := c.batcher.submit(j, c.store.AcquireTimeout())
	switch {
	case err == nil:
		return !out.Replayed && !out.Problem, nil
	case errors.Is(err, ErrHoldNotActive), errors.Is(err, ErrHoldNotFound):
		return false, nil
	case errors.Is(err, eventstore.ErrIdempotencyKeyReuse):
		// Only an expiry of this hold writes under this key, and then the hold is no longer active; no token may
		// carry SystemOwner (auth.SystemSub), so nobody else can have taken it. Loud, because the hold stays held.
		slog.ErrorContext(ctx, "hold expiry refused: its idempotency key is taken", "hold_id", id, "key", key)
		return false, nil
	default:
		return false, err
	}
}

// HoldSweepInterval is how often the relay process looks for expired holds.
const HoldSweepInterval = 5 * time.Second

// RunHoldSweeper expires holds every interval until ctx ends, then returns nil; the relay process runs it as a
// worker. A failed sweep is logged and retried at the next tick.
func (c *Commands) RunHoldSweeper(ctx context.Context, interval time.Duration) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			n, err := c.ExpireHolds(ctx)
			if err != nil && ctx.Err() == nil {
				slog.WarnContext(ctx, "expire holds", "error", err)
			}
			if n > 0 {
				slog.InfoContext(ctx, "expired holds", "count", n)
			}
		}
	}
}
