package command

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/agentic-commerce/wallet-ledger/eventstore"
	"github.com/agentic-commerce/wallet-ledger/internal/auth"
	"github.com/agentic-commerce/wallet-ledger/internal/httpapi"
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
		return CreateWallet{}, httpapi.Errorf("forbidden", "only an admin may open a wallet for another owner")
	}
	// System wallet IDs are UUIDv5 values derived from SYSTEM_WALLET_ID; a caller could compute one and squat it.
	if cmd.WalletID != uuid.Nil && (cmd.WalletID.Version() == 5 || cmd.WalletID == c.systemWalletID) {
		return CreateWallet{}, eventstore.Errorf("reserved_wallet_id", "name-based (version 5) UUIDs are reserved for system wallets; omit wallet_id or use a random (version 4) UUID")
	}
	if cmd.WalletID == uuid.Nil {
		cmd.WalletID = uuid.New()
	}
	return cmd, nil
}

type createWalletPlan struct {
	c      *Commands
	caller auth.Caller
	cmd    CreateWallet
}

func (p *createWalletPlan) read(*pgx.Batch) {}

func (p *createWalletPlan) decide(b *pgx.Batch) (int, any, string, error) {
	w := eventstore.Wallet{
		ID: p.cmd.WalletID, Asset: p.cmd.Asset, Owner: p.cmd.Owner, Kind: eventstore.KindUser,
		Metadata: p.cmd.Metadata, CreatedAt: p.c.now(),
	}
	eventstore.QueueInsertWallet(b, w)
	projector.QueueInit(b, w.ID, w.Asset, w.Kind, w.CreatedAt)
	if err := eventstore.QueueEvents(b, []eventstore.Event{eventstore.NewWalletEvent(w, p.caller.Sub)}, nil); err != nil {
		return 0, nil, "", err
	}
	view := projector.NewWalletView(w, projector.Balance{WalletID: w.ID, Asset: w.Asset, Kind: w.Kind})
	return http.StatusCreated, view, "/v1/wallets/" + w.ID.String(), nil
}

// CreateWallet opens a wallet under idem.
func (c *Commands) CreateWallet(ctx context.Context, caller auth.Caller, idem Idempotency, cmd CreateWallet) (Outcome, error) {
	return c.execute(ctx, idem, "/v1/wallets", &createWalletPlan{c: c, caller: caller, cmd: cmd})
}
