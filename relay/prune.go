package relay

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// DefaultPruneBatch is how many outbox rows one prune statement looks at: each statement is its own short
// transaction, so the prune never holds many row locks or pins the relay's offset horizon for long.
const DefaultPruneBatch = 1000

// PruneOptions says what PruneOutbox may delete.
type PruneOptions struct {
	OlderThan     time.Duration // only rows written longer ago than this; must be positive
	BatchSize     int           // rows per statement; DefaultPruneBatch when zero
	ConsumerGroup string        // the relay's consumer group; DefaultConsumerGroup when empty
}

// PruneResult is what one PruneOutbox call did.
type PruneResult struct {
	Deleted int64
	// Floor is the lowest offset acked by the relay and every other Watermill consumer group of the outbox:
	// nothing above it was looked at.
	Floor int64
}

// pruneFloorQuery returns the lowest acked offset of every Watermill consumer group of the outbox, or 0 while the
// relay's own group has no row yet (it has published nothing). A NULL offset_acked counts as 0.
const pruneFloorQuery = `
	SELECT CASE WHEN EXISTS (SELECT 1 FROM watermill_offsets_outbox_events WHERE consumer_group = $1)
		THEN (SELECT min(COALESCE(offset_acked, 0)) FROM watermill_offsets_outbox_events) ELSE 0 END`

// pruneBatchQuery looks at the next BatchSize rows after $1 up to the floor $2, in offset order (the relay's
// index), and deletes those that are not held and not quarantined (relay_quarantine keeps the event until an
// operator releases it). A row is held while it is younger than $4 seconds or a read-side consumer has not read
// it (read_side_checkpoints, whose cursor is (xid8, offset): everything at or below it is read). It returns how
// many rows it looked at, the highest offset among them, how many were held and how many it deleted.
const pruneBatchQuery = `
	WITH win AS (
		SELECT w.transaction_id, w."offset",
			w.created_at >= LOCALTIMESTAMP - make_interval(secs => $4) OR EXISTS (SELECT 1 FROM read_side_checkpoints c
				WHERE (w.transaction_id, w."offset") > (c.last_xid, c.last_offset)) AS held,
			EXISTS (SELECT 1 FROM relay_quarantine q WHERE q.event_id = w.uuid) AS quarantined
		FROM (SELECT transaction_id, "offset", uuid, created_at FROM outbox_events
			WHERE "offset" > $1 AND "offset" <= $2 ORDER BY "offset" LIMIT $3) w
	), gone AS (
		DELETE FROM outbox_events o USING win w
		WHERE o.transaction_id = w.transaction_id AND o."offset" = w."offset" AND NOT w.held AND NOT w.quarantined
		RETURNING 1
	)
	SELECT count(*), COALESCE(max("offset"), $1), count(*) FILTER (WHERE held), (SELECT count(*) FROM gone) FROM win`

// PruneOutbox deletes outbox rows that every consumer of the outbox is done with and that are older than
// opts.OlderThan. It never deletes an unpublished row: the relay reads in offset order up to a horizon below which
// every row is visible (ordering.go), so each row at or below its acked offset was published or quarantined, and
// quarantined ones are kept. Deleting below the cursors moves none of them: the relay's cursor is an offset in
// the Watermill offsets table and its horizon comes from the offset sequence, neither from the rows. It walks the
// outbox in batches from its start and stops at the floor or at the first batch holding a row too young or not
// yet read by the read side, so a call costs about what it deletes. Safe to run while the relay runs, from
// several processes at once.
func PruneOutbox(ctx context.Context, pool *pgxpool.Pool, opts PruneOptions) (PruneResult, error) {
	if opts.OlderThan <= 0 {
		return PruneResult{}, errors.New("prune outbox: the age must be positive")
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = DefaultPruneBatch
	}
	if opts.ConsumerGroup == "" {
		opts.ConsumerGroup = DefaultConsumerGroup
	}
	var res PruneResult
	if err := pool.QueryRow(ctx, pruneFloorQuery, opts.ConsumerGroup).Scan(&res.Floor); err != nil {
		return res, fmt.Errorf("prune outbox: read the consumers' offsets: %w", err)
	}
	var after int64
	for after < res.Floor {
		var looked, held, deleted int64
		err := pool.QueryRow(ctx, pruneBatchQuery, after, res.Floor, opts.BatchSize, opts.OlderThan.Seconds()).
			Scan(&looked, &after, &held, &deleted)
		if err != nil {
			return res, fmt.Errorf("prune outbox after offset %d: %w", after, err)
		}
		res.Deleted += deleted
		// Rows are written in about offset order, and read side consumers read in about that order, so past a
		// held row the rest is held too; a quarantined row is a gap, not an end.
		if looked < int64(opts.BatchSize) || held > 0 {
			break
		}
	}
	return res, nil
}

// pruneOutbox is the leader's retention worker: it prunes rows older than OutboxRetention every PruneInterval.
func (r *Relay) pruneOutbox(ctx context.Context) error {
	t := time.NewTicker(r.cfg.PruneInterval)
	defer t.Stop()
	failing := false
	for {
		res, err := PruneOutbox(ctx, r.pool, PruneOptions{OlderThan: r.cfg.OutboxRetention, ConsumerGroup: r.cfg.ConsumerGroup})
		switch {
		case err != nil && ctx.Err() == nil:
			if !failing {
				r.log.WarnContext(ctx, "relay cannot prune the outbox; will retry", "error", err)
			}
			failing = true
		case err == nil:
			failing = false
			if res.Deleted > 0 {
				r.log.InfoContext(ctx, "relay pruned relayed outbox rows", "deleted", res.Deleted,
					"older_than", r.cfg.OutboxRetention.String(), "floor_offset", res.Floor)
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
