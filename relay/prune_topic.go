package relay

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// DefaultTopicRetention is how long events published to the SQL topic are kept (RELAY_SQL_TOPIC_RETENTION).
const DefaultTopicRetention = 7 * 24 * time.Hour

// TopicPruneOptions says what PruneSQLTopic may delete.
type TopicPruneOptions struct {
	Topic     string        // the Watermill SQL topic (RELAY_SQL_TOPIC); DefaultSQLTopic when empty
	OlderThan time.Duration // only events published longer ago than this; must be positive
	BatchSize int           // rows per statement; DefaultPruneBatch when zero
}

// topicFloorQuery returns the lowest cursor of the topic's downstream consumer groups: each group has read every
// event at or below its (last_processed_transaction_id, offset_acked). %s is the offsets table. The text column
// has its own name: ORDER BY a name of the select list sorts that output, and xids sorted as text put 100 before 99.
const topicFloorQuery = `SELECT last_processed_transaction_id::text AS floor_xid, coalesce(offset_acked, 0) FROM %s
	ORDER BY last_processed_transaction_id, coalesce(offset_acked, 0) LIMIT 1`

// topicPruneBatchQuery looks at the next $2 events of the topic at or below the floor ($3, $4), in the order every
// Watermill subscriber reads them (transaction_id, "offset": the primary key, so an index range scan from the
// start), and deletes those older than $1 seconds. It returns how many rows it looked at, how many were too young
// and how many it deleted. %s is the topic table.
const topicPruneBatchQuery = `
	WITH win AS (
		SELECT transaction_id, "offset", created_at >= LOCALTIMESTAMP - make_interval(secs => $1) AS young
		FROM %[1]s WHERE (transaction_id, "offset") <= ($3::xid8, $4::bigint)
		ORDER BY transaction_id, "offset" LIMIT $2
	), gone AS (
		DELETE FROM %[1]s t USING win w
		WHERE t.transaction_id = w.transaction_id AND t."offset" = w."offset" AND NOT w.young
		RETURNING 1
	)
	SELECT count(*), count(*) FILTER (WHERE young), (SELECT count(*) FROM gone) FROM win`

// Without any consumer group, nothing but its age holds an event: the floor is the highest cursor there is.
const (
	maxXID8   = "18446744073709551615"
	maxOffset = int64(1<<63 - 1)
)

// PruneSQLTopic deletes the events the relay published to its Watermill SQL topic (RELAY_PUBLISHER=sql) that every
// downstream consumer group has read (with no group at all, every event: nothing but its age holds it) and that are
// older than opts.OlderThan, so the topic table stays bounded by
// what the retention keeps. It walks the topic from its oldest event in batches, each its own short statement, and
// stops at the first batch holding an event too young or not yet read by some group: a call costs about what it
// deletes. A consumer group that no longer runs holds the prune back: delete its row from the offsets table.
// Deleting read events never moves a subscriber: its cursor is in the offsets table, not in the rows.
func PruneSQLTopic(ctx context.Context, pool *pgxpool.Pool, opts TopicPruneOptions) (int64, error) {
	if opts.OlderThan <= 0 {
		return 0, errors.New("prune SQL topic: the age must be positive")
	}
	if opts.Topic == "" {
		opts.Topic = DefaultSQLTopic
	}
	if !sqlTopicName.MatchString(opts.Topic) {
		return 0, fmt.Errorf("prune SQL topic: %q is not a topic name", opts.Topic)
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = DefaultPruneBatch
	}
	table := pgx.Identifier{"watermill_" + opts.Topic}.Sanitize()
	offsets := pgx.Identifier{"watermill_offsets_" + opts.Topic}.Sanitize()
	floorXID, floorOffset := maxXID8, maxOffset
	err := pool.QueryRow(ctx, fmt.Sprintf(topicFloorQuery, offsets)).Scan(&floorXID, &floorOffset)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return 0, fmt.Errorf("prune SQL topic %s: read the consumer groups' cursors: %w", opts.Topic, err)
	}
	q := fmt.Sprintf(topicPruneBatchQuery, table)
	var total int64
	for {
		var looked, young, deleted int64
		err := pool.QueryRow(ctx, q, opts.OlderThan.Seconds(), opts.BatchSize, floorXID, floorOffset).Scan(&looked, &young, &deleted)
		if err != nil {
			return total, fmt.Errorf("prune SQL topic %s: %w", opts.Topic, err)
		}
		total += deleted
		// Events are published in about (transaction_id, offset) order, so past a young one the rest is young too.
		if looked < int64(opts.BatchSize) || young > 0 {
			return total, nil
		}
	}
}

// pruneSQLTopic is the leader's retention worker for the SQL topic: every PruneInterval it prunes the events older
// than TopicRetention that every downstream group has read.
func (r *Relay) pruneSQLTopic(ctx context.Context) error {
	t := time.NewTicker(r.cfg.PruneInterval)
	defer t.Stop()
	failing := false
	for {
		n, err := PruneSQLTopic(ctx, r.pool, TopicPruneOptions{Topic: r.cfg.SQLTopic, OlderThan: r.cfg.TopicRetention})
		switch {
		case err != nil && ctx.Err() == nil:
			if !failing {
				r.log.WarnContext(ctx, "relay cannot prune the SQL topic; will retry", "error", err)
			}
			failing = true
		case err == nil:
			failing = false
			if n > 0 {
				r.log.InfoContext(ctx, "relay pruned read events of the SQL topic", "deleted", n, "topic", r.cfg.SQLTopic,
					"older_than", r.cfg.TopicRetention.String())
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
