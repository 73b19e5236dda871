package eventstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// Mandate statuses as stored; "expired" is derived from expires_at when a mandate is read. Revoked, expired and
// consumed are terminal; a suspended mandate may be resumed.
const (
	MandateActive    = "active"
	MandateSuspended = "suspended"
	MandateRevoked   = "revoked"
	MandateConsumed  = "consumed"
	MandateExpired   = "expired"
)

// Why a mandate stopped authorising spends (deactivated_reason).
const (
	ReasonSuspended = "suspended" // its owner, an admin or its agent suspended it
	ReasonRevoked   = "revoked"   // its owner or an admin revoked it
	ReasonRenounced = "renounced" // its agent revoked it
	ReasonReplaced  = "replaced"  // a replacement took its place
	ReasonConsumed  = "consumed"  // single use: its one spend is made
	ReasonExpired   = "expired"   // its expires_at passed
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

	DeactivatedReason string
	// Version grows by one with every change (each spend included): If-Match of a replacement names it.
	Version   int64
	SingleUse bool
	// MaxTransactions caps the spends per MaxTransactionsPeriod; TransactionsInPeriod counts those of the period
	// that starts at TransactionsPeriodStart.
	MaxTransactions         *int64
	MaxTransactionsPeriod   string
	TransactionsPeriodStart time.Time
	TransactionsInPeriod    int64
	// Replaces is the mandate this one replaced.
	Replaces *uuid.UUID
}

// ActiveAt reports whether the mandate authorises spending at now: active (not suspended, revoked or consumed)
// and not expired.
func (m Mandate) ActiveAt(now time.Time) bool {
	return m.Status == MandateActive && now.Before(m.ExpiresAt)
}

// Terminal reports whether the mandate can never authorise a spend again: revoked, consumed or expired.
func (m Mandate) Terminal(now time.Time) bool {
	return m.Status == MandateRevoked || m.Status == MandateConsumed || !now.Before(m.ExpiresAt)
}

// StatusAt is the status a reader sees at now: an active or suspended mandate past its expiry is expired.
func (m Mandate) StatusAt(now time.Time) string {
	if (m.Status == MandateActive || m.Status == MandateSuspended) && !now.Before(m.ExpiresAt) {
		return MandateExpired
	}
	return m.Status
}

// ReasonAt is why the mandate no longer authorises spends at now, or "" while it is active.
func (m Mandate) ReasonAt(now time.Time) string {
	switch status := m.StatusAt(now); {
	case status == MandateActive:
		return ""
	case status == MandateExpired:
		return ReasonExpired
	case m.DeactivatedReason != "":
		return m.DeactivatedReason
	case status == MandateRevoked:
		return ReasonRevoked // revoked before reasons were recorded
	default:
		return status
	}
}

// CountPeriod is the period of the spend count: max_transactions' own, or the limit's when it has none.
func (m Mandate) CountPeriod() string {
	if m.MaxTransactions != nil {
		return m.MaxTransactionsPeriod
	}
	return m.LimitPeriod
}

// CurrentCountPeriod is the start of the count period that contains now.
func (m Mandate) CurrentCountPeriod(now time.Time) time.Time {
	return PeriodStart(m.CountPeriod(), m.CreatedAt, now)
}

// CountAt is how many spends were made in the count period that contains now.
func (m Mandate) CountAt(now time.Time) int64 {
	if m.TransactionsPeriodStart.Equal(m.CurrentCountPeriod(now)) {
		return m.TransactionsInPeriod
	}
	return 0
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

// NewMandateEvent describes a change of mandate m (typ is one of the mandate.* events) made by caller (sub, and
// actor: "" when the sub acted itself).
func NewMandateEvent(typ string, m Mandate, sub, actor string, now time.Time) Event {
	view := m.ViewAt(now)
	id := m.ID
	wallet := m.WalletID
	return Event{
		EventID: uuid.New(), Type: typ, Version: EventSchemaVersion, OccurredAt: now, Sub: sub, Actor: nullable(actor),
		WalletID: &wallet, Asset: m.Asset, WalletIDs: []uuid.UUID{m.WalletID}, MandateID: &id, Mandate: &view,
	}
}

const mandateColumns = `mandate_id, wallet_id, asset, agent, granted_by, max_per_transaction, limit_amount,
	coalesce(limit_period, ''), coalesce(allowed_destinations, '{}'), coalesce(description, ''), status, expires_at,
	created_at, revoked_at, coalesce(revoked_by, ''), period_start, spent_in_period, updated_at,
	coalesce(deactivated_reason, ''), version, single_use, max_transactions, coalesce(max_transactions_period, ''),
	coalesce(transactions_period_start, period_start), transactions_in_period, replaces`

func scanMandate(row pgx.Row) (Mandate, error) {
	var m Mandate
	err := row.Scan(&m.ID, &m.WalletID, &m.Asset, &m.Agent, &m.GrantedBy, &m.MaxPerTransaction, &m.LimitAmount,
		&m.LimitPeriod, &m.AllowedDestinations, &m.Description, &m.Status, &m.ExpiresAt, &m.CreatedAt, &m.RevokedAt,
		&m.RevokedBy, &m.PeriodStart, &m.SpentInPeriod, &m.UpdatedAt, &m.DeactivatedReason, &m.Version, &m.SingleUse,
		&m.MaxTransactions, &m.MaxTransactionsPeriod, &m.TransactionsPeriodStart, &m.TransactionsInPeriod, &m.Replaces)
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
	b.Queue(`INSERT INTO mandates (mandate_id, wallet_id, asset, agent, granted_by, max_per_transaction, limit_amount,
		limit_period, allowed_destinations, description, status, expires_at, created_at, period_start, spent_in_period,
		updated_at, version, single_use, max_transactions, max_transactions_period, transactions_period_start,
		transactions_in_period, replaces, deactivated_reason)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, NULLIF($10, ''), $11, $12, $13, $14, $15, $16, $17, $18, $19, $20,
			$21, $22, $23, $24)`,
		m.ID, m.WalletID, m.Asset, m.Agent, m.GrantedBy, m.MaxPerTransaction, m.LimitAmount, nullable(m.LimitPeriod),
		dest, m.Description, m.Status, m.ExpiresAt, m.CreatedAt, m.PeriodStart, m.SpentInPeriod, m.UpdatedAt, m.Version,
		m.SingleUse, m.MaxTransactions, nullable(m.MaxTransactionsPeriod), m.TransactionsPeriodStart,
		m.TransactionsInPeriod, m.Replaces, nullable(m.DeactivatedReason))
}

// nullable is s, or nil (SQL NULL, JSON null) when s is empty.
func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// QueueLockMandates queues locking, in one statement and in mandate_id order (so concurrent writers never
// deadlock), the mandates ids and every mandate the agents[i] hold on wallets[i] (active or not), reading them
// into dst. Callers filter with ActiveAt.
func QueueLockMandates(b *pgx.Batch, ids, wallets []uuid.UUID, agents []string, dst map[uuid.UUID]Mandate) {
	// The IDs are gathered in a subquery (a UNION of two index reads) before the lock: an OR of the two conditions on
	// the locked table itself would be planned, generically, as a scan of every mandate.
	b.Queue(`SELECT `+mandateColumns+` FROM mandates WHERE mandate_id IN (
			SELECT unnest($1::uuid[])
			UNION
			SELECT m.mandate_id FROM unnest($2::uuid[], $3::text[]) AS p(w, a)
			JOIN mandates m ON m.wallet_id = p.w AND m.agent = p.a)
		ORDER BY mandate_id FOR UPDATE`, ids, wallets, agents).
		Query(func(rows pgx.Rows) error {
			for rows.Next() {
				m, err := scanMandate(rows)
				if err != nil {
					return err
				}
				dst[m.ID] = m
			}
			return rows.Err()
		})
}

// QueueSaveMandates queues storing what a write may change of locked mandates (status and why, revocation,
// spending and count counters, version), in one statement.
func QueueSaveMandates(b *pgx.Batch, ms []Mandate) {
	if len(ms) == 0 {
		return
	}
	n := len(ms)
	ids, statuses, revokedBy, reasons := make([]uuid.UUID, n), make([]string, n), make([]string, n), make([]string, n)
	revokedAt := make([]*time.Time, n)
	periods, countPeriods, updated := make([]time.Time, n), make([]time.Time, n), make([]time.Time, n)
	spent, counts, versions := make([]int64, n), make([]int64, n), make([]int64, n)
	for i, m := range ms {
		ids[i], statuses[i], revokedAt[i], revokedBy[i], reasons[i] = m.ID, m.Status, m.RevokedAt, m.RevokedBy, m.DeactivatedReason
		periods[i], spent[i], updated[i], versions[i] = m.PeriodStart, m.SpentInPeriod, m.UpdatedAt, m.Version
		countPeriods[i], counts[i] = m.TransactionsPeriodStart, m.TransactionsInPeriod
	}
	b.Queue(`UPDATE mandates m SET status = u.status, revoked_at = u.revoked_at, revoked_by = NULLIF(u.revoked_by, ''),
		deactivated_reason = NULLIF(u.reason, ''), period_start = u.period, spent_in_period = u.spent,
		transactions_period_start = u.count_period, transactions_in_period = u.count, version = u.version,
		updated_at = u.updated
		FROM unnest($1::uuid[], $2::text[], $3::timestamptz[], $4::text[], $5::text[], $6::timestamptz[], $7::bigint[],
			$8::timestamptz[], $9::bigint[], $10::bigint[], $11::timestamptz[])
			AS u(id, status, revoked_at, revoked_by, reason, period, spent, count_period, count, version, updated)
		WHERE m.mandate_id = u.id`, ids, statuses, revokedAt, revokedBy, reasons, periods, spent, countPeriods, counts,
		versions, updated)
}

// GetMandate reads one mandate.
func GetMandate(ctx context.Context, q Querier, id uuid.UUID) (Mandate, error) {
	m, err := scanMandate(q.QueryRow(ctx, `SELECT `+mandateColumns+` FROM mandates WHERE mandate_id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return Mandate{}, ErrMandateNotFound.Withf("mandate %s does not exist or is not visible to you", id)
	}
	if err != nil {
		return Mandate{}, classify(fmt.Errorf("read mandate %s: %w", id, err))
	}
	return m, nil
}

// AgentHasActiveMandate reports whether agent may act on walletID now through an active mandate (a suspended one
// does not count).
func AgentHasActiveMandate(ctx context.Context, q Querier, walletID uuid.UUID, agent string, now time.Time) (bool, error) {
	var ok bool
	err := q.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM mandates WHERE wallet_id = $1 AND agent = $2
		AND status = 'active' AND expires_at > $3)`, walletID, agent, now).Scan(&ok)
	if err != nil {
		return false, classify(fmt.Errorf("look up mandates of %s on %s: %w", agent, walletID, err))
	}
	return ok, nil
}
