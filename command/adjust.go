package command

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/agentic-commerce/wallet-ledger/eventstore"
	"github.com/agentic-commerce/wallet-ledger/internal/auth"
	"github.com/agentic-commerce/wallet-ledger/internal/telemetry"
	"github.com/agentic-commerce/wallet-ledger/projector"
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
	c        *Commands
	caller   auth.Caller
	idem     Idempotency
	cmd      Adjustment
	system   uuid.UUID
	wallets  map[uuid.UUID]eventstore.Wallet
	balances map[uuid.UUID]projector.Balance
	position int64
	now      time.Time
}

func (p *adjustPlan) read(b *pgx.Batch) {
	p.system = p.c.systemWallet(p.cmd.Asset)
	p.now = p.c.now()
	ids := []uuid.UUID{p.cmd.WalletID, p.system}
	p.wallets = make(map[uuid.UUID]eventstore.Wallet, 2)
	p.balances = make(map[uuid.UUID]projector.Balance, 2)
	// The asset's system wallet is created on first use; a rolled-back adjustment takes it back with it.
	eventstore.QueueEnsureSystemWallet(b, p.system, p.cmd.Asset, p.now)
	projector.QueueInit(b, p.system, p.cmd.Asset, eventstore.KindSystem, p.now)
	eventstore.QueueLoadWallets(b, ids, p.wallets)
	projector.QueueLock(b, ids, p.balances)
	eventstore.QueueNextPosition(b, &p.position)
}

func (p *adjustPlan) decide(b *pgx.Batch) (int, any, string, error) {
	w, ok := p.wallets[p.cmd.WalletID]
	if !ok {
		return 0, nil, "", eventstore.Errorf(eventstore.ErrWalletNotFound.Code, "wallet %s does not exist", p.cmd.WalletID)
	}
	if w.Kind == eventstore.KindSystem {
		return 0, nil, "", eventstore.Errorf("system_wallet", "adjust a user wallet; its counter-entry goes to the system wallet")
	}
	if w.Asset != p.cmd.Asset {
		return 0, nil, "", eventstore.Errorf(eventstore.ErrAssetMismatch.Code, "wallet %s holds %s, not %s", w.ID, w.Asset, p.cmd.Asset)
	}
	if sys, ok := p.wallets[p.system]; !ok || sys.Kind != eventstore.KindSystem {
		return 0, nil, "", fmt.Errorf("system wallet %s of %s is missing or not a system wallet", p.system, p.cmd.Asset)
	}
	t := eventstore.Transaction{
		ID: uuid.New(), Position: p.position, Kind: eventstore.KindAdjustment, Asset: p.cmd.Asset, Amount: p.cmd.Amount,
		Sub: p.caller.Sub, IdempotencyKey: p.idem.Key, RequestHash: p.idem.Hash, Description: p.cmd.Reason,
		Metadata: p.cmd.Metadata, CreatedAt: p.now,
		Entries: []eventstore.Entry{
			{WalletID: w.ID, Asset: p.cmd.Asset, Amount: p.cmd.Amount},
			{WalletID: p.system, Asset: p.cmd.Asset, Amount: -p.cmd.Amount},
		},
	}
	if err := p.c.post(b, t, p.balances); err != nil {
		return 0, nil, "", err
	}
	return http.StatusCreated, eventstore.ViewOf(t, p.c.isSystemIn(p.balances)), "/v1/transactions/" + t.ID.String(), nil
}

// Adjust credits or debits a wallet against its asset's system wallet under idem.
func (c *Commands) Adjust(ctx context.Context, caller auth.Caller, idem Idempotency, cmd Adjustment) (Outcome, error) {
	out, err := c.execute(ctx, idem, "/v1/adjustments", &adjustPlan{c: c, caller: caller, idem: idem, cmd: cmd})
	if err == nil && !out.Replayed && !out.Problem {
		telemetry.RecordCommit(ctx, eventstore.KindAdjustment)
	}
	return out, err
}
