// Package projector owns how journal entries become balances: it applies a transaction's entries to the balance
// projections inside the write's own DB transaction, and compares projections with the journal (audit).
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

// Balance is a wallet's projected balance. Balance = Available + Held.
type Balance struct {
	WalletID  uuid.UUID
	Asset     string
	Kind      string
	Balance   int64
	Held      int64
	Version   int64
	UpdatedAt time.Time
}

// Available is what the wallet can spend now.
func (b Balance) Available() int64 { return b.Balance - b.Held }

// QueueInit queues the zero projection of a new wallet, once the wallet exists. For system wallets, created on
// first use by concurrent writers, an existing row is kept; one that was not created (eventstore.
// QueueEnsureSystemWallet) gets none.
func QueueInit(b *pgx.Batch, walletID uuid.UUID, asset, kind string, now time.Time) {
	b.Queue(`INSERT INTO balance_projections (wallet_id, asset, kind, updated_at) SELECT $1, $2, $3, $4
		WHERE EXISTS (SELECT 1 FROM wallets WHERE wallet_id = $1)
		ON CONFLICT (wallet_id) DO NOTHING`, walletID, asset, kind, now)
}

// QueueLock queues locking the projections of ids, in wallet_id order so that two transfers between the same
// wallets in opposite directions can never deadlock, and reads them into dst. The order is the statement's: rows
// are locked as ORDER BY returns them.
func QueueLock(b *pgx.Batch, ids []uuid.UUID, dst map[uuid.UUID]Balance) {
	b.Queue(`SELECT wallet_id, asset, kind, balance, held, version, updated_at FROM balance_projections
		WHERE wallet_id = ANY($1) ORDER BY wallet_id FOR UPDATE`, ids).
		Query(func(rows pgx.Rows) error {
			for rows.Next() {
				bal, err := scanBalance(rows)
				if err != nil {
					return err
				}
				dst[bal.WalletID] = bal
			}
			return rows.Err()
		})
}

// Delta is the change one or more transactions make to one wallet.
type Delta struct {
	Balance int64
	Held    int64
	// Transactions is how many journal transactions the delta sums (0 counts as 1): the projection's version
	// grows by one per transaction, whether they are applied one at a time or a batch at once.
	Transactions int64
}

// Deltas sums entries per wallet, refusing a sum that would overflow.
func Deltas(entries []eventstore.Entry) (map[uuid.UUID]Delta, error) {
	out := make(map[uuid.UUID]Delta, len(entries))
	for _, e := range entries {
		d := out[e.WalletID]
		var ok bool
		if d.Balance, ok = add(d.Balance, e.Amount); !ok {
			return nil, eventstore.ErrBalanceOutOfRange.Withf("the entries of wallet %s overflow", e.WalletID)
		}
		if e.Bucket == eventstore.BucketHeld {
			if d.Held, ok = add(d.Held, e.Amount); !ok {
				return nil, eventstore.ErrBalanceOutOfRange.Withf("the held entries of wallet %s overflow", e.WalletID)
			}
		}
		out[e.WalletID] = d
	}
	return out, nil
}

// Check verifies that applying deltas to the locked balances keeps every user wallet non-negative (in total and
// in what is available) and every sum in range. The database checks the same again; this answers first and with
// the wallet named.
func Check(locked map[uuid.UUID]Balance, deltas map[uuid.UUID]Delta) error {
	for id, d := range deltas {
		cur, ok := locked[id]
		if !ok {
			return fmt.Errorf("projection of wallet %s was not locked", id)
		}
		newBal, ok1 := add(cur.Balance, d.Balance)
		newHeld, ok2 := add(cur.Held, d.Held)
		if !ok1 || !ok2 {
			return eventstore.ErrBalanceOutOfRange.Withf("the balance of wallet %s would leave the 64-bit range", id)
		}
		if cur.Kind == eventstore.KindSystem {
			continue
		}
		if newHeld < 0 || newBal-newHeld < 0 {
			return eventstore.ErrInsufficientFunds.Withf(
				"wallet %s has %d available, the operation needs %d", id, cur.Available(), -(d.Balance - d.Held))
		}
	}
	return nil
}

// QueueApply queues the projection update for deltas: one row per wallet, however many transactions its delta
// sums, so a wallet that a whole batch pays is written once. The rows must have been locked by QueueLock in the
// same transaction.
func QueueApply(b *pgx.Batch, deltas map[uuid.UUID]Delta, now time.Time) {
	if len(deltas) == 0 {
		return
	}
	ids := make([]uuid.UUID, 0, len(deltas))
	bal := make([]int64, 0, len(deltas))
	held := make([]int64, 0, len(deltas))
	versions := make([]int64, 0, len(deltas))
	for id, d := range deltas {
		ids, bal, held, versions = append(ids, id), append(bal, d.Balance), append(held, d.Held), append(versions, max(d.Transactions, 1))
	}
	b.Queue(`UPDATE balance_projections p SET balance = p.balance + d.balance, held = p.held + d.held,
		version = p.version + d.versions, updated_at = $5
		FROM unnest($1::uuid[], $2::bigint[], $3::bigint[], $4::bigint[]) AS d(wallet_id, balance, held, versions)
		WHERE p.wallet_id = d.wallet_id`, ids, bal, held, versions, now)
}

// GetBalance reads one wallet's projection.
func GetBalance(ctx context.Context, q eventstore.Querier, walletID uuid.UUID) (Balance, error) {
	bal, err := scanBalance(q.QueryRow(ctx, `SELECT wallet_id, asset, kind, balance, held, version, updated_at
		FROM balance_projections WHERE wallet_id = $1`, walletID))
	if errors.Is(err, pgx.ErrNoRows) {
		return Balance{}, eventstore.ErrWalletNotFound.Withf("wallet %s does not exist or is not visible to you", walletID)
	}
	if err != nil {
		return Balance{}, eventstore.Classify(fmt.Errorf("read balance of %s: %w", walletID, err))
	}
	return bal, nil
}

func scanBalance(row pgx.Row) (Balance, error) {
	var b Balance
	err := row.Scan(&b.WalletID, &b.Asset, &b.Kind, &b.Balance, &b.Held, &b.Version, &b.UpdatedAt)
	return b, err
}

func add(a, b int64) (int64, bool) {
	if (b > 0 && a > math.MaxInt64-b) || (b < 0 && a < math.MinInt64-b) {
		return 0, false
	}
	return a + b, true
}
