package relay

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// MetadataReleasedAt is set on an event released from quarantine (RFC 3339, UTC). The event reaches subscribers
// after later events of the same wallets, and this tells them why.
const MetadataReleasedAt = "released_from_quarantine_at"

// ErrNotQuarantined is returned when a release names an event that relay_quarantine does not hold.
var ErrNotQuarantined = errors.New("not in quarantine")

// QuarantinedEvent is one event the relay set aside after RELAY_MAX_ATTEMPTS failures of its own.
type QuarantinedEvent struct {
	EventID       string    `json:"event_id"`
	EventType     string    `json:"event_type"`
	Attempts      int       `json:"attempts"`
	LastError     string    `json:"last_error"`
	QuarantinedAt time.Time `json:"quarantined_at"`
}

// ListQuarantined returns the quarantined events in the order the relay set them aside (outbox order).
func ListQuarantined(ctx context.Context, pool *pgxpool.Pool) ([]QuarantinedEvent, error) {
	rows, err := pool.Query(ctx, `SELECT event_id, event_type, attempts, last_error, quarantined_at
		FROM relay_quarantine ORDER BY quarantined_at, event_id`)
	if err != nil {
		return nil, fmt.Errorf("list quarantined events: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (QuarantinedEvent, error) {
		var e QuarantinedEvent
		err := row.Scan(&e.EventID, &e.EventType, &e.Attempts, &e.LastError, &e.QuarantinedAt)
		return e, err
	})
	if err != nil {
		return nil, fmt.Errorf("list quarantined events: %w", err)
	}
	return out, nil
}

// ReleaseQuarantined hands the named events back to the relay; see release. Nothing changes unless every id is
// quarantined.
func ReleaseQuarantined(ctx context.Context, pool *pgxpool.Pool, eventIDs []string) ([]string, error) {
	if len(eventIDs) == 0 {
		return nil, errors.New("release: no event id given")
	}
	return release(ctx, pool, eventIDs, false)
}

// ReleaseAllQuarantined hands every quarantined event back to the relay; see release.
func ReleaseAllQuarantined(ctx context.Context, pool *pgxpool.Pool) ([]string, error) {
	return release(ctx, pool, nil, true)
}

// release appends each quarantined event to the outbox again, with the same event id, payload and metadata, and
// removes it from relay_quarantine, in one transaction. The relay then publishes it like any other row: through
// the one leader, in offset order after everything already relayed, with its retries, backoff and quarantine,
// and with the same message UUID (and Nats-Msg-Id) so subscribers' event-id dedup holds. Its cursor is the offset
// alone, so re-appending is the only way back in front of it without rewinding (and re-publishing) the stream.
// This insert takes the outbox's write lock before drawing its offset, as the write path does, so the relay's
// offset horizon (ordering.go) covers it. The events are appended in the order they were quarantined, which is
// their outbox order, so released events keep their order among themselves; they necessarily come after the
// later events of the same wallets that flowed while they sat in quarantine, and MetadataReleasedAt says so.
// The original outbox row stays (already acked, never re-read) and becomes prunable.
func release(ctx context.Context, pool *pgxpool.Pool, eventIDs []string, all bool) ([]string, error) {
	ids := slices.Compact(slices.Sorted(slices.Values(eventIDs)))
	var released []string
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		released = released[:0]
		// FOR UPDATE: of two concurrent releases of one event, the second finds it gone and appends nothing.
		rows, err := tx.Query(ctx, `SELECT event_id, payload::text, metadata::text FROM relay_quarantine
			WHERE $2 OR event_id = ANY($1) ORDER BY quarantined_at, event_id FOR UPDATE`, ids, all)
		if err != nil {
			return fmt.Errorf("read quarantine: %w", err)
		}
		type row struct {
			id                string
			payload, metadata *string
		}
		found, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (row, error) {
			var x row
			err := r.Scan(&x.id, &x.payload, &x.metadata)
			return x, err
		})
		if err != nil {
			return fmt.Errorf("read quarantine: %w", err)
		}
		if !all && len(found) != len(ids) {
			seen := map[string]bool{}
			for _, f := range found {
				seen[f.id] = true
			}
			var missing []string
			for _, id := range ids {
				if !seen[id] {
					missing = append(missing, id)
				}
			}
			return fmt.Errorf("release %s: %w", strings.Join(missing, ", "), ErrNotQuarantined)
		}
		now := time.Now().UTC().Format(time.RFC3339Nano)
		batch := &pgx.Batch{}
		for _, f := range found {
			meta := map[string]string{}
			if f.metadata != nil && *f.metadata != "null" {
				if err := json.Unmarshal([]byte(*f.metadata), &meta); err != nil {
					return fmt.Errorf("release %s: metadata is not a string map: %w", f.id, err)
				}
			}
			meta[MetadataReleasedAt] = now
			rawMeta, err := json.Marshal(meta)
			if err != nil {
				return fmt.Errorf("release %s: encode metadata: %w", f.id, err)
			}
			// Watermill's own outbox insert (eventstore.QueueEvents), one row per event so offsets follow the order.
			batch.Queue(`INSERT INTO outbox_events (uuid, payload, metadata, transaction_id)
				VALUES ($1, $2::json, $3::json, pg_current_xact_id())`, f.id, f.payload, string(rawMeta))
			released = append(released, f.id)
		}
		if len(released) == 0 {
			return nil
		}
		// A fresh attempt count: the event gets RELAY_MAX_ATTEMPTS tries again before it is quarantined again.
		batch.Queue(`DELETE FROM relay_failures WHERE event_id = ANY($1)`, released)
		batch.Queue(`DELETE FROM relay_quarantine WHERE event_id = ANY($1)`, released)
		if err := tx.SendBatch(ctx, batch).Close(); err != nil {
			return fmt.Errorf("append released events to the outbox: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return released, nil
}
