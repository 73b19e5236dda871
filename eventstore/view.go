package eventstore

import (
	"encoding/json"
	"time"

	"github.com/google/uuid"
)

// Transaction kinds.
const (
	KindTransfer   = "transfer"
	KindAdjustment = "adjustment"
)

// TransactionView is the JSON representation of a journal transaction, shared by the write responses and the
// reads so that a replayed 201 and a later GET describe a transaction the same way.
type TransactionView struct {
	TransactionID  uuid.UUID       `json:"transaction_id"`
	Kind           string          `json:"kind"`
	Position       int64           `json:"position"`
	Sub            string          `json:"sub"`
	IdempotencyKey string          `json:"idempotency_key"`
	Asset          string          `json:"asset"`
	Amount         int64           `json:"amount"`
	FromWalletID   *uuid.UUID      `json:"from_wallet_id,omitempty"`
	ToWalletID     *uuid.UUID      `json:"to_wallet_id,omitempty"`
	WalletID       *uuid.UUID      `json:"wallet_id,omitempty"`
	Description    string          `json:"description,omitempty"`
	Reason         string          `json:"reason,omitempty"`
	Metadata       json.RawMessage `json:"metadata"`
	Entries        []Entry         `json:"entries"`
	CreatedAt      time.Time       `json:"created_at"`
}

// ViewOf derives the representation of t. The parties of a transfer are the debited and the credited wallet; the
// subject of an adjustment is the wallet that is not a system wallet, named by systemWallet.
func ViewOf(t Transaction, isSystem func(uuid.UUID) bool) TransactionView {
	v := TransactionView{
		TransactionID: t.ID, Kind: t.Kind, Position: t.Position, Sub: t.Sub, IdempotencyKey: t.IdempotencyKey,
		Asset: t.Asset, Amount: t.Amount, Metadata: metadataOrEmpty(t.Metadata), Entries: t.Entries,
		CreatedAt: t.CreatedAt,
	}
	switch t.Kind {
	case KindTransfer:
		v.Description = t.Description
		for _, e := range t.Entries {
			id := e.WalletID
			if e.Amount < 0 && v.FromWalletID == nil {
				v.FromWalletID = &id
			}
			if e.Amount > 0 && v.ToWalletID == nil {
				v.ToWalletID = &id
			}
		}
	case KindAdjustment:
		v.Reason = t.Description
		for _, e := range t.Entries {
			if !isSystem(e.WalletID) {
				id := e.WalletID
				v.WalletID = &id
			}
		}
	default:
		v.Description = t.Description
	}
	return v
}
