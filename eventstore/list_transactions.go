package eventstore

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"
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
//     wallet's entries while holding the wallet's projection row lock, and a transaction's entries together, so
//     the transactions of one wallet occupy disjoint, increasing ranges of entry ids: each wallet's stream is
//     already in seq order, and at most one transaction of a wallet straddles any cursor. A page costs one
//     bounded index range per wallet of the caller.
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

// walletTransactionsQuery is the statement that reads, for each wallet of scope, its newest rows entries below seq
// (a pure range of the (wallet_id, entry_id) index: no filter under its LIMIT that a plan could misjudge), each
// with its transaction's seq (one lookup of the transaction's entries) and whether the transaction passes f.
func walletTransactionsQuery(scope WalletScope, f TransactionFilter, seq int64, rows int) (string, pgx.NamedArgs) {
	entries := `SELECT e.wallet_id, e.transaction_id, e.entry_id FROM journal_entries e
		WHERE e.wallet_id = %s AND e.entry_id < @seq ORDER BY e.entry_id DESC LIMIT @rows`
	from := `(` + fmt.Sprintf(entries, `@wallet`) + `) x`
	if scope.WalletID == uuid.Nil {
		from = `(SELECT wallet_id FROM wallets WHERE owner = @owner AND kind = 'user') w
			CROSS JOIN LATERAL (` + fmt.Sprintf(entries, `w.wallet_id`) + `) x`
	}
	matches, join := `true`, ``
	if cond := f.conditions(); cond != "" {
		matches = `(true` + cond + `)`
		join = ` JOIN journal_transactions t ON t.transaction_id = x.transaction_id`
	}
	sql := `SELECT x.wallet_id, x.transaction_id, x.entry_id, s.seq, ` + matches + ` AS matches
		FROM ` + from + `
		CROSS JOIN LATERAL (SELECT max(e2.entry_id) AS seq FROM journal_entries e2
			WHERE e2.transaction_id = x.transaction_id) s` + join
	return sql, f.args(pgx.NamedArgs{"owner": scope.Owner, "wallet": scope.WalletID, "seq": seq, "rows": rows})
}

// walletTransactionsSettings are set around a by-wallet read, in its transaction. Inside the lateral read of each
// of a caller's wallets, the planner only knows the average wallet's few entries, for which reading them all and
// sorting them looks as cheap as the ordered index range; for a wallet with a long history it is a pass over all
// of it. The statement needs no sort at all (the rounds order in Go), so sorting is ruled out while it runs, and
// the ordered range stopped by LIMIT is the plan.
const (
	walletTransactionsSettings = `set local enable_sort = off`
	walletTransactionsReset    = `set local enable_sort to default`
)

// WalletTransactionPage is one page of a by-wallet list: up to limit transactions, newest first, and Next, the
// seq the next page starts below (0 on the last page).
type WalletTransactionPage struct {
	Refs []TransactionRef
	Next int64
}

// maxReadRounds bounds how many times a by-wallet page widens its read before it answers with what it is sure
// of (a short page, never a wrong one).
const maxReadRounds = 5

// ListWalletTransactions reads one page of the transactions with an entry on scope's wallets that f selects,
// below seq, newest first. q must be a transaction (store.InSnapshot's): the read sets planner settings for it.
//
// Each round reads a fixed number of entries per wallet. A wallet whose read was cut short may hold more of the
// page below the oldest entry read, floor: the round is only sure of the transactions at or above the highest
// such floor (a transaction of that wallet below its floor lies wholly below the floor's transaction, ranges of
// one wallet being disjoint). A round sure of more than limit transactions answers; otherwise the next round
// reads twice as many entries. The last round answers the transactions it is sure of and continues below the
// floor: a page then holds fewer than limit items (none, when f matches nothing nearby), and has_more is true.
func ListWalletTransactions(ctx context.Context, q Querier, scope WalletScope, f TransactionFilter, seq int64, limit int) (WalletTransactionPage, error) {
	rows := 2 * (limit + 1) // transactions put at most two entries on one wallet today; more just means another round
	for round := 1; ; round++ {
		sure, floor, err := readWalletTransactions(ctx, q, scope, f, seq, rows)
		if err != nil {
			return WalletTransactionPage{}, err
		}
		switch {
		case len(sure) > limit:
			return WalletTransactionPage{Refs: sure[:limit], Next: sure[limit-1].Seq}, nil
		case floor == 0:
			return WalletTransactionPage{Refs: sure}, nil
		case round == maxReadRounds:
			return WalletTransactionPage{Refs: sure, Next: floor}, nil
		}
		rows *= 2
	}
}

// readWalletTransactions runs one round: the transactions it is sure of, newest first, and the floor they are
// sure down to (0 when every wallet was read to its start).
func readWalletTransactions(ctx context.Context, q Querier, scope WalletScope, f TransactionFilter, seq int64, rows int) ([]TransactionRef, int64, error) {
	sql, args := walletTransactionsQuery(scope, f, seq, rows)
	if _, err := q.Exec(ctx, walletTransactionsSettings); err != nil {
		return nil, 0, classify(fmt.Errorf("list transactions by wallet: %w", err))
	}
	res, err := q.Query(ctx, sql, args)
	if err != nil {
		return nil, 0, classify(fmt.Errorf("list transactions by wallet: %w", err))
	}
	defer res.Close()
	type read struct {
		n        int
		earliest int64
	}
	perWallet := map[uuid.UUID]*read{}
	found := map[uuid.UUID]int64{}
	for res.Next() {
		var wallet, tx uuid.UUID
		var entry, txSeq int64
		var matches bool
		if err := res.Scan(&wallet, &tx, &entry, &txSeq, &matches); err != nil {
			return nil, 0, classify(fmt.Errorf("list transactions by wallet: %w", err))
		}
		r := perWallet[wallet]
		if r == nil {
			r = &read{earliest: entry}
			perWallet[wallet] = r
		}
		r.n++
		r.earliest = min(r.earliest, entry)
		// A transaction whose seq is at or above the cursor straddles it: it was listed before.
		if matches && txSeq < seq {
			found[tx] = txSeq
		}
	}
	res.Close()
	if err := res.Err(); err != nil {
		return nil, 0, classify(fmt.Errorf("list transactions by wallet: %w", err))
	}
	if _, err := q.Exec(ctx, walletTransactionsReset); err != nil {
		return nil, 0, classify(fmt.Errorf("list transactions by wallet: %w", err))
	}
	var floor int64
	for _, r := range perWallet {
		if r.n == rows {
			floor = max(floor, r.earliest)
		}
	}
	sure := make([]TransactionRef, 0, len(found))
	for id, s := range found {
		if s >= floor {
			sure = append(sure, TransactionRef{ID: id, Seq: s})
		}
	}
	slices.SortFunc(sure, func(a, b TransactionRef) int { return cmp.Compare(b.Seq, a.Seq) })
	return sure, floor, nil
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
