package projector

import (
	"encoding/json"
	"time"

	"github.com/google/uuid"

	"github.com/agentic-commerce/wallet-ledger/eventstore"
)

// WalletView is the JSON representation of a wallet with its projected balance and its status (active or frozen).
type WalletView struct {
	WalletID  uuid.UUID       `json:"wallet_id"`
	Asset     string          `json:"asset"`
	Owner     string          `json:"owner"`
	Kind      string          `json:"kind"`
	Balance   int64           `json:"balance"`
	Available int64           `json:"available"`
	Held      int64           `json:"held"`
	Metadata  json.RawMessage `json:"metadata"`
	CreatedAt time.Time       `json:"created_at"`
	eventstore.FreezeView
}

// NewWalletView joins a wallet with its balance.
func NewWalletView(w eventstore.Wallet, b Balance) WalletView {
	meta := w.Metadata
	if len(meta) == 0 {
		meta = json.RawMessage(`{}`)
	}
	return WalletView{
		WalletID: w.ID, Asset: w.Asset, Owner: w.Owner, Kind: w.Kind,
		Balance: b.Balance, Available: b.Available(), Held: b.Held, Metadata: meta, CreatedAt: w.CreatedAt,
		FreezeView: w.Freeze.View(),
	}
}
