package command

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/google/uuid"

	"github.com/agentic-commerce/wallet-ledger/eventstore"
	"github.com/agentic-commerce/wallet-ledger/internal/auth"
)

// AdjustmentRequest is the body of POST /v1/adjustments.
type AdjustmentRequest struct {
	WalletID string          `json:"wallet_id"`
	Amount   *int64          `json:"amount"`
	Asset    string          `json:"asset"`
	Reason   *string         `json:"reason"`
	Metadata json.RawMessage `json:"metadata" nullable:"true"`
}

// Adjustment is a validated admin correction: a credit (positive) or debit (negative) of one wallet against the
// asset's system wallet.
type Adjustment struct {
	WalletID uuid.UUID
	Amount   int64
	Asset    string
	Reason   string
	Metadata json.RawMessage
}

// ValidateAdjustment checks the request's fields.
func ValidateAdjustment(req AdjustmentRequest) (Adjustment, error) {
	var f fields
	a := Adjustment{
		WalletID: f.walletID("wallet_id", req.WalletID),
		Asset:    f.asset("asset", req.Asset),
		Reason:   f.text("reason", req.Reason, true),
		Metadata: f.metadata("metadata", req.Metadata),
	}
	switch {
	case req.Amount == nil:
		f.add("amount", "is required")
	case *req.Amount == 0 || *req.Amount > maxAmount || *req.Amount < -maxAmount:
		f.add("amount", "must be a non-zero integer between -%d and %d minor units", int64(maxAmount), int64(maxAmount))
	default:
		a.Amount = *req.Amount
	}
	return a, f.err()
}

type adjustPlan struct {
	caller auth.Caller
	cmd    Adjustment
	system uuid.UUID
}

// adjust plans a validated adjustment (the route admits admins only).
func (c *Commands) adjust(_ context.Context, caller auth.Caller, cmd Adjustment) (plan, error) {
	return &adjustPlan{caller: caller, cmd: cmd, system: c.systemWallet(cmd.Asset)}, nil
}

func (p *adjustPlan) need(n *needs) {
	n.lock(p.cmd.WalletID)
	if p.cmd.Amount > 0 {
		// Money enters the asset: its system wallet is created on first use, when the credit is to a user wallet
		// of the asset (a refused adjustment creates nothing). A batch that rolls back takes it back with it.
		n.systemWallet(p.system, p.cmd.Asset, p.cmd.WalletID)
		return
	}
	// A debit: money entered the asset before (only credits bring it in), so its system wallet exists.
	n.lock(p.system)
}

func (p *adjustPlan) decide(d *decision) (Result, error) {
	w, ok := d.wallet(p.cmd.WalletID)
	if !ok {
		return Result{}, eventstore.ErrWalletNotFound.Withf("wallet %s does not exist", p.cmd.WalletID)
	}
	if w.Kind == eventstore.KindSystem {
		return Result{}, ErrSystemWallet.Withf("adjust a user wallet; its counter-entry goes to the system wallet")
	}
	if w.Asset != p.cmd.Asset {
		return Result{}, eventstore.ErrAssetMismatch.Withf("wallet %s holds %s, not %s", w.ID, w.Asset, p.cmd.Asset)
	}
	if p.cmd.Amount < 0 && !p.caller.IsAdmin() {
		// Only reachable in process (the route admits admins only): an admin's correction is never blocked.
		if err := checkNotFrozen(w); err != nil {
			return Result{}, err
		}
	}
	if sys, ok := d.wallet(p.system); !ok || sys.Kind != eventstore.KindSystem {
		if bal, _ := d.balance(w.ID); p.cmd.Amount < 0 && bal.Available() < -p.cmd.Amount {
			// No money ever entered the asset, so the wallet holds none of it.
			return Result{}, eventstore.ErrInsufficientFunds.Withf("wallet %s has %d available, the operation needs %d",
				w.ID, bal.Available(), -p.cmd.Amount)
		}
		return Result{}, fmt.Errorf("system wallet %s of %s is missing or not a system wallet", p.system, p.cmd.Asset)
	}
	t := d.newTransaction(eventstore.KindAdjustment, p.cmd.Asset, p.cmd.Amount, p.cmd.Reason, p.cmd.Metadata,
		eventstore.Entry{WalletID: w.ID, Asset: p.cmd.Asset, Amount: p.cmd.Amount},
		eventstore.Entry{WalletID: p.system, Asset: p.cmd.Asset, Amount: -p.cmd.Amount})
	if err := d.post(&t); err != nil {
		return Result{}, err
	}
	return Result{Body: eventstore.ViewOf(t, d.isSystem), ID: t.ID}, nil
}
