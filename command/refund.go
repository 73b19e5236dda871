package command

import (
	"context"
	"errors"
	"net/http"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/agentic-commerce/wallet-ledger/eventstore"
	"github.com/agentic-commerce/wallet-ledger/internal/auth"
	"github.com/agentic-commerce/wallet-ledger/internal/httpapi"
	"github.com/agentic-commerce/wallet-ledger/internal/telemetry"
	"github.com/agentic-commerce/wallet-ledger/projector"
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
	c      *Commands
	caller auth.Caller
	idem   Idempotency
	cmd    Refund

	// The original transaction is immutable: read before the transaction, it says which wallets to lock.
	original eventstore.Transaction
	parties  []eventstore.Party
	found    bool
	payer    uuid.UUID
	payee    uuid.UUID

	balances map[uuid.UUID]projector.Balance
	refunded int64
	position int64
}

func (p *refundPlan) preRead(ctx context.Context) error {
	t, parties, err := eventstore.GetTransaction(ctx, p.c.store.Pool(), p.cmd.TransactionID)
	switch {
	case err == nil:
		p.original, p.parties, p.found = t, parties, true
		v := eventstore.ViewOf(t, func(uuid.UUID) bool { return false })
		if v.FromWalletID != nil && v.ToWalletID != nil {
			p.payer, p.payee = *v.FromWalletID, *v.ToWalletID
		}
		return nil
	case errors.Is(err, eventstore.ErrTransactionNotFound):
		return nil
	default:
		return err
	}
}

func (p *refundPlan) refundable() bool {
	return p.found && (p.original.Kind == eventstore.KindTransfer || p.original.Kind == eventstore.KindCapture) &&
		p.payer != uuid.Nil && p.payee != uuid.Nil
}

func (p *refundPlan) read(b *pgx.Batch) {
	if !p.refundable() {
		return
	}
	ids := []uuid.UUID{p.payer, p.payee}
	p.balances = make(map[uuid.UUID]projector.Balance, 2)
	// Every refund of the original debits its payee, so this lock serialises them: the sum read after it sees
	// every refund committed before, and two concurrent refunds cannot both fit in what is left.
	projector.QueueLock(b, ids, p.balances)
	eventstore.QueueRefundedSum(b, p.original.ID, &p.refunded)
	eventstore.QueueNextPosition(b, &p.position)
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

func (p *refundPlan) decide(b *pgx.Batch) (int, any, string, error) {
	now := p.c.now()
	see, may := p.access()
	switch {
	case !p.found || !see:
		return 0, nil, "", eventstore.Errorf(eventstore.ErrTransactionNotFound.Code, "transaction %s does not exist or is not visible to you", p.cmd.TransactionID)
	case !may:
		return 0, nil, "", httpapi.Errorf("forbidden", "only the receiving wallet's owner or an admin may refund")
	case !p.refundable():
		return 0, nil, "", eventstore.Errorf(codeNotRefundable, "transaction %s is a %s; only transfers and captures can be refunded", p.original.ID, p.original.Kind)
	}
	left := p.original.Amount - p.refunded
	amount := left
	if p.cmd.Amount != nil {
		amount = *p.cmd.Amount
	}
	if amount > left || amount <= 0 {
		return 0, nil, "", eventstore.Errorf(codeRefundExceedsOriginal, "transaction %s moved %d and %d of it is already refunded; at most %d can be refunded",
			p.original.ID, p.original.Amount, p.refunded, left)
	}
	t := eventstore.Transaction{
		ID: uuid.New(), Position: p.position, Kind: eventstore.KindRefund, Asset: p.original.Asset, Amount: amount,
		Sub: p.caller.Sub, IdempotencyKey: p.idem.Key, RequestHash: p.idem.Hash, Description: p.cmd.Reason,
		CreatedAt: now, RefundOf: &p.original.ID,
		Entries: []eventstore.Entry{
			{WalletID: p.payee, Asset: p.original.Asset, Amount: -amount},
			{WalletID: p.payer, Asset: p.original.Asset, Amount: amount},
		},
	}
	if err := p.c.post(b, t, p.balances); err != nil {
		return 0, nil, "", err
	}
	return http.StatusCreated, eventstore.ViewOf(t, p.c.isSystemIn(p.balances)), "/v1/transactions/" + t.ID.String(), nil
}

// Refund moves money back along a transfer or capture, under idem. The total refunded never exceeds the
// original amount. A refund gives no spending room back to a mandate the original was spent under.
func (c *Commands) Refund(ctx context.Context, caller auth.Caller, idem Idempotency, cmd Refund) (Outcome, error) {
	p := &refundPlan{c: c, caller: caller, idem: idem, cmd: cmd}
	if err := p.preRead(ctx); err != nil {
		return Outcome{}, err
	}
	out, err := c.execute(ctx, idem, "/v1/transactions/"+cmd.TransactionID.String()+"/refunds", p)
	if err == nil && !out.Replayed && !out.Problem {
		telemetry.RecordCommit(ctx, eventstore.KindRefund)
	}
	return out, err
}
