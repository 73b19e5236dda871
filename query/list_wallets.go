package query

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/agentic-commerce/wallet-ledger/eventstore"
	"github.com/agentic-commerce/wallet-ledger/internal/auth"
	"github.com/agentic-commerce/wallet-ledger/projector"
)

// walletFilters are the filters of GET /v1/wallets.
var walletFilters = []string{"owner", "asset"}

// Wallets lists, newest first, the wallets the caller may read: an admin's are all of them (filter owner,
// asset); anyone else's are its own and those it holds an active mandate on, which the wallet read allows too
// (owner narrows them to one owner's, asset to one asset).
func (q *Queries) Wallets(ctx context.Context, caller auth.Caller, l listQuery) (Page[projector.WalletView], error) {
	f := eventstore.WalletFilter{All: caller.IsAdmin(), Sub: caller.Sub, Now: time.Now().UTC(),
		Owner: l.get("owner"), Asset: l.get("asset")}
	if err := textFilter("owner", f.Owner); err != nil {
		return Page[projector.WalletView]{}, err
	}
	if f.Asset != "" && !assetPattern.MatchString(f.Asset) {
		return Page[projector.WalletView]{}, errInvalidAsset
	}
	sc := scope("GET /v1/wallets", caller.Sub, f.All, f.Owner, f.Asset)
	start, err := q.pageStart(l, sc, keyed(eventstore.FirstPage.CreatedAt, eventstore.FirstPage.ID))
	if err != nil {
		return Page[projector.WalletView]{}, err
	}
	var wallets []eventstore.Wallet
	var balances map[uuid.UUID]projector.Balance
	err = q.store.InSnapshot(ctx, func(db eventstore.Querier) error {
		var err error
		wallets, err = eventstore.ListWallets(ctx, db, f, eventstore.PageKey{CreatedAt: start.At, ID: start.ID}, l.limit+1)
		if err != nil {
			return err
		}
		ids := make([]uuid.UUID, len(wallets))
		for i, w := range wallets {
			ids[i] = w.ID
		}
		balances, err = projector.GetBalances(ctx, db, ids)
		return err
	})
	if err != nil {
		return Page[projector.WalletView]{}, err
	}
	return newPage(wallets, l.limit,
		func(w eventstore.Wallet) projector.WalletView { return projector.NewWalletView(w, balances[w.ID]) },
		func(w eventstore.Wallet) string { return q.cursors.encode(sc, keyed(w.CreatedAt, w.ID)) }), nil
}
