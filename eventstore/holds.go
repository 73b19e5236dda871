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
	Actor                string // who acted for Sub (a delegated token's act.sub), or ""
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
		EventID: uuid.New(), Type: typ, Version: EventSchemaVersion, OccurredAt: t.CreatedAt, Sub: t.Sub, Actor: nullable(t.Actor),
		TransactionID: &txID, Kind: t.Kind, Position: t.Position, Asset: h.Asset, Amount: &amount,
		WalletIDs: wallets, MandateID: h.MandateID, HoldID: &id, Hold: &view,
	}
}

const holdColumns = `hold_id, wallet_id, asset, to_wallet_id, amount, captured_amount, status, expires_at, sub,
	mandate_id, mandate_period_start, coalesce(description, ''), metadata, transaction_id, release_transaction_id,
	created_at, updated_at, coalesce(actor, '')`

func scanHold(row pgx.Row) (Hold, error) {
	var h Hold
	err := row.Scan(&h.ID, &h.WalletID, &h.Asset, &h.ToWalletID, &h.Amount, &h.CapturedAmount, &h.Status,
		&h.ExpiresAt, &h.Sub, &h.MandateID, &h.MandatePeriodStart, &h.Description, &h.Metadata, &h.TransactionID,
		&h.ReleaseTransactionID, &h.CreatedAt, &h.UpdatedAt, &h.Actor)
	return h, err
}

// QueueInsertHolds queues the insert of new holds in one statement; their journal transactions must be queued
// before it.
func QueueInsertHolds(b *pgx.Batch, hs []Hold) {
	if len(hs) == 0 {
		return
	}
	n := len(hs)
	ids, wallets, txs := make([]uuid.UUID, n), make([]uuid.UUID, n), make([]uuid.UUID, n)
	to, mandates := make([]*uuid.UUID, n), make([]*uuid.UUID, n)
	assets, statuses, subs, descriptions, metadata := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	amounts := make([]int64, n)
	expires, created := make([]time.Time, n), make([]time.Time, n)
	periods, actors := make([]*time.Time, n), make([]*string, n)
	for i, h := range hs {
		actors[i] = nullable(h.Actor)
		ids[i], wallets[i], assets[i], to[i], amounts[i], statuses[i] = h.ID, h.WalletID, h.Asset, h.ToWalletID, h.Amount, h.Status
		expires[i], subs[i], mandates[i], periods[i] = h.ExpiresAt, h.Sub, h.MandateID, h.MandatePeriodStart
		descriptions[i], metadata[i], txs[i], created[i] = h.Description, string(metadataOrEmpty(h.Metadata)), h.TransactionID, h.CreatedAt
	}
	b.Queue(`INSERT INTO holds (hold_id, wallet_id, asset, to_wallet_id, amount, captured_amount, status, expires_at,
		sub, mandate_id, mandate_period_start, description, metadata, transaction_id, created_at, updated_at, actor)
		SELECT id, wallet, asset, dest, amount, 0, status, expires, sub, mandate, period, NULLIF(descr, ''), meta::jsonb,
			tx, created, created, actor
		FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::uuid[], $5::bigint[], $6::text[], $7::timestamptz[],
			$8::text[], $9::uuid[], $10::timestamptz[], $11::text[], $12::text[], $13::uuid[], $14::timestamptz[],
			$15::text[])
			AS h(id, wallet, asset, dest, amount, status, expires, sub, mandate, period, descr, meta, tx, created, actor)`,
		ids, wallets, assets, to, amounts, statuses, expires, subs, mandates, periods, descriptions, metadata, txs, created,
		actors)
}

// QueueLockHolds queues locking the holds ids (FOR UPDATE, in hold_id order so concurrent writers never deadlock)
// and reading them into dst; missing ones are absent from dst.
func QueueLockHolds(b *pgx.Batch, ids []uuid.UUID, dst map[uuid.UUID]Hold) {
	b.Queue(`SELECT `+holdColumns+` FROM holds WHERE hold_id = ANY($1) ORDER BY hold_id FOR UPDATE`, ids).
		Query(func(rows pgx.Rows) error {
			for rows.Next() {
				h, err := scanHold(rows)
				if err != nil {
					return err
				}
				dst[h.ID] = h
			}
			return rows.Err()
		})
}

// QueueFinishHolds queues the end states of locked holds (captured, voided or expired by their release
// transactions) in one statement.
func QueueFinishHolds(b *pgx.Batch, hs []Hold) {
	if len(hs) == 0 {
		return
	}
	n := len(hs)
	ids, to, releases := make([]uuid.UUID, n), make([]*uuid.UUID, n), make([]*uuid.UUID, n)
	statuses, captured, updated := make([]string, n), make([]int64, n), make([]time.Time, n)
	for i, h := range hs {
		ids[i], statuses[i], captured[i], releases[i], updated[i], to[i] = h.ID, h.Status, h.CapturedAmount, h.ReleaseTransactionID, h.UpdatedAt, h.ToWalletID
	}
	b.Queue(`UPDATE holds h SET status = u.status, captured_amount = u.captured, release_transaction_id = u.release,
		updated_at = u.updated, to_wallet_id = u.dest
		FROM unnest($1::uuid[], $2::text[], $3::bigint[], $4::uuid[], $5::timestamptz[], $6::uuid[])
			AS u(id, status, captured, release, updated, dest)
		WHERE h.hold_id = u.id`, ids, statuses, captured, releases, updated, to)
}

// GetHold reads one hold.
func GetHold(ctx context.Context, q Querier, id uuid.UUID) (Hold, error) {
	h, err := scanHold(q.QueryRow(ctx, `SELECT `+holdColumns+` FROM holds WHERE hold_id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return Hold{}, ErrHoldNotFound.Withf("hold %s does not exist or is not visible to you", id)
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

// QueueRefundedSums queues reading how much has been refunded so far of each transaction in ids into dst
// (transactions with no refund are absent). Run it after the locks that serialise refunds (the payees'
// projections), so that it sees every refund committed before.
func QueueRefundedSums(b *pgx.Batch, ids []uuid.UUID, dst map[uuid.UUID]int64) {
	b.Queue(`SELECT refund_of, sum(amount)::bigint FROM journal_transactions WHERE refund_of = ANY($1) GROUP BY refund_of`, ids).
		Query(func(rows pgx.Rows) error {
			for rows.Next() {
				var id uuid.UUID
				var sum int64
				if err := rows.Scan(&id, &sum); err != nil {
					return err
				}
				dst[id] = sum
			}
			return rows.Err()
		})
}
