package eventstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// Hold statuses. An active hold past its expiry reads as expired before the sweeper releases it.
const (
	HoldActive   = "active"
	HoldCaptured = "captured"
	HoldVoided   = "voided"
	HoldExpired  = "expired"
)

// Hold reserves part of a wallet's available balance until it is captured, voided or expired.
type Hold struct {
	ID                   uuid.UUID
	WalletID             uuid.UUID
	Asset                string
	ToWalletID           *uuid.UUID
	Amount               int64
	CapturedAmount       int64
	Status               string
	ExpiresAt            time.Time
	Sub                  string
	MandateID            *uuid.UUID
	MandatePeriodStart   *time.Time
	Description          string
	Metadata             json.RawMessage
	TransactionID        uuid.UUID
	ReleaseTransactionID *uuid.UUID
	CreatedAt            time.Time
	UpdatedAt            time.Time
}

// ExpiredAt reports whether an active hold is past its expiry at now: it can no longer be captured.
func (h Hold) ExpiredAt(now time.Time) bool {
	return h.Status == HoldActive && !now.Before(h.ExpiresAt)
}

// HoldView is the JSON representation of a hold at one moment.
type HoldView struct {
	HoldID               uuid.UUID       `json:"hold_id"`
	WalletID             uuid.UUID       `json:"wallet_id"`
	ToWalletID           *uuid.UUID      `json:"to_wallet_id,omitempty"`
	Asset                string          `json:"asset"`
	Amount               int64           `json:"amount"`
	CapturedAmount       int64           `json:"captured_amount"`
	Status               string          `json:"status"`
	ExpiresAt            time.Time       `json:"expires_at"`
	Sub                  string          `json:"sub"`
	MandateID            *uuid.UUID      `json:"mandate_id,omitempty"`
	Description          string          `json:"description,omitempty"`
	Metadata             json.RawMessage `json:"metadata"`
	TransactionID        uuid.UUID       `json:"transaction_id"`
	ReleaseTransactionID *uuid.UUID      `json:"release_transaction_id,omitempty"`
	CreatedAt            time.Time       `json:"created_at"`
	UpdatedAt            time.Time       `json:"updated_at"`
}

// ViewAt describes h as it stands at now.
func (h Hold) ViewAt(now time.Time) HoldView {
	status := h.Status
	if h.ExpiredAt(now) {
		status = HoldExpired
	}
	return HoldView{
		HoldID: h.ID, WalletID: h.WalletID, ToWalletID: h.ToWalletID, Asset: h.Asset, Amount: h.Amount,
		CapturedAmount: h.CapturedAmount, Status: status, ExpiresAt: h.ExpiresAt, Sub: h.Sub, MandateID: h.MandateID,
		Description: h.Description, Metadata: metadataOrEmpty(h.Metadata), TransactionID: h.TransactionID,
		ReleaseTransactionID: h.ReleaseTransactionID, CreatedAt: h.CreatedAt, UpdatedAt: h.UpdatedAt,
	}
}

// NewHoldEvent describes one step of a hold (typ is one of the hold.* events), made by journal transaction t.
func NewHoldEvent(typ string, h Hold, t Transaction) Event {
	view := h.ViewAt(t.CreatedAt)
	id, txID := h.ID, t.ID
	wallets := []uuid.UUID{h.WalletID}
	if h.ToWalletID != nil {
		wallets = append(wallets, *h.ToWalletID)
	}
	amount := t.Amount
	return Event{
		EventID: uuid.New(), Type: typ, Version: EventSchemaVersion, OccurredAt: t.CreatedAt, Sub: t.Sub,
		TransactionID: &txID, Kind: t.Kind, Position: t.Position, Asset: h.Asset, Amount: &amount,
		WalletIDs: wallets, MandateID: h.MandateID, HoldID: &id, Hold: &view,
	}
}

const holdColumns = `hold_id, wallet_id, asset, to_wallet_id, amount, captured_amount, status, expires_at, sub,
	mandate_id, mandate_period_start, coalesce(description, ''), metadata, transaction_id, release_transaction_id,
	created_at, updated_at`

func scanHold(row pgx.Row) (Hold, error) {
	var h Hold
	err := row.Scan(&h.ID, &h.WalletID, &h.Asset, &h.ToWalletID, &h.Amount, &h.CapturedAmount, &h.Status,
		&h.ExpiresAt, &h.Sub, &h.MandateID, &h.MandatePeriodStart, &h.Description, &h.Metadata, &h.TransactionID,
		&h.ReleaseTransactionID, &h.CreatedAt, &h.UpdatedAt)
	return h, err
}

// QueueInsertHold queues the insert of a new hold; its journal transaction must be queued before it.
func QueueInsertHold(b *pgx.Batch, h Hold) {
	b.Queue(`INSERT INTO holds (hold_id, wallet_id, asset, to_wallet_id, amount, captured_amount, status, expires_at,
		sub, mandate_id, mandate_period_start, description, metadata, transaction_id, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, 0, $6, $7, $8, $9, $10, NULLIF($11, ''), $12, $13, $14, $14)`,
		h.ID, h.WalletID, h.Asset, h.ToWalletID, h.Amount, h.Status, h.ExpiresAt, h.Sub, h.MandateID,
		h.MandatePeriodStart, h.Description, metadataOrEmpty(h.Metadata), h.TransactionID, h.CreatedAt)
}

// QueueLockHold queues locking hold id (FOR UPDATE) and reading it into dst; found says whether it exists.
func QueueLockHold(b *pgx.Batch, id uuid.UUID, dst *Hold, found *bool) {
	b.Queue(`SELECT `+holdColumns+` FROM holds WHERE hold_id = $1 FOR UPDATE`, id).
		Query(func(rows pgx.Rows) error {
			for rows.Next() {
				h, err := scanHold(rows)
				if err != nil {
					return err
				}
				*dst, *found = h, true
			}
			return rows.Err()
		})
}

// QueueFinishHold queues the end state of a locked hold: captured, voided or expired by journal transaction
// releaseTx.
func QueueFinishHold(b *pgx.Batch, h Hold) {
	b.Queue(`UPDATE holds SET status = $2, captured_amount = $3, release_transaction_id = $4, updated_at = $5,
		to_wallet_id = $6 WHERE hold_id = $1`,
		h.ID, h.Status, h.CapturedAmount, h.ReleaseTransactionID, h.UpdatedAt, h.ToWalletID)
}

// GetHold reads one hold.
func GetHold(ctx context.Context, q Querier, id uuid.UUID) (Hold, error) {
	h, err := scanHold(q.QueryRow(ctx, `SELECT `+holdColumns+` FROM holds WHERE hold_id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return Hold{}, Errorf("hold_not_found", "hold %s does not exist or is not visible to you", id)
	}
	if err != nil {
		return Hold{}, classify(fmt.Errorf("read hold %s: %w", id, err))
	}
	return h, nil
}

// ListExpiredHolds returns up to limit active holds whose expiry is at or before now, oldest expiry first.
func ListExpiredHolds(ctx context.Context, q Querier, now time.Time, limit int) ([]uuid.UUID, error) {
	rows, err := q.Query(ctx, `SELECT hold_id FROM holds WHERE status = 'active' AND expires_at <= $1
		ORDER BY expires_at LIMIT $2`, now, limit)
	if err != nil {
		return nil, classify(fmt.Errorf("list expired holds: %w", err))
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
	if err != nil {
		return nil, classify(fmt.Errorf("list expired holds: %w", err))
	}
	return ids, nil
}

// QueueRefundedSum queues reading how much has been refunded of transaction id so far into dst. Run it after the
// lock that serialises refunds of id, so that it sees every refund committed before.
func QueueRefundedSum(b *pgx.Batch, id uuid.UUID, dst *int64) {
	b.Queue(`SELECT coalesce(sum(amount), 0)::bigint FROM journal_transactions WHERE refund_of = $1`, id).
		QueryRow(func(row pgx.Row) error { return row.Scan(dst) })
}
