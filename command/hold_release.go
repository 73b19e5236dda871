package command

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/agentic-commerce/wallet-ledger/eventstore"
	"github.com/agentic-commerce/wallet-ledger/internal/auth"
	"github.com/agentic-commerce/wallet-ledger/projector"
)

// releasePlan ends an active hold: a capture (capture != nil), a void, or an expiry. The hold row is locked first,
// then the projections, then the mandate (the order every write uses), so of a racing capture and void exactly
// one finds the hold active and the other answers hold_not_active.
type releasePlan struct {
	c       *Commands
	caller  auth.Caller
	idem    Idempotency
	capture *CaptureHold
	sweeper bool // the expiry sweeper: no caller, only expired holds

	// pre is the hold as read before the transaction: its wallets and mandate never change while it is active,
	// so they say which rows to lock.
	pre      eventstore.Hold
	preFound bool

	hold     eventstore.Hold
	found    bool
	wallets  map[uuid.UUID]eventstore.Wallet
	balances map[uuid.UUID]projector.Balance
	mandates []eventstore.Mandate
	position int64
}

// preRead reads the hold's immutable parts before the transaction; a missing hold is refused inside it, so that
// the refusal is stored under the idempotency key like every other.
func (p *releasePlan) preRead(ctx context.Context, id uuid.UUID) error {
	h, err := eventstore.GetHold(ctx, p.c.store.Pool(), id)
	switch {
	case err == nil:
		p.pre, p.preFound = h, true
	case errors.Is(err, &eventstore.Error{Code: codeHoldNotFound}):
		p.pre = eventstore.Hold{ID: id}
	default:
		return err
	}
	return nil
}

func (p *releasePlan) destination() *uuid.UUID {
	if p.capture != nil && p.capture.ToWalletID != nil {
		return p.capture.ToWalletID
	}
	return p.pre.ToWalletID
}

func (p *releasePlan) read(b *pgx.Batch) {
	eventstore.QueueLockHold(b, p.pre.ID, &p.hold, &p.found)
	if !p.preFound {
		return
	}
	ids := []uuid.UUID{p.pre.WalletID}
	if dest := p.destination(); p.capture != nil && dest != nil && *dest != p.pre.WalletID {
		ids = append(ids, *dest)
	}
	p.wallets = make(map[uuid.UUID]eventstore.Wallet, len(ids))
	p.balances = make(map[uuid.UUID]projector.Balance, len(ids))
	eventstore.QueueLoadWallets(b, ids, p.wallets)
	projector.QueueLock(b, ids, p.balances)
	if p.pre.MandateID != nil {
		eventstore.QueueLockMandate(b, *p.pre.MandateID, &p.mandates)
	}
	eventstore.QueueNextPosition(b, &p.position)
}

// authorised: the hold's creator, the held wallet's owner, or an admin may capture or void it.
func (p *releasePlan) authorised(owner eventstore.Wallet) bool {
	return p.sweeper || p.caller.IsAdmin() || p.caller.Sub == p.hold.Sub || (owner.Kind == eventstore.KindUser && owner.Owner == p.caller.Sub)
}

func (p *releasePlan) decide(b *pgx.Batch) (int, any, string, error) {
	now := p.c.now()
	owner, ok := p.wallets[p.hold.WalletID]
	if !p.found || !p.preFound || !ok || !p.authorised(owner) {
		return 0, nil, "", eventstore.Errorf(codeHoldNotFound, "hold %s does not exist or is not yours", p.pre.ID)
	}
	h := p.hold
	if h.Status != eventstore.HoldActive {
		return 0, nil, "", eventstore.Errorf(codeHoldNotActive, "hold %s is already %s", h.ID, h.Status)
	}
	kind, event, status := eventstore.KindVoid, eventstore.EventHoldVoided, eventstore.HoldVoided
	if h.ExpiredAt(now) {
		if p.capture != nil {
			return 0, nil, "", eventstore.Errorf(codeHoldExpired, "hold %s expired at %s", h.ID, h.ExpiresAt.Format("2006-01-02T15:04:05.999999Z07:00"))
		}
		// A void after the expiry releases the hold as the sweeper would have.
		kind, event, status = eventstore.KindExpire, eventstore.EventHoldExpired, eventstore.HoldExpired
	} else if p.sweeper {
		return 0, nil, "", eventstore.Errorf(codeHoldNotActive, "hold %s has not expired", h.ID)
	}
	var mandate *eventstore.Mandate
	if h.MandateID != nil {
		if len(p.mandates) != 1 {
			return 0, nil, "", fmt.Errorf("mandate %s of hold %s was not locked", *h.MandateID, h.ID)
		}
		mandate = &p.mandates[0]
	}
	entries := []eventstore.Entry{{WalletID: h.WalletID, Asset: h.Asset, Amount: -h.Amount, Bucket: eventstore.BucketHeld}}
	amount, released := h.Amount, h.Amount
	if p.capture != nil {
		var err error
		if amount, err = p.checkCapture(owner, mandate, now); err != nil {
			return 0, nil, "", err
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
	sub := p.caller.Sub
	if p.sweeper {
		sub = eventstore.SystemOwner
	}
	t := eventstore.Transaction{
		ID: uuid.New(), Position: p.position, Kind: kind, Asset: h.Asset, Amount: amount, Sub: sub,
		IdempotencyKey: p.idem.Key, RequestHash: p.idem.Hash, Description: h.Description, CreatedAt: now,
		Entries: entries, MandateID: h.MandateID, HoldID: &h.ID,
	}
	if mandate != nil && giveBack(mandate, h.MandatePeriodStart, released, now) {
		eventstore.QueueUpdateMandateSpend(b, *mandate, now)
	}
	if err := p.c.post(b, t, p.balances); err != nil {
		return 0, nil, "", err
	}
	h.Status, h.ReleaseTransactionID, h.UpdatedAt = status, &t.ID, now
	eventstore.QueueFinishHold(b, h)
	if err := eventstore.QueueEvents(b, []eventstore.Event{eventstore.NewHoldEvent(event, h, t)}, nil); err != nil {
		return 0, nil, "", err
	}
	return http.StatusOK, h.ViewAt(now), "", nil
}

// checkCapture returns the amount to capture after checking it, the destination and, when the hold's agent
// captures it, the mandate (still active, destination allowed). The owner and admins capture without one.
func (p *releasePlan) checkCapture(owner eventstore.Wallet, mandate *eventstore.Mandate, now time.Time) (int64, error) {
	h := p.hold
	amount := h.Amount
	if p.capture.Amount != nil {
		amount = *p.capture.Amount
	}
	if amount > h.Amount {
		return 0, eventstore.Errorf(codeCaptureExceedsHold, "hold %s holds %d, the capture asks for %d", h.ID, h.Amount, amount)
	}
	dest := p.destination()
	if dest == nil {
		return 0, fieldsError("to_wallet_id", "is required: the hold names no destination")
	}
	if *dest == h.WalletID {
		return 0, eventstore.Errorf("same_wallet", "a hold cannot be captured into the wallet it holds")
	}
	if err := checkHoldParties(p.wallets, owner, dest, h.Asset); err != nil {
		return 0, err
	}
	if mandate != nil && !canSpend(p.caller, owner) {
		if err := checkMandate(*mandate, dest, now); err != nil {
			return 0, err
		}
	}
	return amount, nil
}

func fieldsError(field, msg string) error {
	var f fields
	f.add(field, "%s", msg)
	return f.err()
}
