package webhook

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/agentic-commerce/wallet-ledger/eventstore"
)

// Delivery is one event to send to one endpoint, as stored.
type Delivery struct {
	ID                uuid.UUID
	EndpointID        uuid.UUID
	EventSeq          int64
	EventID           uuid.UUID
	EventType         string
	Status            string
	Attempts          int
	ScheduleAttempts  int // failed attempts since the schedule (re)started
	ScheduleStartedAt time.Time
	NextAttemptAt     *time.Time
	LastAttemptAt     *time.Time
	LastStatusCode    *int
	LastError         string
	DeliveredAt       *time.Time
	CreatedAt         time.Time
}

// DeliveryView is the JSON representation of a delivery.
type DeliveryView struct {
	DeliveryID     uuid.UUID  `json:"delivery_id"`
	EndpointID     uuid.UUID  `json:"endpoint_id"`
	EventID        uuid.UUID  `json:"event_id"`
	EventType      string     `json:"event_type"`
	Status         string     `json:"status"`
	Attempts       int        `json:"attempts"`
	LastStatusCode *int       `json:"last_status_code"`
	LastError      string     `json:"last_error,omitempty"`
	LastAttemptAt  *time.Time `json:"last_attempt_at"`
	NextAttemptAt  *time.Time `json:"next_attempt_at"`
	DeliveredAt    *time.Time `json:"delivered_at"`
	CreatedAt      time.Time  `json:"created_at"`
}

// View describes d.
func (d Delivery) View() DeliveryView {
	return DeliveryView{DeliveryID: d.ID, EndpointID: d.EndpointID, EventID: d.EventID, EventType: d.EventType,
		Status: d.Status, Attempts: d.Attempts, LastStatusCode: d.LastStatusCode, LastError: d.LastError,
		LastAttemptAt: d.LastAttemptAt, NextAttemptAt: d.NextAttemptAt, DeliveredAt: d.DeliveredAt, CreatedAt: d.CreatedAt}
}

// DeliveryNotFound is the answer about a delivery that does not exist or is not the endpoint's.
func DeliveryNotFound(id uuid.UUID) error {
	return ErrDeliveryNotFound.Withf("webhook delivery %s does not exist or is not visible to you", id)
}

const deliveryColumns = `delivery_id, endpoint_id, event_seq, event_id, event_type, status, attempts,
	schedule_attempts, schedule_started_at, next_attempt_at, last_attempt_at, last_status_code,
	coalesce(last_error, ''), delivered_at, created_at`

func scanDelivery(row pgx.Row) (Delivery, error) {
	var d Delivery
	err := row.Scan(&d.ID, &d.EndpointID, &d.EventSeq, &d.EventID, &d.EventType, &d.Status, &d.Attempts,
		&d.ScheduleAttempts, &d.ScheduleStartedAt, &d.NextAttemptAt, &d.LastAttemptAt, &d.LastStatusCode,
		&d.LastError, &d.DeliveredAt, &d.CreatedAt)
	return d, err
}

func scanDeliveries(rows pgx.Rows, dst *[]Delivery) error {
	for rows.Next() {
		d, err := scanDelivery(rows)
		if err != nil {
			return err
		}
		*dst = append(*dst, d)
	}
	return rows.Err()
}

// QueueCreateDeliveries queues, after the statement that records the events eventIDs in the feed (in the same
// transaction), creating one delivery of each to every enabled endpoint that receives it, in one statement. A
// delivery that exists already (a re-delivered event) is left as it is. created receives how many were made.
func QueueCreateDeliveries(b *pgx.Batch, eventIDs []uuid.UUID, now time.Time, created *int64) {
	b.Queue(`INSERT INTO webhook_deliveries (delivery_id, endpoint_id, event_seq, event_id, event_type, status,
			schedule_started_at, next_attempt_at, created_at)
		SELECT gen_random_uuid(), w.endpoint_id, e.seq, e.event_id, e.type, 'pending', $2, $2, $2
		FROM events e JOIN webhook_endpoints w ON w.status = 'enabled' AND (w.all_events OR w.owner = ANY(e.audience))
			AND (cardinality(w.event_types) = 0 OR e.type = ANY(w.event_types))
		WHERE e.event_id = ANY($1)
		ON CONFLICT ON CONSTRAINT webhook_deliveries_event_key DO NOTHING`, eventIDs, now).
		Exec(func(tag pgconn.CommandTag) error {
			*created = tag.RowsAffected()
			return nil
		})
}

// DeliveryPage is one page of an endpoint's deliveries, newest event first.
type DeliveryPage struct {
	Deliveries []Delivery
	Before     *int64 // pass it to read the next (older) page; nil on the last page
}

// ListDeliveries reads up to limit deliveries of endpointID whose event is older than before (0: from the
// newest), newest first, only those with status when it is not empty.
func ListDeliveries(ctx context.Context, q eventstore.Querier, endpointID uuid.UUID, status string, before int64, limit int) (DeliveryPage, error) {
	if before <= 0 {
		before = 1<<63 - 1
	}
	rows, err := q.Query(ctx, `SELECT `+deliveryColumns+` FROM webhook_deliveries
		WHERE endpoint_id = $1 AND event_seq < $2 AND ($3 = '' OR status = $3)
		ORDER BY event_seq DESC LIMIT $4`, endpointID, before, status, limit+1)
	if err != nil {
		return DeliveryPage{}, eventstore.Classify(fmt.Errorf("list deliveries of %s: %w", endpointID, err))
	}
	defer rows.Close()
	page := DeliveryPage{Deliveries: []Delivery{}}
	if err := scanDeliveries(rows, &page.Deliveries); err != nil {
		return DeliveryPage{}, eventstore.Classify(fmt.Errorf("list deliveries of %s: %w", endpointID, err))
	}
	if len(page.Deliveries) > limit {
		page.Deliveries = page.Deliveries[:limit]
		last := page.Deliveries[limit-1].EventSeq
		page.Before = &last
	}
	return page, nil
}

// QueueLockDelivery queues locking delivery id of endpointID (FOR UPDATE) and reading it into dst; a missing one,
// or one of another endpoint, leaves dst empty.
func QueueLockDelivery(b *pgx.Batch, endpointID, id uuid.UUID, dst *[]Delivery) {
	b.Queue(`SELECT `+deliveryColumns+` FROM webhook_deliveries WHERE delivery_id = $1 AND endpoint_id = $2
		FOR UPDATE`, id, endpointID).
		Query(func(rows pgx.Rows) error { return scanDeliveries(rows, dst) })
}

// QueueResend queues sending a locked delivery again from now, with a fresh retry schedule. It is sent once its
// endpoint is enabled.
func QueueResend(b *pgx.Batch, id uuid.UUID, now time.Time) {
	b.Queue(`UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = $2, schedule_attempts = 0,
		schedule_started_at = $2, delivered_at = NULL WHERE delivery_id = $1`, id, now)
}

// GetDelivery reads one delivery of endpointID.
func GetDelivery(ctx context.Context, q eventstore.Querier, endpointID, id uuid.UUID) (Delivery, error) {
	d, err := scanDelivery(q.QueryRow(ctx, `SELECT `+deliveryColumns+` FROM webhook_deliveries
		WHERE delivery_id = $1 AND endpoint_id = $2`, id, endpointID))
	if errors.Is(err, pgx.ErrNoRows) {
		return Delivery{}, DeliveryNotFound(id)
	}
	if err != nil {
		return Delivery{}, eventstore.Classify(fmt.Errorf("read delivery %s: %w", id, err))
	}
	return d, nil
}
