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
	KindHold       = "hold"
	KindCapture    = "capture"
	KindVoid       = "void"
	KindExpire     = "expire"
	KindRefund     = "refund"
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
	MandateID      *uuid.UUID      `json:"mandate_id,omitempty"`
	HoldID         *uuid.UUID      `json:"hold_id,omitempty"`
	RefundOf       *uuid.UUID      `json:"refund_of,omitempty"`
	Entries        []Entry         `json:"entries"`
	CreatedAt      time.Time       `json:"created_at"`
}

// ViewOf derives the representation of t. The parties of a transfer are the debited and the credited wallet; the
// subject of an adjustment is the wallet that is not a system wallet, named by systemWallet.
func ViewOf(t Transaction, isSystem func(uuid.UUID) bool) TransactionView {
	v := TransactionView{
		TransactionID: t.ID, Kind: t.Kind, Position: t.Position, Sub: t.Sub, IdempotencyKey: t.IdempotencyKey,
		Asset: t.Asset, Amount: t.Amount, Metadata: metadataOrEmpty(t.Metadata), Entries: t.Entries,
		CreatedAt: t.CreatedAt, MandateID: t.MandateID, HoldID: t.HoldID, RefundOf: t.RefundOf,
	}
	switch t.Kind {
	case KindHold, KindVoid, KindExpire:
		// Money moves between the available and held parts of one wallet.
		v.Description = t.Description
		if len(t.Entries) > 0 {
			id := t.Entries[0].WalletID
			v.WalletID = &id
		}
	case KindTransfer, KindCapture, KindRefund:
		if t.Kind == KindRefund {
			v.Reason = t.Description
		} else {
			v.Description = t.Description
		}
		// A capture also credits the held wallet with what it releases: the destination is the other wallet.
		for _, e := range t.Entries {
			id := e.WalletID
			if e.Amount < 0 && v.FromWalletID == nil {
				v.FromWalletID = &id
			}
			if e.Amount > 0 && v.ToWalletID == nil && (v.FromWalletID == nil || *v.FromWalletID != id) {
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
