package command

import (
	"context"
	"errors"

	"github.com/google/uuid"

	"github.com/agentic-commerce/wallet-ledger/eventstore"
	"github.com/agentic-commerce/wallet-ledger/internal/auth"
)

// The mandate lifecycle: suspend (spends refused, room kept), resume, revoke. Revoked, expired and consumed are
// terminal. Stopping a mandate is always allowed to its owner, an admin and its own agent (acting for itself or,
// with a delegated token, for the wallet's owner), and stopping a mandate that is already stopped answers it as it
// stands; only the owner or an admin may resume one.

// RevokeMandateRequest is the (optional, empty) body of POST /v1/mandates/{id}/revoke.
type RevokeMandateRequest struct{}

// SuspendMandateRequest is the (optional, empty) body of POST /v1/mandates/{id}/suspend.
type SuspendMandateRequest struct{}

// ResumeMandateRequest is the (optional, empty) body of POST /v1/mandates/{id}/resume.
type ResumeMandateRequest struct{}

// mandateChange is one step of a mandate's lifecycle. step returns the mandate as it becomes and the event of
// the change, or the same mandate and "" when nothing changes.
type mandateChange struct {
	caller   auth.Caller
	id       uuid.UUID
	walletID uuid.UUID // the mandate's wallet, read before the batch (it never changes)
	agentMay bool      // the mandate's own agent may take this step
	step     func(d *decision, m eventstore.Mandate, byAgent bool) (eventstore.Mandate, string, error)
}

// revokeMandate plans ending a mandate at once. Holds made under it stay until captured by the wallet's owner,
// voided or expired; its agent can no longer capture them.
func (c *Commands) revokeMandate(ctx context.Context, caller auth.Caller, id uuid.UUID) (plan, error) {
	return c.mandateChange(ctx, caller, id, true, revokeStep)
}

// suspendMandate plans stopping a mandate until it is resumed: its spends are refused, its room and counts kept.
func (c *Commands) suspendMandate(ctx context.Context, caller auth.Caller, id uuid.UUID) (plan, error) {
	return c.mandateChange(ctx, caller, id, true, suspendStep)
}

// resumeMandate plans letting a suspended mandate authorise spends again (its owner or an admin only).
func (c *Commands) resumeMandate(ctx context.Context, caller auth.Caller, id uuid.UUID) (plan, error) {
	return c.mandateChange(ctx, caller, id, false, resumeStep)
}

func (c *Commands) mandateChange(ctx context.Context, caller auth.Caller, id uuid.UUID, agentMay bool,
	step func(*decision, eventstore.Mandate, bool) (eventstore.Mandate, string, error)) (plan, error) {
	walletID, err := c.walletOfMandate(ctx, id)
	if err != nil {
		return nil, err
	}
	return &mandateChange{caller: caller, id: id, walletID: walletID, agentMay: agentMay, step: step}, nil
}

// walletOfMandate returns the wallet mandate id is on, read before the batch so that its locks can include the
// wallet; uuid.Nil when there is no such mandate (the plan then refuses it under the batch's locks).
func (c *Commands) walletOfMandate(ctx context.Context, id uuid.UUID) (uuid.UUID, error) {
	m, err := eventstore.GetMandate(ctx, c.store.Pool(), id)
	switch {
	case err == nil:
		return m.WalletID, nil
	case errors.Is(err, ErrMandateNotFound):
		return uuid.Nil, nil
	}
	return uuid.Nil, err
}

func (p *mandateChange) need(n *needs) {
	// The lock waits for any spend in flight through this mandate: a spend that commits first counts, and none
	// can start after the change commits.
	n.mandate(p.id)
	if p.walletID != uuid.Nil {
		n.read(p.walletID)
	}
}

func (p *mandateChange) decide(d *decision) (Result, error) {
	m, ok := d.mandate(p.id)
	if !ok {
		return Result{}, ErrMandateNotFound.Withf("mandate %s does not exist or is not yours", p.id)
	}
	w, ok := d.wallet(m.WalletID)
	owner := ok && canSpend(p.caller, w)
	agent := ok && holdsMandate(p.caller, m, w)
	switch {
	case !owner && !agent:
		return Result{}, ErrMandateNotFound.Withf("mandate %s does not exist or is not yours", p.id)
	case !owner && !p.agentMay:
		return Result{}, ErrForbidden.Withf("only the wallet's owner or an admin may do this to mandate %s", p.id)
	}
	next, event, err := p.step(d, m, !owner)
	if err != nil || event == "" {
		return Result{Body: m.ViewAt(d.now), ID: m.ID}, err
	}
	d.saveMandate(next)
	saved, _ := d.mandate(m.ID)
	d.emit(eventstore.NewMandateEvent(event, saved, p.caller.Sub, p.caller.Actor, d.now))
	return Result{Body: saved.ViewAt(d.now), ID: m.ID}, nil
}

// revokeStep ends an active or suspended mandate: "renounced" when its agent gives it up, "revoked" otherwise.
func revokeStep(d *decision, m eventstore.Mandate, byAgent bool) (eventstore.Mandate, string, error) {
	if m.Terminal(d.now) {
		return m, "", nil
	}
	now := d.now
	m.Status, m.RevokedAt, m.RevokedBy = eventstore.MandateRevoked, &now, d.job.caller.Acting()
	m.DeactivatedReason = eventstore.ReasonRevoked
	if byAgent {
		m.DeactivatedReason = eventstore.ReasonRenounced
	}
	return m, eventstore.EventMandateRevoked, nil
}

// suspendStep stops an active mandate; a suspended or ended one stays as it is.
func suspendStep(d *decision, m eventstore.Mandate, _ bool) (eventstore.Mandate, string, error) {
	if m.Terminal(d.now) || m.Status == eventstore.MandateSuspended {
		return m, "", nil
	}
	m.Status, m.DeactivatedReason = eventstore.MandateSuspended, eventstore.ReasonSuspended
	return m, eventstore.EventMandateSuspended, nil
}

// resumeStep lets a suspended mandate spend again; an active one stays as it is, an ended one cannot come back.
func resumeStep(d *decision, m eventstore.Mandate, _ bool) (eventstore.Mandate, string, error) {
	switch {
	case m.Terminal(d.now):
		return m, "", ErrMandateInactive.Withf("mandate %s is %s and cannot be resumed; grant a new one", m.ID, m.StatusAt(d.now))
	case m.Status == eventstore.MandateActive:
		return m, "", nil
	}
	m.Status, m.DeactivatedReason = eventstore.MandateActive, ""
	return m, eventstore.EventMandateResumed, nil
}
