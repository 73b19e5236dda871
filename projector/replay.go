package projector

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/agentic-commerce/wallet-ledger/eventstore"
)

// Replay streams the journal's transactions after position after, in position order, each with its entries in
// entry order, to fn. Run it inside one snapshot (eventstore.Store.InSnapshot) for a consistent view. Across
// wallets position order is not commit order, but within one wallet it is (positions are drawn under the wallet's
// lock), and a replay of a committed snapshot folds every wallet's transactions in the order they were applied.
func Replay(ctx context.Context, q eventstore.Querier, after int64, fn func(eventstore.Transaction) error) error {
	rows, err := q.Query(ctx, `SELECT t.transaction_id, t.position, t.kind, t.asset, t.amount, t.created_at,
			e.wallet_id, e.asset, e.amount, e.bucket
		FROM journal_transactions t JOIN journal_entries e ON e.transaction_id = t.transaction_id
		WHERE t.position > $1 ORDER BY t.position, e.entry_id`, after)
	if err != nil {
		return fmt.Errorf("replay journal after %d: %w", after, err)
	}
	defer rows.Close()
	var cur eventstore.Transaction
	for rows.Next() {
		var t eventstore.Transaction
		var e eventstore.Entry
		if err := rows.Scan(&t.ID, &t.Position, &t.Kind, &t.Asset, &t.Amount, &t.CreatedAt,
			&e.WalletID, &e.Asset, &e.Amount, &e.Bucket); err != nil {
			return fmt.Errorf("replay journal: %w", err)
		}
		if e.Bucket != eventstore.BucketHeld {
			e.Bucket = ""
		}
		if t.ID != cur.ID {
			if cur.ID != uuid.Nil {
				if err := fn(cur); err != nil {
					return err
				}
			}
			cur = t
		}
		cur.Entries = append(cur.Entries, e)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("replay journal: %w", err)
	}
	if cur.ID != uuid.Nil {
		return fn(cur)
	}
	return nil
}

// Fold is the projection state a replay builds: per wallet, what the writers' QueueApply would have left.
type Fold struct {
	Balances     map[uuid.UUID]Balance
	Transactions int64
}

// NewFold returns an empty fold.
func NewFold() *Fold { return &Fold{Balances: map[uuid.UUID]Balance{}} }

// Apply folds one transaction with the writers' own Deltas: balance and held move by the same sums, version
// counts the transactions that touched the wallet, updated_at is the last one's time.
func (f *Fold) Apply(t eventstore.Transaction) error {
	deltas, err := Deltas(t.Entries)
	if err != nil {
		return fmt.Errorf("replay transaction %s: %w", t.ID, err)
	}
	for id, d := range deltas {
		b := f.Balances[id]
		var ok1, ok2 bool
		b.WalletID = id
		b.Balance, ok1 = add(b.Balance, d.Balance)
		b.Held, ok2 = add(b.Held, d.Held)
		if !ok1 || !ok2 {
			return fmt.Errorf("replay transaction %s: the balance of wallet %s leaves the 64-bit range", t.ID, id)
		}
		b.Version++
		b.UpdatedAt = t.CreatedAt
		f.Balances[id] = b
	}
	f.Transactions++
	return nil
}

// seed gives a wallet that no transaction touched its initial projection: zero, version 0, its creation time.
func (f *Fold) seed(id uuid.UUID, asset, kind string, createdAt time.Time) {
	b, ok := f.Balances[id]
	if !ok {
		b = Balance{WalletID: id, UpdatedAt: createdAt}
	}
	b.Asset, b.Kind = asset, kind
	f.Balances[id] = b
}
