package command

import (
	"context"
	"encoding/json"

	"github.com/google/uuid"

	"github.com/agentic-commerce/wallet-ledger/eventstore"
	"github.com/agentic-commerce/wallet-ledger/internal/auth"
)

// TransferRequest is the body of POST /v1/transfers.
type TransferRequest struct {
	FromWalletID string          `json:"from_wallet_id"`
	ToWalletID   string          `json:"to_wallet_id"`
	Amount       *int64          `json:"amount"`
	Asset        string          `json:"asset"`
	Description  *string         `json:"description" nullable:"true"`
	Metadata     json.RawMessage `json:"metadata" nullable:"true"`
	MandateID    string          `json:"mandate_id"`
}

// Transfer is a validated request to move money between two wallets of one asset.
type Transfer struct {
	FromWalletID uuid.UUID
	ToWalletID   uuid.UUID
	Amount       int64
	Asset        string
	Description  string
	Metadata     json.RawMessage
	MandateID    uuid.UUID // uuid.Nil: the caller's own wallet, or its only active mandate on it
}

// ValidateTransfer checks the request's fields; what needs the database is checked in the transaction.
func ValidateTransfer(req TransferRequest) (Transfer, error) {
	var f fields
	t := Transfer{
		FromWalletID: f.walletID("from_wallet_id", req.FromWalletID),
		ToWalletID:   f.walletID("to_wallet_id", req.ToWalletID),
		Amount:       f.positiveAmount("amount", req.Amount),
		Asset:        f.asset("asset", req.Asset),
		Description:  f.text("description", req.Description, false),
		Metadata:     f.metadata("metadata", req.Metadata),
	}
	if req.MandateID != "" {
		t.MandateID = f.walletID("mandate_id", req.MandateID)
	}
	if err := f.err(); err != nil {
		return Transfer{}, err
	}
	if t.FromWalletID == t.ToWalletID {
		return Transfer{}, ErrSameWallet.Withf("from_wallet_id and to_wallet_id must differ")
	}
	return t, nil
}

type transferPlan struct {
	caller  auth.Caller
	cmd     Transfer
	mandate spendMandate
}

// transfer plans a validated transfer.
func (c *Commands) transfer(_ context.Context, caller auth.Caller, cmd Transfer) (plan, error) {
	return &transferPlan{caller: caller, cmd: cmd, mandate: spendMandate{named: cmd.MandateID}}, nil
}

func (p *transferPlan) need(n *needs) {
	n.lock(p.cmd.FromWalletID, p.cmd.ToWalletID)
	p.mandate.need(n, p.caller, p.cmd.FromWalletID)
}

func (p *transferPlan) decide(d *decision) (Result, error) {
	from, ok := d.wallet(p.cmd.FromWalletID)
	if !ok {
		return Result{}, walletNotFound(p.cmd.FromWalletID)
	}
	mandate, err := p.mandate.authorize(d, p.caller, from, &p.cmd.ToWalletID, p.cmd.Amount)
	if err != nil {
		return Result{}, err
	}
	if err := checkNotFrozen(from); err != nil {
		return Result{}, err
	}
	to, ok := d.wallet(p.cmd.ToWalletID)
	if !ok {
		return Result{}, eventstore.ErrWalletNotFound.Withf("destination wallet %s does not exist", p.cmd.ToWalletID)
	}
	if from.Kind == eventstore.KindSystem || to.Kind == eventstore.KindSystem {
		return Result{}, ErrSystemWallet.Withf("system wallets move money only through adjustments")
	}
	if from.Asset != p.cmd.Asset || to.Asset != p.cmd.Asset {
		return Result{}, eventstore.ErrAssetMismatch.Withf("the transfer is in %s but the wallets hold %s and %s", p.cmd.Asset, from.Asset, to.Asset)
	}
	t := d.newTransaction(eventstore.KindTransfer, p.cmd.Asset, p.cmd.Amount, p.cmd.Description, p.cmd.Metadata,
		eventstore.Entry{WalletID: from.ID, Asset: p.cmd.Asset, Amount: -p.cmd.Amount},
		eventstore.Entry{WalletID: to.ID, Asset: p.cmd.Asset, Amount: p.cmd.Amount})
	if mandate != nil {
		t.MandateID = &mandate.ID
	}
	if err := d.post(&t); err != nil {
		return Result{}, err
	}
	saveSpend(d, mandate)
	return Result{Body: eventstore.ViewOf(t, d.isSystem), ID: t.ID}, nil
}
