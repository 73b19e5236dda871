package query

import (
	"context"
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
