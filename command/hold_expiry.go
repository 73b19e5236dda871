package command

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/agentic-commerce/wallet-ledger/eventstore"
	"github.com/agentic-commerce/wallet-ledger/internal/telemetry"
)

// expiryBatch bounds how many holds one sweep reads at a time.
const expiryBatch = 100

// ExpireHolds releases every active hold past its expiry, each in its own transaction (journal, projection, hold
// row, mandate room and events together), and returns how many it released. It is safe to run in several
// processes at once: the hold row lock lets one release a hold and the others find it no longer active. A hold
// past its expiry can never be captured, whether or not this has run yet.
func (c *Commands) ExpireHolds(ctx context.Context) (int, error) {
	total := 0
	for {
		ids, err := eventstore.ListExpiredHolds(ctx, c.store.Pool(), c.now(), expiryBatch)
		if err != nil {
			return total, err
		}
		released := 0
		for _, id := range ids {
			ok, err := c.expireHold(ctx, id)
			if err != nil {
				return total, fmt.Errorf("expire hold %s: %w", id, err)
			}
			if ok {
				released++
			}
		}
		total += released
		if len(ids) < expiryBatch || released == 0 {
			return total, nil
		}
	}
}

// expireHold releases one expired hold; false when someone else captured, voided or expired it first.
func (c *Commands) expireHold(ctx context.Context, id uuid.UUID) (bool, error) {
	// One expiry per hold, ever: the journal's (sub, idempotency_key) key guards it a second time.
	key := "hold-expiry:" + id.String()
	idem := Idempotency{Sub: eventstore.SystemOwner, Key: key, Hash: RequestHash("EXPIRE", "/v1/holds/"+id.String(), nil)}
	p := &releasePlan{c: c, idem: idem, sweeper: true}
	if err := p.preRead(ctx, id); err != nil {
		return false, err
	}
	err := c.store.InTx(ctx, func(tx pgx.Tx) error {
		b := &pgx.Batch{}
		p.read(b)
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return fmt.Errorf("lock hold: %w", err)
		}
		b = &pgx.Batch{}
		if _, _, _, err := p.decide(b); err != nil {
			return err
		}
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return fmt.Errorf("release hold: %w", err)
		}
		return nil
	})
	switch {
	case err == nil:
		telemetry.RecordCommit(ctx, eventstore.KindExpire)
		return true, nil
	case errors.Is(err, &eventstore.Error{Code: codeHoldNotActive}), errors.Is(err, &eventstore.Error{Code: codeHoldNotFound}):
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
