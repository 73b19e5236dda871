package command

import (
	"context"
	"errors"

	"github.com/google/uuid"

	"github.com/agentic-commerce/wallet-ledger/eventstore"
	"github.com/agentic-commerce/wallet-ledger/internal/auth"
	"github.com/agentic-commerce/wallet-ledger/projector"
)

// The kill switch. While a wallet is frozen, no money leaves it: transfers, holds, captures and refunds from it
// answer 423 wallet_frozen (an admin's adjustment still corrects it). Money may still come in, and holds are still
// voided and expired back into it. The freeze is decided under the wallet's projection lock, the lock every spend
// from it takes, and spends read the wallet after their locks: a freeze and a racing spend never both win, and
// after a freeze commits nothing leaves the wallet.

// FreezeWalletRequest is the body of POST /v1/wallets/{id}/freeze.
type FreezeWalletRequest struct {
	Reason *string `json:"reason"`
}

// FreezeWallet is a validated freeze.
type FreezeWallet struct {
	WalletID uuid.UUID
	Reason   string
}

// UnfreezeWalletRequest is the (optional, empty) body of POST /v1/wallets/{id}/unfreeze.
type UnfreezeWalletRequest struct{}

// ValidateFreezeWallet checks the request's fields: a freeze always says why.
func ValidateFreezeWallet(id uuid.UUID, req FreezeWalletRequest) (FreezeWallet, error) {
	var f fields
	cmd := FreezeWallet{WalletID: id, Reason: f.text("reason", req.Reason, true)}
	return cmd, f.err()
}

// freezePlan freezes (reason != "") or unfreezes a wallet.
type freezePlan struct {
	caller auth.Caller
	cmd    FreezeWallet
	freeze bool
	// pre is the wallet as read before the batch, for what never changes (metadata, creation time); its status is
	// read again in the batch, under the lock.
	pre      eventstore.Wallet
	preFound bool
}

// freezeWallet plans a freeze by the wallet's owner (or an agent acting for the owner: stopping is always
// allowed) or an admin.
func (c *Commands) freezeWallet(ctx context.Context, caller auth.Caller, cmd FreezeWallet) (plan, error) {
	if cmd.Reason == "" {
		// ValidateFreezeWallet says so too; a command built in process must not reach the database without it.
		return nil, invalidField("reason", "is required")
	}
	return c.freezePlan(ctx, caller, cmd, true)
}

// unfreezeWallet plans lifting a freeze: the owner lifts its own freeze, only an admin lifts an admin's.
func (c *Commands) unfreezeWallet(ctx context.Context, caller auth.Caller, id uuid.UUID) (plan, error) {
	return c.freezePlan(ctx, caller, FreezeWallet{WalletID: id}, false)
}

func (c *Commands) freezePlan(ctx context.Context, caller auth.Caller, cmd FreezeWallet, freeze bool) (plan, error) {
	p := &freezePlan{caller: caller, cmd: cmd, freeze: freeze}
	w, err := eventstore.GetWallet(ctx, c.store.Pool(), cmd.WalletID)
	switch {
	case err == nil:
		p.pre, p.preFound = w, true
	case !errors.Is(err, eventstore.ErrWalletNotFound):
		return nil, err
	}
	return p, nil
}

func (p *freezePlan) need(n *needs) {
	// The projection's lock is the one every movement out of the wallet takes.
	n.lock(p.cmd.WalletID)
}

func (p *freezePlan) decide(d *decision) (Result, error) {
	w, ok := d.wallet(p.cmd.WalletID)
	// The owner, or an agent acting for it (the token's sub owns the wallet), or an admin.
	if !p.preFound || !ok || w.Kind != eventstore.KindUser || !(p.caller.IsAdmin() || w.Owner == p.caller.Sub) {
		return Result{}, walletNotFound(p.cmd.WalletID)
	}
	next, event, err := p.step(d, w)
	if err != nil {
		return Result{}, err
	}
	if event != "" {
		d.saveFreeze(next)
		d.emit(eventstore.NewFreezeEvent(event, next, p.caller.Sub, p.caller.Actor, d.now))
	}
	full := p.pre
	full.Freeze = next.Freeze
	bal, _ := d.balance(w.ID)
	return Result{Body: projector.NewWalletView(full, bal), ID: w.ID}, nil
}

// step returns the wallet as the freeze or unfreeze leaves it, and its event ("" when nothing changes).
func (p *freezePlan) step(d *decision, w eventstore.Wallet) (eventstore.Wallet, string, error) {
	admin, by := p.caller.IsAdmin(), p.caller.Acting()
	switch {
	case p.freeze && !w.Frozen():
		now := d.now
		w.Freeze = eventstore.Freeze{Status: eventstore.WalletFrozen, FrozenReason: p.cmd.Reason, FrozenBy: by,
			FrozenAt: &now, FrozenByAdmin: admin}
		return w, eventstore.EventWalletFrozen, nil
	case p.freeze && admin && !w.FrozenByAdmin:
		// An admin's freeze over the owner's becomes an admin's: the owner can no longer lift it. It stays frozen
		// since the first freeze.
		w.FrozenReason, w.FrozenBy, w.FrozenByAdmin = p.cmd.Reason, by, true
		return w, eventstore.EventWalletFrozen, nil
	case p.freeze || !w.Frozen():
		return w, "", nil
	case w.FrozenByAdmin && !admin:
		return w, "", ErrForbidden.Withf("wallet %s was frozen by an admin; only an admin may unfreeze it", w.ID)
	}
	w.Freeze = eventstore.Freeze{Status: eventstore.WalletActive}
	return w, eventstore.EventWalletUnfrozen, nil
}
