package webhook

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/agentic-commerce/wallet-ledger/eventstore"
)

// RotationOverlap is how long the secret before a rotation keeps signing beside the new one.
const RotationOverlap = 24 * time.Hour

// Endpoint is a URL that receives events, as stored. Its secrets are sealed (see Keyring).
type Endpoint struct {
	ID                      uuid.UUID
	Owner                   string
	AllEvents               bool // created by an admin: receives every event, not only its owner's
	URL                     string
	EventTypes              []string // empty: every type
	Description             string
	Status                  string
	DisabledReason          string
	Secret                  []byte
	PreviousSecret          []byte
	PreviousSecretExpiresAt *time.Time
	FailingSince            *time.Time
	CreatedAt               time.Time
	UpdatedAt               time.Time
}

// EndpointView is the JSON representation of an endpoint. Secret is set only in the answers that create it
// (create, rotate_secret): it is never shown again.
type EndpointView struct {
	EndpointID              uuid.UUID  `json:"endpoint_id"`
	Owner                   string     `json:"owner"`
	URL                     string     `json:"url"`
	EventTypes              []string   `json:"event_types"`
	Description             string     `json:"description,omitempty"`
	Status                  string     `json:"status"`
	DisabledReason          string     `json:"disabled_reason,omitempty"`
	AllEvents               bool       `json:"all_events"`
	PreviousSecretExpiresAt *time.Time `json:"previous_secret_expires_at,omitempty"`
	FailingSince            *time.Time `json:"failing_since,omitempty"`
	CreatedAt               time.Time  `json:"created_at"`
	UpdatedAt               time.Time  `json:"updated_at"`
	Secret                  string     `json:"secret,omitempty"`
}

// ViewAt describes e as it stands at now.
func (e Endpoint) ViewAt(now time.Time) EndpointView {
	v := EndpointView{EndpointID: e.ID, Owner: e.Owner, URL: e.URL, EventTypes: e.EventTypes,
		Description: e.Description, Status: e.Status, DisabledReason: e.DisabledReason, AllEvents: e.AllEvents,
		FailingSince: e.FailingSince, CreatedAt: e.CreatedAt, UpdatedAt: e.UpdatedAt}
	if v.EventTypes == nil {
		v.EventTypes = []string{}
	}
	if e.PreviousSecretExpiresAt != nil && e.PreviousSecretExpiresAt.After(now) {
		v.PreviousSecretExpiresAt = e.PreviousSecretExpiresAt
	}
	return v
}

// SigningSecrets opens the secrets that sign a delivery at now: the current one, and the one before the last
// rotation until it expires.
func (e Endpoint) SigningSecrets(k *Keyring, now time.Time) ([]string, error) {
	if k == nil {
		return nil, errors.New("no WEBHOOK_SECRET_KEY to open the endpoint's secret")
	}
	cur, err := k.Open(e.Secret, SecretContext(e.ID.String()))
	if err != nil {
		return nil, fmt.Errorf("endpoint %s: %w", e.ID, err)
	}
	out := []string{string(cur)}
	if e.PreviousSecret != nil && e.PreviousSecretExpiresAt != nil && e.PreviousSecretExpiresAt.After(now) {
		prev, err := k.Open(e.PreviousSecret, SecretContext(e.ID.String()))
		if err != nil {
			return nil, fmt.Errorf("endpoint %s, previous secret: %w", e.ID, err)
		}
		out = append(out, string(prev))
	}
	return out, nil
}

// NotFound is the answer about an endpoint that does not exist, was deleted, or is not the caller's.
func NotFound(id uuid.UUID) error {
	return ErrEndpointNotFound.Withf("webhook endpoint %s does not exist or is not visible to you", id)
}

const endpointColumns = `endpoint_id, owner, all_events, url, event_types, coalesce(description, ''), status,
	coalesce(disabled_reason, ''), secret, previous_secret, previous_secret_expires_at, failing_since, created_at,
	updated_at`

func scanEndpoint(row pgx.Row) (Endpoint, error) {
	var e Endpoint
	err := row.Scan(&e.ID, &e.Owner, &e.AllEvents, &e.URL, &e.EventTypes, &e.Description, &e.Status,
		&e.DisabledReason, &e.Secret, &e.PreviousSecret, &e.PreviousSecretExpiresAt, &e.FailingSince, &e.CreatedAt,
		&e.UpdatedAt)
	return e, err
}

func scanEndpoints(rows pgx.Rows, dst *[]Endpoint) error {
	for rows.Next() {
		e, err := scanEndpoint(rows)
		if err != nil {
			return err
		}
		*dst = append(*dst, e)
	}
	return rows.Err()
}

// QueueInsertEndpoint queues the insert of a new endpoint.
func QueueInsertEndpoint(b *pgx.Batch, e Endpoint) {
	b.Queue(`INSERT INTO webhook_endpoints (endpoint_id, owner, all_events, url, event_types, description, status,
		secret, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, NULLIF($6, ''), $7, $8, $9, $10)`,
		e.ID, e.Owner, e.AllEvents, e.URL, e.EventTypes, e.Description, e.Status, e.Secret, e.CreatedAt, e.UpdatedAt)
}

// QueueCountEndpoints queues counting owner's endpoints that are not deleted, after taking a transaction lock on
// the owner's endpoints, so two concurrent creations cannot both pass the limit.
func QueueCountEndpoints(b *pgx.Batch, owner string, dst *int) {
	b.Queue(`SELECT pg_advisory_xact_lock(hashtextextended('webhook_endpoints:' || $1, 0))`, owner)
	b.Queue(`SELECT count(*) FROM webhook_endpoints WHERE owner = $1 AND status <> 'deleted'`, owner).
		QueryRow(func(row pgx.Row) error { return row.Scan(dst) })
}

// QueueLockEndpoint queues locking endpoint id (FOR UPDATE) and reading it into dst; a missing one leaves dst
// empty.
func QueueLockEndpoint(b *pgx.Batch, id uuid.UUID, dst *[]Endpoint) {
	b.Queue(`SELECT `+endpointColumns+` FROM webhook_endpoints WHERE endpoint_id = $1 FOR UPDATE`, id).
		Query(func(rows pgx.Rows) error { return scanEndpoints(rows, dst) })
}

// QueueSetStatus queues enabling (reason "") or disabling a locked endpoint. Enabling also forgets its failures,
// so it gets a full WEBHOOK_DISABLE_AFTER again.
func QueueSetStatus(b *pgx.Batch, id uuid.UUID, status, reason string, now time.Time) {
	b.Queue(`UPDATE webhook_endpoints SET status = $2, disabled_reason = NULLIF($3, ''), updated_at = $4,
		failing_since = CASE WHEN $2 = 'enabled' THEN NULL ELSE failing_since END
		WHERE endpoint_id = $1`, id, status, reason, now)
}

// QueueRotateSecret queues replacing a locked endpoint's secret; previous keeps signing until expires.
func QueueRotateSecret(b *pgx.Batch, id uuid.UUID, secret, previous []byte, expires, now time.Time) {
	b.Queue(`UPDATE webhook_endpoints SET secret = $2, previous_secret = $3, previous_secret_expires_at = $4,
		updated_at = $5 WHERE endpoint_id = $1`, id, secret, previous, expires, now)
}

// LockEndpoint locks endpoint id (FOR UPDATE) inside a transaction and reads it.
func LockEndpoint(ctx context.Context, q eventstore.Querier, id uuid.UUID) (Endpoint, error) {
	e, err := scanEndpoint(q.QueryRow(ctx, `SELECT `+endpointColumns+` FROM webhook_endpoints
		WHERE endpoint_id = $1 FOR UPDATE`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return Endpoint{}, NotFound(id)
	}
	if err != nil {
		return Endpoint{}, eventstore.Classify(fmt.Errorf("lock webhook endpoint %s: %w", id, err))
	}
	return e, nil
}

// MarkDeleted turns a locked endpoint into a tombstone: deleted, its secrets erased, and its pending deliveries
// failed, since nothing is sent to a deleted endpoint.
func MarkDeleted(ctx context.Context, q eventstore.Querier, id uuid.UUID, now time.Time) error {
	b := &pgx.Batch{}
	b.Queue(`UPDATE webhook_endpoints SET status = 'deleted', disabled_reason = NULL, secret = NULL,
		previous_secret = NULL, previous_secret_expires_at = NULL, updated_at = $2 WHERE endpoint_id = $1`, id, now)
	b.Queue(`UPDATE webhook_deliveries SET status = 'failed', next_attempt_at = NULL, last_error = 'endpoint deleted'
		WHERE endpoint_id = $1 AND status = 'pending'`, id)
	if err := q.SendBatch(ctx, b).Close(); err != nil {
		return eventstore.Classify(fmt.Errorf("delete webhook endpoint %s: %w", id, err))
	}
	return nil
}

// GetEndpoint reads one endpoint that is not deleted.
func GetEndpoint(ctx context.Context, q eventstore.Querier, id uuid.UUID) (Endpoint, error) {
	e, err := scanEndpoint(q.QueryRow(ctx, `SELECT `+endpointColumns+` FROM webhook_endpoints
		WHERE endpoint_id = $1 AND status <> 'deleted'`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return Endpoint{}, NotFound(id)
	}
	if err != nil {
		return Endpoint{}, eventstore.Classify(fmt.Errorf("read webhook endpoint %s: %w", id, err))
	}
	return e, nil
}

// ListEndpoints reads owner's endpoints that are not deleted, oldest first.
func ListEndpoints(ctx context.Context, q eventstore.Querier, owner string) ([]Endpoint, error) {
	rows, err := q.Query(ctx, `SELECT `+endpointColumns+` FROM webhook_endpoints
		WHERE owner = $1 AND status <> 'deleted' ORDER BY created_at, endpoint_id`, owner)
	if err != nil {
		return nil, eventstore.Classify(fmt.Errorf("list webhook endpoints: %w", err))
	}
	defer rows.Close()
	out := []Endpoint{}
	if err := scanEndpoints(rows, &out); err != nil {
		return nil, eventstore.Classify(fmt.Errorf("list webhook endpoints: %w", err))
	}
	return out, nil
}

// AnyEnabledEndpoint reads one enabled endpoint, or nil when there is none. The relay refuses to start without a
// key while one exists, and checks that its key opens that endpoint's secret.
func AnyEnabledEndpoint(ctx context.Context, q eventstore.Querier) (*Endpoint, error) {
	e, err := scanEndpoint(q.QueryRow(ctx, `SELECT `+endpointColumns+` FROM webhook_endpoints
		WHERE status = 'enabled' LIMIT 1`))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read an enabled webhook endpoint: %w", err)
	}
	return &e, nil
}
