package command

import (
	"context"
	"errors"

	"github.com/google/uuid"

	"github.com/agentic-commerce/wallet-ledger/eventstore"
	"github.com/agentic-commerce/wallet-ledger/internal/auth"
)

// RevokeMandateRequest is the (optional, empty) body of POST /v1/mandates/{id}/revoke.
type RevokeMandateRequest struct{}

type revokeMandatePlan struct {
	caller   auth.Caller
	id       uuid.UUID
	walletID uuid.UUID // the mandate's wallet, read before the batch (it never changes)
}

// revokeMandate plans ending a mandate at once. Holds made under it stay until captured by the wallet's owner,
// voided or expired; its agent can no longer capture them.
func (c *Commands) revokeMandate(ctx context.Context, caller auth.Caller, id uuid.UUID) (plan, error) {
	p := &revokeMandatePlan{caller: caller, id: id}
	m, err := eventstore.GetMandate(ctx, c.store.Pool(), id)
	switch {
	case err == nil:
		p.walletID = m.WalletID
	case !errors.Is(err, ErrMandateNotFound):
		return nil, err
	}
	return p, nil
}

func (p *revokeMandatePlan) need(n *needs) {
	// The lock waits for any spend in flight through this mandate: a spend that commits first counts, and none
	// can start after the revocation commits.
	n.mandate(p.id)
	if p.walletID != uuid.Nil {
		n.read(p.walletID)
	}
}

func (p *revokeMandatePlan) decide(d *decision) (Result, error) {
	notFound := ErrMandateNotFound.Withf("mandate %s does not exist or is not yours", p.id)
	m, ok := d.mandate(p.id)
	if !ok {
		return Result{}, notFound
	}
	w, ok := d.wallet(m.WalletID)
	// The wallet's owner, an admin, or the agent itself (giving up its rights) may revoke.
	if !ok || !(canSpend(p.caller, w) || m.Agent == p.caller.Sub) {
		return Result{}, notFound
	}
	if m.Status == eventstore.MandateRevoked {
		return Result{Body: m.ViewAt(d.now), ID: m.ID}, nil
	}
	now := d.now
	m.Status, m.RevokedAt, m.RevokedBy = eventstore.MandateRevoked, &now, p.caller.Sub
	d.saveMandate(m)
	d.emit(eventstore.NewMandateEvent(eventstore.EventMandateRevoked, m, p.caller.Sub, d.now))
	return Result{Body: m.ViewAt(d.now), ID: m.ID}, nil
}
