package command

import (
	"context"
	"encoding/json"

	"github.com/google/uuid"

	"github.com/agentic-commerce/wallet-ledger/eventstore"
	"github.com/agentic-commerce/wallet-ledger/internal/auth"
	"github.com/agentic-commerce/wallet-ledger/projector"
)

// CreateWalletRequest is the body of POST /v1/wallets.
type CreateWalletRequest struct {
	WalletID string          `json:"wallet_id"`
	Asset    string          `json:"asset"`
	Owner    string          `json:"owner"`
	Metadata json.RawMessage `json:"metadata" nullable:"true"`
}

// CreateWallet is a validated request to open a wallet.
type CreateWallet struct {
	WalletID uuid.UUID
	Asset    string
	Owner    string
	Metadata json.RawMessage
}

// ValidateCreateWallet checks the request and decides the owner: the caller, unless an admin names another.
func (c *Commands) ValidateCreateWallet(caller auth.Caller, req CreateWalletRequest) (CreateWallet, error) {
	var f fields
	cmd := CreateWallet{Asset: f.asset("asset", req.Asset), Metadata: f.metadata("metadata", req.Metadata), Owner: caller.Sub}
	if req.WalletID != "" {
		cmd.WalletID = f.walletID("wallet_id", req.WalletID)
	}
	if req.Owner != "" {
		cmd.Owner = f.owner("owner", req.Owner)
	}
	if err := f.err(); err != nil {
		return CreateWallet{}, err
	}
	if cmd.Owner != caller.Sub && !caller.IsAdmin() {
		return CreateWallet{}, ErrForbidden.Withf("only an admin may open a wallet for another owner")
	}
	// System wallet IDs are UUIDv5 values derived from SYSTEM_WALLET_ID; a caller could compute one and squat it.
	if cmd.WalletID != uuid.Nil && (cmd.WalletID.Version() == 5 || cmd.WalletID == c.systemWalletID) {
		return CreateWallet{}, ErrReservedWalletID.Withf("name-based (version 5) UUIDs are reserved for system wallets; omit wallet_id or use a random (version 4) UUID")
	}
	if cmd.WalletID == uuid.Nil {
		cmd.WalletID = uuid.New()
	}
	return cmd, nil
}

type createWalletPlan struct {
	caller auth.Caller
	cmd    CreateWallet
}

// createWallet plans a validated wallet creation.
func (c *Commands) createWallet(_ context.Context, caller auth.Caller, cmd CreateWallet) (plan, error) {
	return &createWalletPlan{caller: caller, cmd: cmd}, nil
}

// need reads the wallet ID, so that one already taken is refused on its own instead of failing the batch.
func (p *createWalletPlan) need(n *needs) { n.read(p.cmd.WalletID) }

func (p *createWalletPlan) decide(d *decision) (Result, error) {
	if _, taken := d.wallet(p.cmd.WalletID); taken {
		return Result{}, eventstore.ErrWalletExists.Withf("a wallet with this wallet_id already exists")
	}
	w := eventstore.Wallet{
		ID: p.cmd.WalletID, Asset: p.cmd.Asset, Owner: p.cmd.Owner, Kind: eventstore.KindUser,
		Metadata: p.cmd.Metadata, CreatedAt: d.now, Freeze: eventstore.Freeze{Status: eventstore.WalletActive},
	}
	d.createWallet(w)
	d.emit(eventstore.NewWalletEvent(w, p.caller.Sub))
	return Result{Body: projector.NewWalletView(w, projector.Balance{WalletID: w.ID, Asset: w.Asset, Kind: w.Kind}), ID: w.ID}, nil
}
