package command

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"

	"github.com/agentic-commerce/wallet-ledger/eventstore"
	"github.com/agentic-commerce/wallet-ledger/internal/auth"
)

// releasePlan ends an active hold: a capture (capture != nil), a void, or an expiry by the sweeper. The hold row is
// locked with the batch's reads, so of a racing capture and void exactly one finds the hold active and the other
// answers hold_not_active.
type releasePlan struct {
	caller  auth.Caller
	capture *CaptureHold
	sweeper bool // the expiry sweeper: no caller, only expired holds

	// pre is the hold as read before the batch: its wallets and mandate never change while it is active, so they
	// say which rows to lock. A hold that does not exist yet (or no longer) is refused inside the batch, so that
	// the refusal is stored under the idempotency key like every other.
	pre      eventstore.Hold
	preFound bool
}

// releaseOf reads hold id's immutable parts and plans its release.
func (c *Commands) releaseOf(ctx context.Context, caller auth.Caller, id uuid.UUID, capture *CaptureHold, sweeper bool) (*releasePlan, error) {
	p := &releasePlan{caller: caller, capture: capture, sweeper: sweeper, pre: eventstore.Hold{ID: id}}
	h, err := eventstore.GetHold(ctx, c.store.Pool(), id)
	switch {
	case err == nil:
		p.pre, p.preFound = h, true
	case !errors.Is(err, ErrHoldNotFound):
		return nil, err
	}
	return p, nil
}

func (p *releasePlan) destination() *uuid.UUID {
	if p.capture != nil && p.capture.ToWalletID != nil {
		return p.capture.ToWalletID
	}
	return p.pre.ToWalletID
}

func (p *releasePlan) need(n *needs) {
	if !p.preFound {
		return
	}
	n.hold(p.pre.ID)
	n.lock(p.pre.WalletID)
	if dest := p.destination(); p.capture != nil && dest != nil && *dest != p.pre.WalletID {
		n.lock(*dest)
	}
	if p.pre.MandateID != nil {
		n.mandate(*p.pre.MandateID)
	}
}

// authorised: the hold's creator (the same sub and actor), the held wallet's owner, or an admin may capture or void
// it. An agent acting for the owner is not the owner: it may release only the holds it made.
func (p *releasePlan) authorised(h eventstore.Hold, owner eventstore.Wallet) bool {
	creator := p.caller.Sub == h.Sub && p.caller.Actor == h.Actor
	return p.sweeper || creator || (owner.Kind == eventstore.KindUser && canSpend(p.caller, owner))
}

func (p *releasePlan) decide(d *decision) (Result, error) {
	h, found := d.hold(p.pre.ID)
	owner, ok := d.wallet(h.WalletID)
	if !p.preFound || !found || !ok || !p.authorised(h, owner) {
		return Result{}, ErrHoldNotFound.Withf("hold %s does not exist or is not yours", p.pre.ID)
	}
	if h.Status != eventstore.HoldActive {
		return Result{}, ErrHoldNotActive.Withf("hold %s is already %s", h.ID, h.Status)
	}
	kind, event, status := eventstore.KindVoid, eventstore.EventHoldVoided, eventstore.HoldVoided
	if h.ExpiredAt(d.now) {
		if p.capture != nil {
			return Result{}, ErrHoldExpired.Withf("hold %s expired at %s", h.ID, h.ExpiresAt.Format("2006-01-02T15:04:05.999999Z07:00"))
		}
		// A void after the expiry releases the hold as the sweeper would have.
		kind, event, status = eventstore.KindExpire, eventstore.EventHoldExpired, eventstore.HoldExpired
	} else if p.sweeper {
		return Result{}, ErrHoldNotActive.Withf("hold %s has not expired", h.ID)
	}
	var mandate *eventstore.Mandate
	if h.MandateID != nil {
		m, ok := d.mandate(*h.MandateID)
		if !ok {
			return Result{}, fmt.Errorf("mandate %s of hold %s was not locked", *h.MandateID, h.ID)
		}
		mandate = &m
	}
	entries := []eventstore.Entry{{WalletID: h.WalletID, Asset: h.Asset, Amount: -h.Amount, Bucket: eventstore.BucketHeld}}
	amount, released := h.Amount, h.Amount
	if p.capture != nil {
		// A capture moves money out of the held wallet; a void or an expiry only releases it back.
		if err := checkNotFrozen(owner); err != nil {
			return Result{}, err
		}
		var err error
		if amount, err = p.checkCapture(d, h, owner, mandate); err != nil {
			return Result{}, err
		}
		kind, event, status = eventstore.KindCapture, eventstore.EventHoldCaptured, eventstore.HoldCaptured
		released = h.Amount - amount
		h.ToWalletID, h.CapturedAmount = p.destination(), amount
		if released > 0 {
			entries = append(entries, eventstore.Entry{WalletID: h.WalletID, Asset: h.Asset, Amount: released})
		}
		entries = append(entries, eventstore.Entry{WalletID: *h.ToWalletID, Asset: h.Asset, Amount: amount})
	} else {
		entries = append(entries, eventstore.Entry{WalletID: h.WalletID, Asset: h.Asset, Amount: released})
	}
	t := d.newTransaction(kind, h.Asset, amount, h.Description, nil, entries...)
	t.MandateID, t.HoldID = h.MandateID, &h.ID
	if err := d.post(&t); err != nil {
		return Result{}, err
	}
	if mandate != nil && giveBack(mandate, h.MandatePeriodStart, released, d.now) {
		d.saveMandate(*mandate)
	}
	h.Status, h.ReleaseTransactionID, h.UpdatedAt = status, &t.ID, d.now
	d.finishHold(h)
	d.emit(eventstore.NewHoldEvent(event, h, t))
	return Result{Body: h.ViewAt(d.now), ID: h.ID}, nil
}

// checkCapture returns the amount to capture after checking it, the destination and, when the hold's agent
// captures it, the mandate (still active, destination allowed). The owner and admins capture without one. A
// single-use mandate the hold consumed still lets its agent capture: the hold's creation was its one spend, and a
// capture is not another.
func (p *releasePlan) checkCapture(d *decision, h eventstore.Hold, owner eventstore.Wallet, mandate *eventstore.Mandate) (int64, error) {
	amount := h.Amount
	if p.capture.Amount != nil {
		amount = *p.capture.Amount
	}
	if amount > h.Amount {
		return 0, ErrCaptureExceedsHold.Withf("hold %s holds %d, the capture asks for %d", h.ID, h.Amount, amount)
	}
	dest := p.destination()
	if dest == nil {
		return 0, invalidField("to_wallet_id", "is required: the hold names no destination")
	}
	if *dest == h.WalletID {
		return 0, ErrSameWallet.Withf("a hold cannot be captured into the wallet it holds")
	}
	if err := checkHoldParties(d, owner, dest, h.Asset); err != nil {
		return 0, err
	}
	if mandate != nil && !canSpend(p.caller, owner) {
		m := *mandate
		if m.Status == eventstore.MandateConsumed {
			m.Status = eventstore.MandateActive
		}
		if err := checkMandate(m, dest, d.now); err != nil {
			return 0, err
		}
	}
	return amount, nil
}
