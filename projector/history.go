package projector

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/agentic-commerce/wallet-ledger/eventstore"
)

// HistoryProjector maintains the wallet history read model asynchronously. The outbox stream says which wallets
// changed; each changed wallet is then caught up from the journal itself, entry by entry after the last one it
// holds. Because every writer inserts a wallet's entries while holding that wallet's projection row lock, a
// wallet's entries commit in entry_id order, so "the entries after the last one projected" never misses one, and
// the running balance is the journal's prefix sum in the order the money actually moved.
type HistoryProjector struct {
	store *eventstore.Store
	// Batch is the most outbox events one step consumes.
	Batch int
	// Entries bounds the journal entries one step projects, shared among the wallets its events name. A step
	// stays within the statement timeout however far behind the wallets are (after an outage, or on a ledger
	// that was grown without its history): it keeps the stream's cursor where it was until they are caught up.
	Entries int
}

// NewHistoryProjector returns the history projector on store.
func NewHistoryProjector(store *eventstore.Store) (*HistoryProjector, error) {
	if store == nil {
		return nil, errors.New("projector: nil store")
	}
	return &HistoryProjector{store: store, Batch: 2000, Entries: 20000}, nil
}

// Step reads one slice of the outbox and catches up the wallets it names by up to Entries entries, with the
// checkpoint, in one transaction: a crash leaves both where they were. The checkpoint moves past the slice only
// once every wallet it names is caught up; until then the next step reads the same slice and carries on. It
// returns how many events the slice held (0: nothing to do).
func (h *HistoryProjector) Step(ctx context.Context) (int, error) {
	var n int
	err := h.store.InTx(ctx, func(tx pgx.Tx) error {
		cur, err := lockCursor(ctx, tx, ConsumerHistory)
		if err != nil {
			return err
		}
		t, err := readStream(ctx, tx, cur, h.Batch)
		if err != nil || t.events == 0 {
			return err
		}
		n = t.events
		done, err := CatchUpHistory(ctx, tx, t.wallets, h.Entries)
		if err != nil || !done {
			return err
		}
		return saveCursor(ctx, tx, ConsumerHistory, t.next)
	})
	return n, err
}

// Drain steps until the stream is empty (or ctx ends); tests and the relay's start-up use it.
func (h *HistoryProjector) Drain(ctx context.Context) error {
	for {
		n, err := h.Step(ctx)
		if err != nil || n == 0 {
			return err
		}
	}
}

// CatchUpHistory appends to the history of wallets the journal entries after the last one projected, at most
// budget of them shared evenly among the wallets (at least one each), with the running balance and held amount
// after each, in one statement. Heads are locked (in wallet order) so concurrent callers serialise per wallet.
// done is false when a wallet may have entries left.
func CatchUpHistory(ctx context.Context, tx pgx.Tx, wallets []uuid.UUID, budget int) (done bool, err error) {
	if len(wallets) == 0 {
		return true, nil
	}
	perWallet := max(budget/len(wallets), 1)
	if _, err := tx.Exec(ctx, `INSERT INTO wallet_history_heads (wallet_id, last_entry_id, position, balance, held)
		SELECT unnest($1::uuid[]), 0, 0, 0, 0 ON CONFLICT (wallet_id) DO NOTHING`, wallets); err != nil {
		return false, fmt.Errorf("create history heads: %w", err)
	}
	var most int
	err = tx.QueryRow(ctx, `WITH h AS (
			SELECT wallet_id, last_entry_id, balance, held FROM wallet_history_heads
			WHERE wallet_id = ANY($1) ORDER BY wallet_id FOR UPDATE
		), n AS (
			SELECT e.wallet_id, e.entry_id, e.transaction_id, t.position, t.kind, e.bucket, e.amount, t.created_at,
				(h.balance + sum(e.amount) OVER w)::bigint AS balance_after,
				(h.held + sum(CASE WHEN e.bucket = 'held' THEN e.amount ELSE 0 END) OVER w)::bigint AS held_after
			-- LATERAL: one index range scan per wallet for its new entries, never a pass over the journal.
			FROM h CROSS JOIN LATERAL (SELECT * FROM journal_entries j
				WHERE j.wallet_id = h.wallet_id AND j.entry_id > h.last_entry_id ORDER BY j.entry_id LIMIT $2) e
			JOIN journal_transactions t ON t.transaction_id = e.transaction_id
			WINDOW w AS (PARTITION BY e.wallet_id ORDER BY e.entry_id)
		), ins AS (
			INSERT INTO wallet_history (wallet_id, entry_id, transaction_id, position, kind, bucket, amount,
				balance_after, held_after, created_at)
			SELECT wallet_id, entry_id, transaction_id, position, kind, bucket, amount, balance_after, held_after,
				created_at FROM n
		), heads AS (
			UPDATE wallet_history_heads hd SET last_entry_id = l.entry_id, position = l.position,
				balance = l.balance_after, held = l.held_after, updated_at = now()
			FROM (SELECT DISTINCT ON (wallet_id) wallet_id, entry_id, position, balance_after, held_after
				FROM n ORDER BY wallet_id, entry_id DESC) l
			WHERE hd.wallet_id = l.wallet_id
		)
		SELECT coalesce(max(c), 0) FROM (SELECT count(*) AS c FROM n GROUP BY wallet_id) per_wallet`,
		wallets, perWallet).Scan(&most)
	if err != nil {
		return false, fmt.Errorf("project history of %d wallets: %w", len(wallets), err)
	}
	// A wallet given its whole share may have more entries; one that got less has none left.
	return most < perWallet, nil
}

// HistoryEntry is one journal entry of a wallet as the history read model holds it.
type HistoryEntry struct {
	EntryID       int64     `json:"entry_id"`
	TransactionID uuid.UUID `json:"transaction_id"`
	Position      int64     `json:"position"`
	Kind          string    `json:"kind"`
	Bucket        string    `json:"bucket"`
	Amount        int64     `json:"amount"`
	BalanceAfter  int64     `json:"balance_after"`
	HeldAfter     int64     `json:"held_after"`
	CreatedAt     time.Time `json:"created_at"`
}

// HistoryLag says how far a wallet's history read model is behind the journal.
type HistoryLag struct {
	// Position is the journal position of the last entry the read model holds for the wallet (0: none yet).
	Position int64 `json:"position"`
	// JournalHead is the journal position of the wallet's last committed entry (0: none).
	JournalHead int64 `json:"journal_head"`
	// PendingEntries counts the wallet's committed entries not yet in the read model (capped at 10000).
	PendingEntries int64 `json:"pending_entries"`
}

// HistoryPage is one page of a wallet's history, newest first. Before, when set, is the entry_id the next page
// starts below.
type HistoryPage struct {
	Entries []HistoryEntry
	Before  *int64
	Lag     HistoryLag
}

// ReadHistory reads up to limit entries of walletID's history below entry before (nil: from the newest), and the
// read model's lag, in one snapshot. Rows are only ever appended above the newest one, so a walk down by entry_id
// sees every row that existed when it began, once.
func ReadHistory(ctx context.Context, store *eventstore.Store, walletID uuid.UUID, before *int64, limit int) (HistoryPage, error) {
	var page HistoryPage
	// Always a bound, never `$2 IS NULL OR entry_id < $2`: a prepared statement's generic plan could not seek to
	// it and would read the wallet's history from the newest entry down to the page.
	below := int64(math.MaxInt64)
	if before != nil {
		below = *before
	}
	err := store.InSnapshot(ctx, func(q eventstore.Querier) error {
		rows, err := q.Query(ctx, `SELECT entry_id, transaction_id, position, kind, bucket, amount, balance_after,
			held_after, created_at FROM wallet_history
			WHERE wallet_id = $1 AND entry_id < $2 ORDER BY entry_id DESC LIMIT $3`,
			walletID, below, limit+1)
		if err != nil {
			return fmt.Errorf("read history of %s: %w", walletID, err)
		}
		entries, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (HistoryEntry, error) {
			var e HistoryEntry
			err := r.Scan(&e.EntryID, &e.TransactionID, &e.Position, &e.Kind, &e.Bucket, &e.Amount,
				&e.BalanceAfter, &e.HeldAfter, &e.CreatedAt)
			return e, err
		})
		if err != nil {
			return fmt.Errorf("read history of %s: %w", walletID, err)
		}
		if len(entries) > limit {
			entries = entries[:limit]
			next := entries[limit-1].EntryID
			page.Before = &next
		}
		page.Entries = entries
		var lastEntry int64
		err = q.QueryRow(ctx, `SELECT coalesce((SELECT last_entry_id FROM wallet_history_heads WHERE wallet_id = $1), 0),
			coalesce((SELECT position FROM wallet_history_heads WHERE wallet_id = $1), 0)`, walletID).
			Scan(&lastEntry, &page.Lag.Position)
		if err != nil {
			return fmt.Errorf("read history head of %s: %w", walletID, err)
		}
		err = q.QueryRow(ctx, `SELECT coalesce((SELECT t.position FROM journal_entries e
				JOIN journal_transactions t ON t.transaction_id = e.transaction_id
				WHERE e.wallet_id = $1 ORDER BY e.entry_id DESC LIMIT 1), 0),
			(SELECT count(*) FROM (SELECT 1 FROM journal_entries WHERE wallet_id = $1 AND entry_id > $2 LIMIT 10000) p)`,
			walletID, lastEntry).Scan(&page.Lag.JournalHead, &page.Lag.PendingEntries)
		if err != nil {
			return fmt.Errorf("read journal head of %s: %w", walletID, err)
		}
		return nil
	})
	return page, err
}
