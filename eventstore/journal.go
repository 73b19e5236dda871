package eventstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
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
	Actor          string // who acted on behalf of Sub (a delegated token's act.sub); "" when Sub acted itself
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

// QueueNextPositions queues drawing n journal positions into dst, in increasing order. Positions are unique and
// increase with time, but commit order can differ from draw order (and a rolled-back write leaves a gap), so
// consumers that need gap-free order read the outbox.
func QueueNextPositions(b *pgx.Batch, n int, dst *[]int64) {
	b.Queue(`SELECT nextval('journal_position_seq') FROM generate_series(1, $1::int)`, n).
		Query(func(rows pgx.Rows) error {
			positions, err := pgx.CollectRows(rows, pgx.RowTo[int64])
			if err != nil {
				return err
			}
			slices.Sort(positions)
			*dst = positions
			return nil
		})
}

// QueueNextPosition queues drawing one journal position into dst.
func QueueNextPosition(b *pgx.Batch, dst *int64) {
	b.Queue(`SELECT nextval('journal_position_seq')`).QueryRow(func(row pgx.Row) error {
		return row.Scan(dst)
	})
}

// QueueAppend queues one journal transaction and its entries.
func QueueAppend(b *pgx.Batch, t Transaction) { QueueAppendAll(b, []Transaction{t}) }

// QueueAppendAll queues the journal transactions ts and their entries, in order: two statements whatever len(ts),
// so a batch of writes costs the database two inserts, not two per transaction. The statement trigger checks that
// every entry belongs to a transaction inserted by this database transaction, the deferred trigger at COMMIT that
// each transaction balances, and the foreign key each entry's asset against its wallet's.
func QueueAppendAll(b *pgx.Batch, ts []Transaction) {
	if len(ts) == 0 {
		return
	}
	n := len(ts)
	var (
		ids, mandates, holds, refunds = make([]uuid.UUID, n), make([]*uuid.UUID, n), make([]*uuid.UUID, n), make([]*uuid.UUID, n)
		positions, amounts            = make([]int64, n), make([]int64, n)
		kinds, assets, subs, keys     = make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		actors                        = make([]*string, n)
		descriptions, metadata        = make([]string, n), make([]string, n)
		hashes                        = make([][]byte, n)
		created                       = make([]time.Time, n)
		entries                       int
	)
	for i, t := range ts {
		ids[i], positions[i], kinds[i], assets[i], amounts[i] = t.ID, t.Position, t.Kind, t.Asset, t.Amount
		subs[i], actors[i], keys[i], hashes[i], descriptions[i] = t.Sub, nullable(t.Actor), t.IdempotencyKey, t.RequestHash, t.Description
		metadata[i], created[i] = string(metadataOrEmpty(t.Metadata)), t.CreatedAt
		mandates[i], holds[i], refunds[i] = t.MandateID, t.HoldID, t.RefundOf
		entries += len(t.Entries)
	}
	b.Queue(`INSERT INTO journal_transactions
		(transaction_id, position, kind, asset, amount, sub, idempotency_key, request_hash, description, metadata, created_at,
		 mandate_id, hold_id, refund_of, actor)
		SELECT id, pos, kind, asset, amount, sub, key, hash, NULLIF(descr, ''), meta::jsonb, created, mandate, hold, refund,
			actor
		FROM unnest($1::uuid[], $2::bigint[], $3::text[], $4::text[], $5::bigint[], $6::text[], $7::text[], $8::bytea[],
			$9::text[], $10::text[], $11::timestamptz[], $12::uuid[], $13::uuid[], $14::uuid[], $15::text[])
			AS t(id, pos, kind, asset, amount, sub, key, hash, descr, meta, created, mandate, hold, refund, actor)`,
		ids, positions, kinds, assets, amounts, subs, keys, hashes, descriptions, metadata, created, mandates, holds, refunds,
		actors)
	txIDs := make([]uuid.UUID, 0, entries)
	wallets := make([]uuid.UUID, 0, entries)
	entryAssets := make([]string, 0, entries)
	buckets := make([]string, 0, entries)
	entryAmounts := make([]int64, 0, entries)
	for _, t := range ts {
		for _, e := range t.Entries {
			bucket := "available"
			if e.Bucket == BucketHeld {
				bucket = BucketHeld
			}
			txIDs, wallets, entryAssets = append(txIDs, t.ID), append(wallets, e.WalletID), append(entryAssets, e.Asset)
			buckets, entryAmounts = append(buckets, bucket), append(entryAmounts, e.Amount)
		}
	}
	// WITH ORDINALITY and ORDER BY keep the entries' identity in the order given, which is the order the writes
	// were decided in: the history read model walks a wallet's entries by entry_id.
	b.Queue(`INSERT INTO journal_entries (transaction_id, wallet_id, asset, bucket, amount)
		SELECT t, w, a, k, m FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::bigint[])
			WITH ORDINALITY AS e(t, w, a, k, m, i) ORDER BY i`,
		txIDs, wallets, entryAssets, buckets, entryAmounts)
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
	err := q.QueryRow(ctx, `SELECT transaction_id, position, kind, asset, amount, sub, coalesce(actor, ''),
		idempotency_key, description, metadata, created_at, mandate_id, hold_id, refund_of
		FROM journal_transactions WHERE transaction_id = $1`, id).
		Scan(&t.ID, &t.Position, &t.Kind, &t.Asset, &t.Amount, &t.Sub, &t.Actor, &t.IdempotencyKey, &desc, &t.Metadata,
			&t.CreatedAt, &t.MandateID, &t.HoldID, &t.RefundOf)
	if errors.Is(err, pgx.ErrNoRows) {
		return Transaction{}, nil, ErrTransactionNotFound.Withf("transaction %s does not exist or is not visible to you", id)
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
