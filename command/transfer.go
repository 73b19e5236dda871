package command

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/agentic-commerce/wallet-ledger/eventstore"
	"github.com/agentic-commerce/wallet-ledger/internal/auth"
	"github.com/agentic-commerce/wallet-ledger/internal/telemetry"
	"github.com/agentic-commerce/wallet-ledger/projector"
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
		return Transfer{}, eventstore.Errorf("same_wallet", "from_wallet_id and to_wallet_id must differ")
	}
	return t, nil
}

type transferPlan struct {
	c        *Commands
	caller   auth.Caller
	idem     Idempotency
	cmd      Transfer
	wallets  map[uuid.UUID]eventstore.Wallet
	balances map[uuid.UUID]projector.Balance
	mandate  spendMandate
	position int64
}

func (p *transferPlan) read(b *pgx.Batch) {
	ids := []uuid.UUID{p.cmd.FromWalletID, p.cmd.ToWalletID}
	p.wallets = make(map[uuid.UUID]eventstore.Wallet, 2)
	p.balances = make(map[uuid.UUID]projector.Balance, 2)
	eventstore.QueueLoadWallets(b, ids, p.wallets)
	projector.QueueLock(b, ids, p.balances)
	p.mandate.named = p.cmd.MandateID
	p.mandate.queue(b, p.caller, p.cmd.FromWalletID)
	eventstore.QueueNextPosition(b, &p.position)
}

func (p *transferPlan) decide(b *pgx.Batch) (int, any, string, error) {
	now := p.c.now()
	from, ok := p.wallets[p.cmd.FromWalletID]
	if !ok {
		return 0, nil, "", walletNotFound(p.cmd.FromWalletID)
	}
	mandate, err := p.mandate.authorize(p.caller, from, &p.cmd.ToWalletID, p.cmd.Amount, now)
	if err != nil {
		return 0, nil, "", err
	}
	to, ok := p.wallets[p.cmd.ToWalletID]
	if !ok {
		return 0, nil, "", eventstore.Errorf(eventstore.ErrWalletNotFound.Code, "destination wallet %s does not exist", p.cmd.ToWalletID)
	}
	if from.Kind == eventstore.KindSystem || to.Kind == eventstore.KindSystem {
		return 0, nil, "", eventstore.Errorf("system_wallet", "system wallets move money only through adjustments")
	}
	if from.Asset != p.cmd.Asset || to.Asset != p.cmd.Asset {
		return 0, nil, "", eventstore.Errorf(eventstore.ErrAssetMismatch.Code,
			"the transfer is in %s but the wallets hold %s and %s", p.cmd.Asset, from.Asset, to.Asset)
	}
	entries := []eventstore.Entry{
		{WalletID: from.ID, Asset: p.cmd.Asset, Amount: -p.cmd.Amount},
		{WalletID: to.ID, Asset: p.cmd.Asset, Amount: p.cmd.Amount},
	}
	t := eventstore.Transaction{
		ID: uuid.New(), Position: p.position, Kind: eventstore.KindTransfer, Asset: p.cmd.Asset, Amount: p.cmd.Amount,
		Sub: p.caller.Sub, IdempotencyKey: p.idem.Key, RequestHash: p.idem.Hash, Description: p.cmd.Description,
		Metadata: p.cmd.Metadata, CreatedAt: now, Entries: entries,
	}
	if mandate != nil {
		t.MandateID = &mandate.ID
		eventstore.QueueUpdateMandateSpend(b, *mandate, now)
	}
	if err := p.c.post(b, t, p.balances); err != nil {
		return 0, nil, "", err
	}
	return http.StatusCreated, eventstore.ViewOf(t, p.c.isSystemIn(p.balances)), "/v1/transactions/" + t.ID.String(), nil
}

// Transfer moves money under idem.
func (c *Commands) Transfer(ctx context.Context, caller auth.Caller, idem Idempotency, cmd Transfer) (Outcome, error) {
	out, err := c.execute(ctx, idem, "/v1/transfers", &transferPlan{c: c, caller: caller, idem: idem, cmd: cmd})
	if err == nil && !out.Replayed && !out.Problem {
		telemetry.RecordCommit(ctx, eventstore.KindTransfer)
	}
	return out, err
}

// canSpend: a user spends from its own user wallets; an admin from any user wallet.
func canSpend(caller auth.Caller, w eventstore.Wallet) bool {
	if w.Kind == eventstore.KindSystem {
		return caller.IsAdmin()
	}
	return caller.IsAdmin() || w.Owner == caller.Sub
}

// post checks t's entries against the locked balances and queues the journal append, the projection update and
// the transaction's outbox event: the three commit together.
func (c *Commands) post(b *pgx.Batch, t eventstore.Transaction, locked map[uuid.UUID]projector.Balance) error {
	deltas, err := projector.Deltas(t.Entries)
	if err != nil {
		return err
	}
	if err := projector.Check(locked, deltas); err != nil {
		return err
	}
	eventstore.QueueAppend(b, t)
	projector.QueueApply(b, deltas, t.CreatedAt)
	return eventstore.QueueEvents(b, []eventstore.Event{eventstore.NewTransactionEvent(t)}, nil)
}

func (c *Commands) isSystemIn(balances map[uuid.UUID]projector.Balance) func(uuid.UUID) bool {
	return func(id uuid.UUID) bool { return balances[id].Kind == eventstore.KindSystem }
}
