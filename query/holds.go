package query

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"

	"github.com/agentic-commerce/wallet-ledger/eventstore"
	"github.com/agentic-commerce/wallet-ledger/internal/auth"
)

// Hold returns a hold as it stands now. Its creator (the same sub and actor), the owners of its wallet and of its
// destination, and admins may see it; to anybody else it does not exist.
func (q *Queries) Hold(ctx context.Context, caller auth.Caller, id uuid.UUID) (eventstore.HoldView, error) {
	h, err := eventstore.GetHold(ctx, q.store.Pool(), id)
	if err != nil {
		return eventstore.HoldView{}, err
	}
	visible := caller.IsAdmin() || (h.Sub == caller.Sub && h.Actor == caller.Actor)
	if !visible && !caller.Delegated() {
		ids := []uuid.UUID{h.WalletID}
		if h.ToWalletID != nil {
			ids = append(ids, *h.ToWalletID)
		}
		for _, wid := range ids {
			w, err := eventstore.GetWallet(ctx, q.store.Pool(), wid)
			if err != nil {
				return eventstore.HoldView{}, err
			}
			visible = visible || (w.Kind == eventstore.KindUser && w.Owner == caller.Sub)
		}
	}
	if !visible {
		return eventstore.HoldView{}, eventstore.ErrHoldNotFound.Withf("hold %s does not exist or is not visible to you", id)
	}
	return h.ViewAt(time.Now().UTC()), nil
}

// holdFilters are the filters of GET /v1/wallets/{id}/holds.
var holdFilters = []string{"status"}

// WalletHolds lists a wallet's holds, newest first (filter status, as a reader sees it now). The wallet's owner
// and admins see all of them; an agent holding an active mandate on it (whom the wallet read allows) sees only
// the holds it made; to anybody else the wallet does not exist.
func (q *Queries) WalletHolds(ctx context.Context, caller auth.Caller, id uuid.UUID, l listQuery) (Page[eventstore.HoldView], error) {
	now := time.Now().UTC()
	f := eventstore.HoldFilter{WalletID: id, Status: l.get("status"), Now: now}
	if err := enumFilter("status", f.Status, eventstore.HoldActive, eventstore.HoldCaptured, eventstore.HoldVoided,
		eventstore.HoldExpired); err != nil {
		return Page[eventstore.HoldView]{}, err
	}
	if _, err := q.visibleWallet(ctx, caller, id); err != nil {
		if !errors.Is(err, eventstore.ErrWalletNotFound) {
			return Page[eventstore.HoldView]{}, err
		}
		if _, err := q.spendableWallet(ctx, caller, id); err != nil {
			return Page[eventstore.HoldView]{}, err
		}
		f.Sub = caller.Sub
	}
	sc := scope("GET /v1/wallets/{id}/holds", caller.Sub, caller.IsAdmin(), id.String(), f.Sub, f.Status)
	start, err := q.pageStart(l, sc, keyed(eventstore.FirstPage.CreatedAt, eventstore.FirstPage.ID))
	if err != nil {
		return Page[eventstore.HoldView]{}, err
	}
	holds, err := eventstore.ListHolds(ctx, q.store.Pool(), f, eventstore.PageKey{CreatedAt: start.At, ID: start.ID}, l.limit+1)
	if err != nil {
		return Page[eventstore.HoldView]{}, err
	}
	return newPage(holds, l.limit, func(h eventstore.Hold) eventstore.HoldView { return h.ViewAt(now) },
		func(h eventstore.Hold) string { return q.cursors.encode(sc, keyed(h.CreatedAt, h.ID)) }), nil
}
