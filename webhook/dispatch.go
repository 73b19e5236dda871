package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/agentic-commerce/wallet-ledger/eventstore"
)

// What the relay's dispatcher reads and writes: which endpoints have deliveries due, claiming them, and recording
// each attempt's outcome.

// DueEndpoints returns up to limit enabled endpoints with a delivery due at now, the longest waiting first.
func DueEndpoints(ctx context.Context, q eventstore.Querier, now time.Time, limit int) ([]uuid.UUID, error) {
	rows, err := q.Query(ctx, `SELECT d.endpoint_id FROM webhook_deliveries d
		JOIN webhook_endpoints e ON e.endpoint_id = d.endpoint_id AND e.status = 'enabled'
		WHERE d.status = 'pending' AND d.next_attempt_at <= $1
		GROUP BY d.endpoint_id ORDER BY min(d.next_attempt_at) LIMIT $2`, now, limit)
	if err != nil {
		return nil, fmt.Errorf("find due webhook deliveries: %w", err)
	}
	defer rows.Close()
	var out []uuid.UUID
	for rows.Next() {
		var id uuid.UUID
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("find due webhook deliveries: %w", err)
		}
		out = append(out, id)
	}
	return out, rows.Err()
}

// Claimed is a delivery taken for one attempt, with what the attempt sends.
type Claimed struct {
	Delivery
	Payload json.RawMessage
}

// Claim takes the next delivery due at now to endpointID, if any, and leases it until leaseUntil: its
// next_attempt_at moves there before anything is sent, so no other attempt starts before the lease ends, and a
// relay that dies mid-attempt leaves it to be sent again once the lease is over. It returns nil when nothing is
// due or the endpoint is no longer enabled.
func Claim(ctx context.Context, q eventstore.Querier, endpointID uuid.UUID, now, leaseUntil time.Time) (*Claimed, error) {
	var c Claimed
	var payload string
	row := q.QueryRow(ctx, `WITH next AS (
			SELECT d.delivery_id AS claimed_id FROM webhook_deliveries d
			WHERE d.endpoint_id = $1 AND d.status = 'pending' AND d.next_attempt_at <= $2
			  AND EXISTS (SELECT 1 FROM webhook_endpoints e WHERE e.endpoint_id = $1 AND e.status = 'enabled')
			ORDER BY d.next_attempt_at, d.event_seq LIMIT 1 FOR UPDATE SKIP LOCKED)
		UPDATE webhook_deliveries d SET next_attempt_at = $3 FROM next
		WHERE d.delivery_id = next.claimed_id
		RETURNING `+deliveryColumns+`, (SELECT payload::text FROM events WHERE seq = d.event_seq)`,
		endpointID, now, leaseUntil)
	err := row.Scan(&c.ID, &c.EndpointID, &c.EventSeq, &c.EventID, &c.EventType, &c.Status, &c.Attempts,
		&c.ScheduleAttempts, &c.ScheduleStartedAt, &c.NextAttemptAt, &c.LastAttemptAt, &c.LastStatusCode,
		&c.LastError, &c.DeliveredAt, &c.CreatedAt, &payload)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("claim a delivery to %s: %w", endpointID, err)
	}
	c.Payload = json.RawMessage(payload)
	return &c, nil
}

// Outcome is what one attempt got.
type Outcome struct {
	At         time.Time
	StatusCode *int   // nil when no HTTP answer came (refused, timed out, address not allowed)
	Err        string // why the attempt failed; empty on success
	// Next is when to try again after a failure; zero when the schedule is over and the delivery has failed.
	Next time.Time
}

// Delivered reports whether the attempt succeeded (a 2xx).
func (o Outcome) Delivered() bool {
	return o.Err == "" && o.StatusCode != nil && *o.StatusCode >= 200 && *o.StatusCode < 300
}

// maxErrorLength bounds the last_error kept with a delivery.
const maxErrorLength = 500

// Recorded is what recording an attempt changed about its endpoint.
type Recorded struct {
	Failed       bool       // the delivery failed for good
	FailingSince *time.Time // when the endpoint's current run of failures began; nil after a success
}

// RecordAttempt stores one attempt's outcome on a claimed delivery and on its endpoint's run of failures, inside
// tx. A delivery re-sent by hand meanwhile keeps its new schedule.
func RecordAttempt(ctx context.Context, tx pgx.Tx, d Claimed, o Outcome) (Recorded, error) {
	errText := o.Err
	if len(errText) > maxErrorLength {
		errText = errText[:maxErrorLength]
	}
	status, delivered := DeliveryPending, (*time.Time)(nil)
	var next *time.Time
	switch {
	case o.Delivered():
		status, delivered = DeliveryDelivered, &o.At
	case o.Next.IsZero():
		status = DeliveryFailed
	default:
		next = &o.Next
	}
	_, err := tx.Exec(ctx, `UPDATE webhook_deliveries SET status = $2, attempts = attempts + 1,
			schedule_attempts = schedule_attempts + 1, next_attempt_at = $3, last_attempt_at = $4,
			last_status_code = $5, last_error = NULLIF($6, ''), delivered_at = $7
		WHERE delivery_id = $1 AND status = 'pending' AND schedule_started_at = $8`,
		d.ID, status, next, o.At, o.StatusCode, errText, delivered, d.ScheduleStartedAt)
	if err != nil {
		return Recorded{}, fmt.Errorf("record attempt of delivery %s: %w", d.ID, err)
	}
	rec := Recorded{Failed: status == DeliveryFailed}
	if o.Delivered() {
		_, err = tx.Exec(ctx, `UPDATE webhook_endpoints SET failing_since = NULL
			WHERE endpoint_id = $1 AND failing_since IS NOT NULL`, d.EndpointID)
	} else {
		err = tx.QueryRow(ctx, `UPDATE webhook_endpoints SET failing_since = coalesce(failing_since, $2)
			WHERE endpoint_id = $1 RETURNING failing_since`, d.EndpointID, o.At).Scan(&rec.FailingSince)
	}
	if err != nil {
		return Recorded{}, fmt.Errorf("record attempt on endpoint %s: %w", d.EndpointID, err)
	}
	return rec, nil
}

// DisableFailing disables endpointID, inside tx, when it is enabled and has been failing since before cutoff, and
// queues the webhook_endpoint.disabled event that says so in the outbox. It reports whether it disabled it.
func DisableFailing(ctx context.Context, tx pgx.Tx, endpointID uuid.UUID, cutoff, now time.Time) (bool, error) {
	var owner string
	var since time.Time
	err := tx.QueryRow(ctx, `UPDATE webhook_endpoints SET status = 'disabled', disabled_reason = 'failing',
			updated_at = $3
		WHERE endpoint_id = $1 AND status = 'enabled' AND failing_since <= $2
		RETURNING owner, failing_since`, endpointID, cutoff, now).Scan(&owner, &since)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("disable failing endpoint %s: %w", endpointID, err)
	}
	id := endpointID
	ev := eventstore.Event{
		EventID: uuid.New(), Type: eventstore.EventWebhookEndpointDisabled, Version: eventstore.EventSchemaVersion,
		OccurredAt: now, Sub: eventstore.SystemOwner, Owner: owner, WalletIDs: []uuid.UUID{}, EndpointID: &id,
		Reason: fmt.Sprintf("every delivery failed since %s", since.UTC().Format(time.RFC3339)),
	}
	b := &pgx.Batch{}
	if err := eventstore.QueueEvents(b, []eventstore.Event{ev}, nil); err != nil {
		return false, err
	}
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return false, fmt.Errorf("announce disabled endpoint %s: %w", endpointID, err)
	}
	return true, nil
}

// Backlog is how far the enabled endpoints are behind.
type Backlog struct {
	Pending   int64   // deliveries not yet delivered nor failed
	OldestAge float64 // seconds since the oldest of their events occurred; 0 when there is none
}

// MeasureBacklog reads the pending deliveries of enabled endpoints and the age of the oldest one's event.
func MeasureBacklog(ctx context.Context, q eventstore.Querier, now time.Time) (Backlog, error) {
	var b Backlog
	var oldest *time.Time
	err := q.QueryRow(ctx, `SELECT count(*), (SELECT occurred_at FROM events WHERE seq = min(d.event_seq))
		FROM webhook_deliveries d JOIN webhook_endpoints e ON e.endpoint_id = d.endpoint_id AND e.status = 'enabled'
		WHERE d.status = 'pending'`).Scan(&b.Pending, &oldest)
	if err != nil {
		return Backlog{}, fmt.Errorf("measure the webhook backlog: %w", err)
	}
	if oldest != nil {
		b.OldestAge = max(now.Sub(*oldest).Seconds(), 0)
	}
	return b, nil
}
