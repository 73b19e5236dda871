package command

import (
	"context"
	"errors"
	"net/http"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/agentic-commerce/wallet-ledger/eventstore"
	"github.com/agentic-commerce/wallet-ledger/internal/auth"
)

// RevokeMandateRequest is the (optional, empty) body of POST /v1/mandates/{id}/revoke.
type RevokeMandateRequest struct{}

type revokeMandatePlan struct {
	c        *Commands
	caller   auth.Caller
	id       uuid.UUID
	walletID uuid.UUID // the mandate's wallet, read before the transaction (it never changes)
	locked   []eventstore.Mandate
	wallets  map[uuid.UUID]eventstore.Wallet
}

func (p *revokeMandatePlan) read(b *pgx.Batch) {
	// The lock waits for any spend in flight through this mandate: a spend that commits first counts, and none
	// can start after the revocation commits.
	eventstore.QueueLockMandate(b, p.id, &p.locked)
	p.wallets = make(map[uuid.UUID]eventstore.Wallet, 1)
	eventstore.QueueLoadWallets(b, []uuid.UUID{p.walletID}, p.wallets)
}

func (p *revokeMandatePlan) decide(b *pgx.Batch) (int, any, string, error) {
	now := p.c.now()
	notFound := eventstore.Errorf(codeMandateNotFound, "mandate %s does not exist or is not yours", p.id)
	if len(p.locked) != 1 {
		return 0, nil, "", notFound
	}
	m := p.locked[0]
	w, ok := p.wallets[m.WalletID]
	// The wallet's owner, an admin, or the agent itself (giving up its rights) may revoke.
	if !ok || !(canSpend(p.caller, w) || m.Agent == p.caller.Sub) {
		return 0, nil, "", notFound
	}
	if m.Status == eventstore.MandateRevoked {
		return http.StatusOK, m.ViewAt(now), "", nil
	}
	m.Status, m.RevokedAt, m.RevokedBy, m.UpdatedAt = eventstore.MandateRevoked, &now, p.caller.Sub, now
	eventstore.QueueRevokeMandate(b, m.ID, p.caller.Sub, now)
	if err := eventstore.QueueEvents(b, []eventstore.Event{eventstore.NewMandateEvent(eventstore.EventMandateRevoked, m, p.caller.Sub, now)}, nil); err != nil {
		return 0, nil, "", err
	}
	return http.StatusOK, m.ViewAt(now), "", nil
}

// RevokeMandate ends a mandate at once, under idem. Holds made under it stay until captured by the wallet's
// owner, voided or expired; its agent can no longer capture them.
func (c *Commands) RevokeMandate(ctx context.Context, caller auth.Caller, idem Idempotency, id uuid.UUID) (Outcome, error) {
	p := &revokeMandatePlan{c: c, caller: caller, id: id}
	m, err := eventstore.GetMandate(ctx, c.store.Pool(), id)
	switch {
	case err == nil:
		p.walletID = m.WalletID
	case !errors.Is(err, &eventstore.Error{Code: codeMandateNotFound}):
		return Outcome{}, err
	}
	return c.execute(ctx, idem, "/v1/mandates/"+id.String()+"/revoke", p)
}
