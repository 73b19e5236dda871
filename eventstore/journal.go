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

// BucketHeld marks entries that move money into or out of a wallet's held part; the zero value is "available".
const BucketHeld = "held"

// Entry is one signed posting: negative debits the wallet, positive credits it.
type Entry struct {
	WalletID uuid.UUID `json:"wallet_id"`
	Asset    string    `json:"asset"`
	Amount   int64     `json:"amount"`
	Bucket   string    `json:"bucket,omitempty"`
}

// Transaction is one immutable journal transaction with its entries.
type Transaction struct {
	ID             uuid.UUID
	Position       int64
	Kind           string
	Asset          string
	Amount         int64
	Sub            string
	IdempotencyKey string
	RequestHash    []byte
	Description    string
	Metadata       json.RawMessage
	CreatedAt      time.Time
	Entries        []Entry
	// MandateID names the mandate an agent spent under; HoldID the hold a hold, capture, void or expiry belongs
	// to; RefundOf the transaction a refund moves money back along.
	MandateID *uuid.UUID
	HoldID    *uuid.UUID
	RefundOf  *uuid.UUID
}

// QueueNextPosition queues drawing the next journal position into dst. Positions are unique and increase with
// time, but commit order can differ from draw order, so consumers that need gap-free order read the outbox.
func QueueNextPosition(b *pgx.Batch, dst *int64) {
	b.Queue(`SELECT nextval('journal_position_seq')`).QueryRow(func(row pgx.Row) error {
		return row.Scan(dst)
	})
}

// QueueAppend queues the journal transaction and its entries. A statement trigger checks that the entries belong to
// this new transaction, the deferred trigger at COMMIT that they balance, and the foreign key each entry's asset
// against its wallet's.
func QueueAppend(b *pgx.Batch, t Transaction) {
	b.Queue(`INSERT INTO journal_transactions
		(transaction_id, position, kind, asset, amount, sub, idempotency_key, request_hash, description, metadata, created_at,
		 mandate_id, hold_id, refund_of)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, NULLIF($9, ''), $10, $11, $12, $13, $14)`,
		t.ID, t.Position, t.Kind, t.Asset, t.Amount, t.Sub, t.IdempotencyKey, t.RequestHash, t.Description,
		metadataOrEmpty(t.Metadata), t.CreatedAt, t.MandateID, t.HoldID, t.RefundOf)
	wallets := make([]uuid.UUID, len(t.Entries))
	assets := make([]string, len(t.Entries))
	buckets := make([]string, len(t.Entries))
	amounts := make([]int64, len(t.Entries))
	for i, e := range t.Entries {
		wallets[i], assets[i], amounts[i] = e.WalletID, e.Asset, e.Amount
		buckets[i] = "available"
		if e.Bucket == BucketHeld {
			buckets[i] = BucketHeld
		}
	}
	b.Queue(`INSERT INTO journal_entries (transaction_id, wallet_id, asset, bucket, amount)
		SELECT $1, w, a, k, m FROM unnest($2::uuid[], $3::text[], $4::text[], $5::bigint[]) AS e(w, a, k, m)`,
		t.ID, wallets, assets, buckets, amounts)
}

// Party is the wallet behind one entry: who owns it and whether it is a system wallet.
type Party struct {
	Owner string
	Kind  string
}

// GetTransaction reads a journal transaction with its entries, and the parties behind the entries, in the same
// order (so the caller can decide who may see it).
func GetTransaction(ctx context.Context, q Querier, id uuid.UUID) (Transaction, []Party, error) {
	var t Transaction
	var desc *string
	err := q.QueryRow(ctx, `SELECT transaction_id, position, kind, asset, amount, sub, idempotency_key, description,
		metadata, created_at, mandate_id, hold_id, refund_of FROM journal_transactions WHERE transaction_id = $1`, id).
		Scan(&t.ID, &t.Position, &t.Kind, &t.Asset, &t.Amount, &t.Sub, &t.IdempotencyKey, &desc, &t.Metadata, &t.CreatedAt,
			&t.MandateID, &t.HoldID, &t.RefundOf)
	if errors.Is(err, pgx.ErrNoRows) {
		return Transaction{}, nil, Errorf(ErrTransactionNotFound.Code, "transaction %s does not exist or is not visible to you", id)
	}
	if err != nil {
		return Transaction{}, nil, classify(fmt.Errorf("read transaction %s: %w", id, err))
	}
	if desc != nil {
		t.Description = *desc
	}
	rows, err := q.Query(ctx, `SELECT e.wallet_id, e.asset, e.amount, e.bucket, w.owner, w.kind FROM journal_entries e
		JOIN wallets w ON w.wallet_id = e.wallet_id WHERE e.transaction_id = $1 ORDER BY e.entry_id`, id)
	if err != nil {
		return Transaction{}, nil, classify(fmt.Errorf("read entries of %s: %w", id, err))
	}
	defer rows.Close()
	var parties []Party
	for rows.Next() {
		var e Entry
		var p Party
		if err := rows.Scan(&e.WalletID, &e.Asset, &e.Amount, &e.Bucket, &p.Owner, &p.Kind); err != nil {
			return Transaction{}, nil, classify(fmt.Errorf("scan entry of %s: %w", id, err))
		}
		if e.Bucket != BucketHeld {
			e.Bucket = ""
		}
		t.Entries = append(t.Entries, e)
		parties = append(parties, p)
	}
	if err := rows.Err(); err != nil {
		return Transaction{}, nil, classify(fmt.Errorf("read entries of %s: %w", id, err))
	}
	return t, parties, nil
}

// WalletTotals are a wallet's sums recomputed from the journal.
type WalletTotals struct {
	Balance    int64
	Held       int64
	EntryCount int64
}

// SumWallet recomputes a wallet's balance and held amount from its journal entries, never from the projection.
func SumWallet(ctx context.Context, q Querier, walletID uuid.UUID) (WalletTotals, error) {
	var t WalletTotals
	err := q.QueryRow(ctx, `SELECT coalesce(sum(amount), 0)::bigint,
		coalesce(sum(amount) FILTER (WHERE bucket = 'held'), 0)::bigint, count(*)
		FROM journal_entries WHERE wallet_id = $1`, walletID).Scan(&t.Balance, &t.Held, &t.EntryCount)
	if err != nil {
		return WalletTotals{}, classify(fmt.Errorf("sum journal of wallet %s: %w", walletID, err))
	}
	return t, nil
}
