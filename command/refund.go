package command

import (
	"context"
	"errors"

	"github.com/google/uuid"

	"github.com/agentic-commerce/wallet-ledger/eventstore"
	"github.com/agentic-commerce/wallet-ledger/internal/auth"
)

// RefundRequest is the body of POST /v1/transactions/{id}/refunds.
type RefundRequest struct {
	Amount *int64  `json:"amount"`
	Reason *string `json:"reason"`
}

// Refund is a validated request to move money back along a transfer or a capture.
type Refund struct {
	TransactionID uuid.UUID
	Amount        *int64 // nil: everything not refunded yet
	Reason        string
}

// ValidateRefund checks the request's fields.
func ValidateRefund(id uuid.UUID, req RefundRequest) (Refund, error) {
	var f fields
	r := Refund{TransactionID: id, Reason: f.text("reason", req.Reason, true)}
	if req.Amount != nil {
		v := f.positiveAmount("amount", req.Amount)
		r.Amount = &v
	}
	return r, f.err()
}

type refundPlan struct {
	caller auth.Caller
	cmd    Refund

	// The original transaction is immutable: read before the batch, it says which wallets to lock.
	original eventstore.Transaction
	parties  []eventstore.Party
	found    bool
	payer    uuid.UUID
	payee    uuid.UUID
}

// refund plans moving money back along a transfer or capture. The total refunded never exceeds the original
// amount. A refund gives no spending room back to a mandate the original was spent under.
func (c *Commands) refund(ctx context.Context, caller auth.Caller, cmd Refund) (plan, error) {
	p := &refundPlan{caller: caller, cmd: cmd}
	t, parties, err := eventstore.GetTransaction(ctx, c.store.Pool(), cmd.TransactionID)
	switch {
	case err == nil:
		p.original, p.parties, p.found = t, parties, true
		v := eventstore.ViewOf(t, func(uuid.UUID) bool { return false })
		if v.FromWalletID != nil && v.ToWalletID != nil {
			p.payer, p.payee = *v.FromWalletID, *v.ToWalletID
		}
	case !errors.Is(err, eventstore.ErrTransactionNotFound):
		return nil, err
	}
	return p, nil
}

func (p *refundPlan) refundable() bool {
	return p.found && (p.original.Kind == eventstore.KindTransfer || p.original.Kind == eventstore.KindCapture) &&
		p.payer != uuid.Nil && p.payee != uuid.Nil
}

func (p *refundPlan) need(n *needs) {
	if !p.refundable() {
		return
	}
	// Every refund of the original debits its payee, so this lock serialises them: the sum read after it sees
	// every refund committed before, and two concurrent refunds cannot both fit in what is left.
	n.lock(p.payer, p.payee)
	n.refunded(p.original.ID)
}

// access says what the caller may do with the original: refund it (the payee's owner or an admin), only see it,
// or nothing.
func (p *refundPlan) access() (see, refund bool) {
	if p.caller.IsAdmin() {
		return true, true
	}
	see = p.original.Sub == p.caller.Sub
	for i, party := range p.parties {
		if party.Kind == eventstore.KindUser && party.Owner == p.caller.Sub {
			see = true
			if p.original.Entries[i].WalletID == p.payee {
				refund = true
			}
		}
	}
	return see, refund
}

func (p *refundPlan) decide(d *decision) (Result, error) {
	see, may := p.access()
	switch {
	case !p.found || !see:
		return Result{}, eventstore.ErrTransactionNotFound.Withf("transaction %s does not exist or is not visible to you", p.cmd.TransactionID)
	case !p.refundable():
		// Before the payee check: a transaction that is not a transfer or capture has no payee, so its own
		// parties would otherwise be told they may not refund what nobody can.
		return Result{}, ErrNotRefundable.Withf("transaction %s is a %s; only transfers and captures can be refunded", p.original.ID, p.original.Kind)
	case !may:
		return Result{}, ErrForbidden.Withf("only the receiving wallet's owner or an admin may refund")
	}
	// A refund moves money out of the payee's wallet: not while it is frozen. (The payer's may be: money comes in.)
	if payee, ok := d.wallet(p.payee); ok {
		if err := checkNotFrozen(payee); err != nil {
			return Result{}, err
		}
	}
	refunded := d.refundedSoFar(p.original.ID)
	left := p.original.Amount - refunded
	amount := left
	if p.cmd.Amount != nil {
		amount = *p.cmd.Amount
	}
	if amount > left || amount <= 0 {
		return Result{}, ErrRefundExceedsOriginal.Withf("transaction %s moved %d and %d of it is already refunded; at most %d can be refunded",
			p.original.ID, p.original.Amount, refunded, left)
	}
	t := d.newTransaction(eventstore.KindRefund, p.original.Asset, amount, p.cmd.Reason, nil,
		eventstore.Entry{WalletID: p.payee, Asset: p.original.Asset, Amount: -amount},
		eventstore.Entry{WalletID: p.payer, Asset: p.original.Asset, Amount: amount})
	t.RefundOf = &p.original.ID
	if err := d.post(&t); err != nil {
		return Result{}, err
	}
	return Result{Body: eventstore.ViewOf(t, d.isSystem), ID: t.ID}, nil
}
