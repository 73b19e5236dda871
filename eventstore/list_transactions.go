package eventstore

import (
	"context"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// Transactions are listed in one of two orders, both newest first, each read through an index from the cursor
// down:
//
//   - by wallet (the caller's wallets, or one wallet): each wallet's entries newest first (journal_entries'
//     (wallet_id, entry_id) index), merged by a transaction's last entry id, its "seq". Every writer inserts a
//     wallet's entries while holding the wallet's projection row lock, so the transactions of one wallet occupy
//     disjoint, increasing ranges of entry ids: each wallet's stream is already in seq order, and at most one
//     transaction of a wallet straddles any cursor. A page costs one bounded index range per wallet of the caller.
//   - by journal (admins, or one mandate): journal_transactions by (created_at, transaction_id).

// FirstSeq is the seq above every transaction: a by-wallet list starts below it.
const FirstSeq int64 = math.MaxInt64

// TransactionFilter narrows a transaction list.
type TransactionFilter struct {
	Kind          string    // optional
	CreatedAfter  time.Time // optional, exclusive
	CreatedBefore time.Time // optional, exclusive
}

func (f TransactionFilter) conditions() string {
	var c strings.Builder
	if f.Kind != "" {
		c.WriteString(` AND t.kind = @kind`)
	}
	if !f.CreatedAfter.IsZero() {
		c.WriteString(` AND t.created_at > @after`)
	}
	if !f.CreatedBefore.IsZero() {
		c.WriteString(` AND t.created_at < @before`)
	}
	return c.String()
}

func (f TransactionFilter) args(a pgx.NamedArgs) pgx.NamedArgs {
	a["kind"], a["after"], a["before"] = f.Kind, f.CreatedAfter, f.CreatedBefore
	return a
}

// TransactionRef is one listed transaction and its place in its list.
type TransactionRef struct {
	ID  uuid.UUID
	Seq int64   // by-wallet lists
	Key PageKey // by-journal lists
}

// WalletScope is the wallets a by-wallet list covers: one wallet, or every user wallet of an owner.
type WalletScope struct {
	WalletID uuid.UUID // when set, this wallet alone
	Owner    string
}

// walletTransactionsQuery is the statement of one page of a by-wallet list below seq.
func walletTransactionsQuery(scope WalletScope, f TransactionFilter, seq int64, limit int) (string, pgx.NamedArgs) {
	wallets := `SELECT wallet_id FROM wallets WHERE owner = @owner AND kind = 'user'`
	if scope.WalletID != uuid.Nil {
		wallets = `SELECT @wallet::uuid AS wallet_id`
	}
	join := ""
	if cond := f.conditions(); cond != "" {
		join = ` JOIN journal_transactions t ON t.transaction_id = e.transaction_id` + cond
	}
	// Per wallet: its entries below the cursor, newest first, one per transaction (the transaction's last entry
	// on the wallet), each with the transaction's seq; a transaction with an entry at or above the cursor was
	// listed before.
	sql := `WITH w AS (` + wallets + `)
		SELECT x.transaction_id, x.seq FROM w CROSS JOIN LATERAL (
			SELECT e.transaction_id, s.seq FROM journal_entries e
			CROSS JOIN LATERAL (SELECT max(e2.entry_id) AS seq FROM journal_entries e2
				WHERE e2.transaction_id = e.transaction_id) s` + join + `
			WHERE e.wallet_id = w.wallet_id AND e.entry_id < @seq AND s.seq < @seq
				AND NOT EXISTS (SELECT 1 FROM journal_entries e3 WHERE e3.transaction_id = e.transaction_id
					AND e3.wallet_id = e.wallet_id AND e3.entry_id > e.entry_id)
			ORDER BY e.entry_id DESC LIMIT @limit) x
		GROUP BY x.transaction_id, x.seq ORDER BY x.seq DESC LIMIT @limit`
	return sql, f.args(pgx.NamedArgs{"owner": scope.Owner, "wallet": scope.WalletID, "seq": seq, "limit": limit})
}

// ListWalletTransactions reads up to limit transactions with an entry on scope's wallets, below seq, newest first.
func ListWalletTransactions(ctx context.Context, q Querier, scope WalletScope, f TransactionFilter, seq int64, limit int) ([]TransactionRef, error) {
	sql, args := walletTransactionsQuery(scope, f, seq, limit)
	rows, err := q.Query(ctx, sql, args)
	if err != nil {
		return nil, classify(fmt.Errorf("list transactions by wallet: %w", err))
	}
	refs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (TransactionRef, error) {
		var ref TransactionRef
		err := r.Scan(&ref.ID, &ref.Seq)
		return ref, err
	})
	if err != nil {
		return nil, classify(fmt.Errorf("list transactions by wallet: %w", err))
	}
	return refs, nil
}

// JournalScope is what a by-journal list covers: every transaction, or those made under one mandate.
type JournalScope struct {
	MandateID uuid.UUID // optional
	Sub       string    // optional: only the transactions Sub made
	WalletID  uuid.UUID // optional: only those with an entry on this wallet
}

// journalTransactionsQuery is the statement of one page of a by-journal list below key.
func journalTransactionsQuery(scope JournalScope, f TransactionFilter, key PageKey, limit int) (string, pgx.NamedArgs) {
	var c strings.Builder
	if scope.MandateID != uuid.Nil {
		c.WriteString(` AND t.mandate_id = @mandate`)
	}
	if scope.Sub != "" {
		c.WriteString(` AND t.sub = @sub`)
	}
	if scope.WalletID != uuid.Nil {
		c.WriteString(` AND EXISTS (SELECT 1 FROM journal_entries e WHERE e.transaction_id = t.transaction_id
			AND e.wallet_id = @wallet)`)
	}
	c.WriteString(f.conditions())
	sql := `SELECT t.transaction_id, t.created_at FROM journal_transactions t
		WHERE (t.created_at, t.transaction_id) < (@at, @id)` + c.String() + `
		ORDER BY t.created_at DESC, t.transaction_id DESC LIMIT @limit`
	return sql, f.args(pgx.NamedArgs{"mandate": scope.MandateID, "sub": scope.Sub, "wallet": scope.WalletID,
		"at": key.CreatedAt, "id": key.ID, "limit": limit})
}

// ListJournalTransactions reads up to limit transactions that scope and f select, below key, newest first.
func ListJournalTransactions(ctx context.Context, q Querier, scope JournalScope, f TransactionFilter, key PageKey, limit int) ([]TransactionRef, error) {
	sql, args := journalTransactionsQuery(scope, f, key, limit)
	rows, err := q.Query(ctx, sql, args)
	if err != nil {
		return nil, classify(fmt.Errorf("list transactions by journal: %w", err))
	}
	refs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (TransactionRef, error) {
		var ref TransactionRef
		err := r.Scan(&ref.ID, &ref.Key.CreatedAt)
		ref.Key.ID = ref.ID
		return ref, err
	})
	if err != nil {
		return nil, classify(fmt.Errorf("list transactions by journal: %w", err))
	}
	return refs, nil
}

// GetTransactions reads the transactions ids name with their entries and the parties behind the entries (as
// GetTransaction does for one), in the order of ids; ids that do not exist are left out.
func GetTransactions(ctx context.Context, q Querier, ids []uuid.UUID) ([]Transaction, [][]Party, error) {
	if len(ids) == 0 {
		return nil, nil, nil
	}
	rows, err := q.Query(ctx, `SELECT transaction_id, position, kind, asset, amount, sub, idempotency_key,
		coalesce(description, ''), metadata, created_at, mandate_id, hold_id, refund_of
		FROM journal_transactions WHERE transaction_id = ANY($1)`, ids)
	if err != nil {
		return nil, nil, classify(fmt.Errorf("read %d transactions: %w", len(ids), err))
	}
	byID := map[uuid.UUID]*Transaction{}
	txs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Transaction, error) {
		var t Transaction
		err := r.Scan(&t.ID, &t.Position, &t.Kind, &t.Asset, &t.Amount, &t.Sub, &t.IdempotencyKey, &t.Description,
			&t.Metadata, &t.CreatedAt, &t.MandateID, &t.HoldID, &t.RefundOf)
		return t, err
	})
	if err != nil {
		return nil, nil, classify(fmt.Errorf("read %d transactions: %w", len(ids), err))
	}
	for i := range txs {
		byID[txs[i].ID] = &txs[i]
	}
	parties := map[uuid.UUID][]Party{}
	rows, err = q.Query(ctx, `SELECT e.transaction_id, e.wallet_id, e.asset, e.amount, e.bucket, w.owner, w.kind
		FROM journal_entries e JOIN wallets w ON w.wallet_id = e.wallet_id
		WHERE e.transaction_id = ANY($1) ORDER BY e.entry_id`, ids)
	if err != nil {
		return nil, nil, classify(fmt.Errorf("read entries of %d transactions: %w", len(ids), err))
	}
	defer rows.Close()
	for rows.Next() {
		var id uuid.UUID
		var e Entry
		var p Party
		if err := rows.Scan(&id, &e.WalletID, &e.Asset, &e.Amount, &e.Bucket, &p.Owner, &p.Kind); err != nil {
			return nil, nil, classify(fmt.Errorf("scan entry of %s: %w", id, err))
		}
		if e.Bucket != BucketHeld {
			e.Bucket = ""
		}
		if t := byID[id]; t != nil {
			t.Entries = append(t.Entries, e)
			parties[id] = append(parties[id], p)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, nil, classify(fmt.Errorf("read entries of %d transactions: %w", len(ids), err))
	}
	out := make([]Transaction, 0, len(ids))
	outParties := make([][]Party, 0, len(ids))
	for _, id := range ids {
		if t := byID[id]; t != nil {
			out = append(out, *t)
			outParties = append(outParties, parties[id])
		}
	}
	return out, outParties, nil
}
