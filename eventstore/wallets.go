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

// Wallet kinds.
const (
	KindUser   = "user"
	KindSystem = "system"
)

// SystemOwner owns every system wallet; no caller's sub can act as it, because system wallets are refused for
// every non-admin read and for every transfer.
const SystemOwner = "system"

// Wallet statuses: a frozen wallet lets no money out.
const (
	WalletActive = "active"
	WalletFrozen = "frozen"
)

// Wallet is a holder of one asset.
type Wallet struct {
	ID        uuid.UUID
	Asset     string
	Owner     string
	Kind      string
	Metadata  json.RawMessage
	CreatedAt time.Time
	Freeze
}

// Freeze is a wallet's status: active, or frozen with why, by whom and since when. FrozenByAdmin says an admin
// froze it (or upgraded an owner's freeze): only an admin may lift it.
type Freeze struct {
	Status        string
	FrozenReason  string
	FrozenBy      string
	FrozenAt      *time.Time
	FrozenByAdmin bool
}

// Frozen reports whether no money may leave the wallet.
func (f Freeze) Frozen() bool { return f.Status == WalletFrozen }

// SystemWalletID derives the system wallet of asset from the configured SYSTEM_WALLET_ID: each asset needs its own,
// because an entry's asset must be its wallet's.
func SystemWalletID(base uuid.UUID, asset string) uuid.UUID {
	return uuid.NewSHA1(base, []byte("asset:"+asset))
}

// QueueInsertWallet queues the insert of a new wallet; an existing wallet_id fails the batch with ErrWalletExists.
func QueueInsertWallet(b *pgx.Batch, w Wallet) {
	b.Queue(`INSERT INTO wallets (wallet_id, asset, owner, kind, metadata, created_at) VALUES ($1, $2, $3, $4, $5, $6)`,
		w.ID, w.Asset, w.Owner, w.Kind, metadataOrEmpty(w.Metadata), w.CreatedAt)
}

// QueueEnsureSystemWallet queues the creation of asset's system wallet if it does not exist yet and one of the
// wallets credited is a user wallet of asset: money is about to enter the asset. A credit that will be refused
// (to a missing wallet, one of another asset, a system wallet) creates nothing. The conflict has no target on
// purpose: wallets has two more unique keys that start with wallet_id, and with ON CONFLICT (wallet_id) two
// concurrent first adjustments of an asset could both pass the primary key's check and one fail on (wallet_id,
// asset) instead, a 500.
func QueueEnsureSystemWallet(b *pgx.Batch, id uuid.UUID, asset string, credited []uuid.UUID, now time.Time) {
	b.Queue(`INSERT INTO wallets (wallet_id, asset, owner, kind, created_at) SELECT $1, $2, $3, 'system', $4
		WHERE EXISTS (SELECT 1 FROM wallets WHERE wallet_id = ANY($5) AND asset = $2 AND kind = 'user')
		ON CONFLICT DO NOTHING`, id, asset, SystemOwner, now, credited)
}

// QueueLoadWallets queues a read of the wallets in ids into dst; missing ones are simply absent from dst. It reads
// what a write decides on (ID, asset, owner, kind, freeze) and leaves Metadata and CreatedAt zero: decoding every
// wallet's metadata on every transfer was about 4 % of the API's CPU on the write path, for a field no write looks
// at. The freeze is read as of this statement: queue it after the projection locks, so that a spend waiting for a
// freeze's lock sees the committed freeze.
func QueueLoadWallets(b *pgx.Batch, ids []uuid.UUID, dst map[uuid.UUID]Wallet) {
	b.Queue(`SELECT wallet_id, asset, owner, kind, `+freezeColumns+` FROM wallets WHERE wallet_id = ANY($1)`, ids).
		Query(func(rows pgx.Rows) error {
			for rows.Next() {
				var w Wallet
				if err := rows.Scan(&w.ID, &w.Asset, &w.Owner, &w.Kind, &w.Status, &w.FrozenReason, &w.FrozenBy,
					&w.FrozenAt, &w.FrozenByAdmin); err != nil {
					return err
				}
				dst[w.ID] = w
			}
			return rows.Err()
		})
}

const freezeColumns = `status, coalesce(frozen_reason, ''), coalesce(frozen_by, ''), frozen_at, frozen_by_admin`

// QueueSaveFreezes queues storing the freeze of wallets whose projections the batch locked, in one statement.
func QueueSaveFreezes(b *pgx.Batch, ws []Wallet) {
	if len(ws) == 0 {
		return
	}
	n := len(ws)
	ids, statuses, reasons, by := make([]uuid.UUID, n), make([]string, n), make([]string, n), make([]string, n)
	at, admin := make([]*time.Time, n), make([]bool, n)
	for i, w := range ws {
		ids[i], statuses[i], reasons[i], by[i], at[i], admin[i] = w.ID, w.Status, w.FrozenReason, w.FrozenBy, w.FrozenAt, w.FrozenByAdmin
	}
	b.Queue(`UPDATE wallets w SET status = u.status, frozen_reason = NULLIF(u.reason, ''), frozen_by = NULLIF(u.by, ''),
		frozen_at = u.at, frozen_by_admin = u.admin
		FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::timestamptz[], $6::bool[])
			AS u(id, status, reason, by, at, admin)
		WHERE w.wallet_id = u.id`, ids, statuses, reasons, by, at, admin)
}

// GetWallet reads one wallet.
func GetWallet(ctx context.Context, q Querier, id uuid.UUID) (Wallet, error) {
	w, err := scanWallet(q.QueryRow(ctx,
		`SELECT wallet_id, asset, owner, kind, metadata, created_at, `+freezeColumns+` FROM wallets WHERE wallet_id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return Wallet{}, ErrWalletNotFound.Withf("wallet %s does not exist or is not visible to you", id)
	}
	if err != nil {
		return Wallet{}, classify(fmt.Errorf("read wallet %s: %w", id, err))
	}
	return w, nil
}

func scanWallet(row pgx.Row) (Wallet, error) {
	var w Wallet
	err := row.Scan(&w.ID, &w.Asset, &w.Owner, &w.Kind, &w.Metadata, &w.CreatedAt, &w.Status, &w.FrozenReason,
		&w.FrozenBy, &w.FrozenAt, &w.FrozenByAdmin)
	return w, err
}

func metadataOrEmpty(m json.RawMessage) json.RawMessage {
	if len(m) == 0 || string(m) == "null" {
		return json.RawMessage(`{}`)
	}
	return m
}
