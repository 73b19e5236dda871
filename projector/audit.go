package projector

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/agentic-commerce/wallet-ledger/eventstore"
)

// WalletAudit compares one wallet's projection with the sum of its journal entries.
type WalletAudit struct {
	WalletID         uuid.UUID
	Asset            string
	ProjectedBalance int64
	JournalBalance   int64
	ProjectedHeld    int64
	JournalHeld      int64
	EntryCount       int64
	CheckedAt        time.Time
}

// Consistent reports whether the projection equals the journal.
func (a WalletAudit) Consistent() bool {
	return a.ProjectedBalance == a.JournalBalance && a.ProjectedHeld == a.JournalHeld
}

// AuditWallet recomputes walletID's sums from the journal and compares them with its projection. Both reads run
// in one REPEATABLE READ snapshot, so a concurrent write cannot make a consistent wallet look inconsistent.
func AuditWallet(ctx context.Context, store *eventstore.Store, walletID uuid.UUID) (WalletAudit, error) {
	var out WalletAudit
	err := store.InSnapshot(ctx, func(q eventstore.Querier) error {
		bal, err := GetBalance(ctx, q, walletID)
		if err != nil {
			return err
		}
		totals, err := eventstore.SumWallet(ctx, q, walletID)
		if err != nil {
			return err
		}
		out = WalletAudit{
			WalletID: walletID, Asset: bal.Asset,
			ProjectedBalance: bal.Balance, JournalBalance: totals.Balance,
			ProjectedHeld: bal.Held, JournalHeld: totals.Held,
			EntryCount: totals.EntryCount, CheckedAt: time.Now().UTC(),
		}
		return nil
	})
	return out, err
}
