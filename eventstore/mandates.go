package eventstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// Mandate statuses as stored; "expired" is derived from expires_at when a mandate is read.
const (
	MandateActive  = "active"
	MandateRevoked = "revoked"
	MandateExpired = "expired"
)

// Limit periods. Periods are calendar periods in UTC (a week starts on Monday); "total" never starts again.
const (
	PeriodDay   = "day"
	PeriodWeek  = "week"
	PeriodMonth = "month"
	PeriodTotal = "total"
)

// Mandate is an agent's right to spend from one wallet within limits its owner (or an admin) set.
type Mandate struct {
	ID                  uuid.UUID
	WalletID            uuid.UUID
	Asset               string
	Agent               string
	GrantedBy           string
	MaxPerTransaction   *int64
	LimitAmount         *int64
	LimitPeriod         string
	AllowedDestinations []uuid.UUID
	Description         string
	Status              string
	ExpiresAt           time.Time
	CreatedAt           time.Time
	RevokedAt           *time.Time
	RevokedBy           string
	PeriodStart         time.Time
	SpentInPeriod       int64
	UpdatedAt           time.Time
}

// ActiveAt reports whether the mandate authorises spending at now: not revoked and not expired.
func (m Mandate) ActiveAt(now time.Time) bool {
	return m.Status == MandateActive && now.Before(m.ExpiresAt)
}

// StatusAt is the status a reader sees at now.
func (m Mandate) StatusAt(now time.Time) string {
	if m.Status == MandateActive && !now.Before(m.ExpiresAt) {
		return MandateExpired
	}
	return m.Status
}

// CurrentPeriod is the start of the limit period that contains now.
func (m Mandate) CurrentPeriod(now time.Time) time.Time {
	return PeriodStart(m.LimitPeriod, m.CreatedAt, now)
}

// SpentAt is what has been charged in the period that contains now: nothing yet when a new period has begun.
func (m Mandate) SpentAt(now time.Time) int64 {
	if m.PeriodStart.Equal(m.CurrentPeriod(now)) {
		return m.SpentInPeriod
	}
	return 0
}

// PeriodStart returns the start of the period of kind that contains now; "total" (and no limit) is one period
// from created on.
func PeriodStart(kind string, created, now time.Time) time.Time {
	now = now.UTC()
	day := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	switch kind {
	case PeriodDay:
		return day
	case PeriodWeek:
		// Go's Sunday is 0; ISO weeks start on Monday.
		back := (int(day.Weekday()) + 6) % 7
		return day.AddDate(0, 0, -back)
	case PeriodMonth:
		return time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
	default:
		return created.UTC()
	}
}

// LimitView is a mandate's spending limit.
type LimitView struct {
	Amount int64  `json:"amount"`
	Period string `json:"period"`
}

// MandateView is the JSON representation of a mandate at one moment.
type MandateView struct {
	MandateID           uuid.UUID   `json:"mandate_id"`
	WalletID            uuid.UUID   `json:"wallet_id"`
	Asset               string      `json:"asset"`
	Agent               string      `json:"agent"`
	GrantedBy           string      `json:"granted_by"`
	Status              string      `json:"status"`
	MaxPerTransaction   *int64      `json:"max_per_transaction,omitempty"`
	Limit               *LimitView  `json:"limit,omitempty"`
	AllowedDestinations []uuid.UUID `json:"allowed_destinations,omitempty"`
	Description         string      `json:"description,omitempty"`
	SpentInPeriod       int64       `json:"spent_in_period"`
	Remaining           *int64      `json:"remaining,omitempty"`
	PeriodStart         time.Time   `json:"period_start"`
	ExpiresAt           time.Time   `json:"expires_at"`
	CreatedAt           time.Time   `json:"created_at"`
	RevokedAt           *time.Time  `json:"revoked_at,omitempty"`
	RevokedBy           string      `json:"revoked_by,omitempty"`
}

// ViewAt describes m as it stands at now.
func (m Mandate) ViewAt(now time.Time) MandateView {
	v := MandateView{
		MandateID: m.ID, WalletID: m.WalletID, Asset: m.Asset, Agent: m.Agent, GrantedBy: m.GrantedBy,
		Status: m.StatusAt(now), MaxPerTransaction: m.MaxPerTransaction, AllowedDestinations: m.AllowedDestinations,
		Description: m.Description, SpentInPeriod: m.SpentAt(now), PeriodStart: m.CurrentPeriod(now),
		ExpiresAt: m.ExpiresAt, CreatedAt: m.CreatedAt, RevokedAt: m.RevokedAt, RevokedBy: m.RevokedBy,
	}
	if m.LimitAmount != nil {
		v.Limit = &LimitView{Amount: *m.LimitAmount, Period: m.LimitPeriod}
		remaining := max(*m.LimitAmount-v.SpentInPeriod, 0)
		v.Remaining = &remaining
	}
	return v
}

// NewMandateEvent describes a granted or revoked mandate.
func NewMandateEvent(typ string, m Mandate, sub string, now time.Time) Event {
	view := m.ViewAt(now)
	id := m.ID
	wallet := m.WalletID
	return Event{
		EventID: uuid.New(), Type: typ, Version: EventSchemaVersion, OccurredAt: now, Sub: sub, WalletID: &wallet,
		Asset: m.Asset, WalletIDs: []uuid.UUID{m.WalletID}, MandateID: &id, Mandate: &view,
	}
}

const mandateColumns = `mandate_id, wallet_id, asset, agent, granted_by, max_per_transaction, limit_amount,
	coalesce(limit_period, ''), coalesce(allowed_destinations, '{}'), coalesce(description, ''), status, expires_at,
	created_at, revoked_at, coalesce(revoked_by, ''), period_start, spent_in_period, updated_at`

func scanMandate(row pgx.Row) (Mandate, error) {
	var m Mandate
	err := row.Scan(&m.ID, &m.WalletID, &m.Asset, &m.Agent, &m.GrantedBy, &m.MaxPerTransaction, &m.LimitAmount,
		&m.LimitPeriod, &m.AllowedDestinations, &m.Description, &m.Status, &m.ExpiresAt, &m.CreatedAt, &m.RevokedAt,
		&m.RevokedBy, &m.PeriodStart, &m.SpentInPeriod, &m.UpdatedAt)
	if len(m.AllowedDestinations) == 0 {
		m.AllowedDestinations = nil
	}
	return m, err
}

func scanMandates(rows pgx.Rows, dst *[]Mandate) error {
	for rows.Next() {
		m, err := scanMandate(rows)
		if err != nil {
			return err
		}
		*dst = append(*dst, m)
	}
	return rows.Err()
}

// QueueInsertMandate queues the insert of a new mandate.
func QueueInsertMandate(b *pgx.Batch, m Mandate) {
	var dest []uuid.UUID
	if len(m.AllowedDestinations) > 0 {
		dest = m.AllowedDestinations
	}
	var period *string
	if m.LimitPeriod != "" {
		period = &m.LimitPeriod
	}
	b.Queue(`INSERT INTO mandates (mandate_id, wallet_id, asset, agent, granted_by, max_per_transaction, limit_amount,
		limit_period, allowed_destinations, description, status, expires_at, created_at, period_start, spent_in_period,
		updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, NULLIF($10, ''), $11, $12, $13, $14, $15, $16)`,
		m.ID, m.WalletID, m.Asset, m.Agent, m.GrantedBy, m.MaxPerTransaction, m.LimitAmount, period, dest,
		m.Description, m.Status, m.ExpiresAt, m.CreatedAt, m.PeriodStart, m.SpentInPeriod, m.UpdatedAt)
}

// QueueLockMandate queues locking mandate id (FOR UPDATE) and reading it into dst; a missing one leaves dst empty.
func QueueLockMandate(b *pgx.Batch, id uuid.UUID, dst *[]Mandate) {
	b.Queue(`SELECT `+mandateColumns+` FROM mandates WHERE mandate_id = $1 FOR UPDATE`, id).
		Query(func(rows pgx.Rows) error { return scanMandates(rows, dst) })
}

// QueueLockAgentMandates queues locking every mandate agent holds on walletID (active or not), in mandate_id
// order, into dst, and whether there is any at all into anyExist. One statement answers both, because it runs on
// every spend by a non-admin, owners' own included; callers filter with ActiveAt.
func QueueLockAgentMandates(b *pgx.Batch, walletID uuid.UUID, agent string, dst *[]Mandate, anyExist *bool) {
	b.Queue(`SELECT `+mandateColumns+` FROM mandates WHERE wallet_id = $1 AND agent = $2
		ORDER BY mandate_id FOR UPDATE`, walletID, agent).
		Query(func(rows pgx.Rows) error {
			if err := scanMandates(rows, dst); err != nil {
				return err
			}
			*anyExist = len(*dst) > 0
			return nil
		})
}

// QueueAgentHasMandates queues learning whether agent holds any mandate on walletID (active or not), without
// locking: a spend that names a mandate uses it to decide what the caller may know about the wallet.
func QueueAgentHasMandates(b *pgx.Batch, walletID uuid.UUID, agent string, dst *bool) {
	b.Queue(`SELECT EXISTS (SELECT 1 FROM mandates WHERE wallet_id = $1 AND agent = $2)`, walletID, agent).
		QueryRow(func(row pgx.Row) error { return row.Scan(dst) })
}

// QueueUpdateMandateSpend queues storing a locked mandate's spending counter.
func QueueUpdateMandateSpend(b *pgx.Batch, m Mandate, now time.Time) {
	b.Queue(`UPDATE mandates SET period_start = $2, spent_in_period = $3, updated_at = $4 WHERE mandate_id = $1`,
		m.ID, m.PeriodStart, m.SpentInPeriod, now)
}

// QueueRevokeMandate queues revoking a locked mandate.
func QueueRevokeMandate(b *pgx.Batch, id uuid.UUID, by string, now time.Time) {
	b.Queue(`UPDATE mandates SET status = 'revoked', revoked_at = $2, revoked_by = $3, updated_at = $2
		WHERE mandate_id = $1`, id, now, by)
}

// GetMandate reads one mandate.
func GetMandate(ctx context.Context, q Querier, id uuid.UUID) (Mandate, error) {
	m, err := scanMandate(q.QueryRow(ctx, `SELECT `+mandateColumns+` FROM mandates WHERE mandate_id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return Mandate{}, Errorf("mandate_not_found", "mandate %s does not exist or is not visible to you", id)
	}
	if err != nil {
		return Mandate{}, classify(fmt.Errorf("read mandate %s: %w", id, err))
	}
	return m, nil
}

// AgentHasActiveMandate reports whether agent may act on walletID now through an active mandate.
func AgentHasActiveMandate(ctx context.Context, q Querier, walletID uuid.UUID, agent string, now time.Time) (bool, error) {
	var ok bool
	err := q.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM mandates WHERE wallet_id = $1 AND agent = $2
		AND status = 'active' AND expires_at > $3)`, walletID, agent, now).Scan(&ok)
	if err != nil {
		return false, classify(fmt.Errorf("look up mandates of %s on %s: %w", agent, walletID, err))
	}
	return ok, nil
}
