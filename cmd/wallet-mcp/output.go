package main

import (
	"encoding/json"
	"time"

	"github.com/agentic-commerce/wallet-ledger/client"
)

// The outputs are the client's types reshaped for a model: timestamps as RFC 3339 strings and metadata as an
// object, so the tools' output schemas are plain JSON.

// BalanceOutput is a wallet's balance.
type BalanceOutput struct {
	WalletID  string `json:"wallet_id"`
	Asset     string `json:"asset"`
	Balance   int64  `json:"balance" jsonschema:"total in minor units, held funds included"`
	Available int64  `json:"available" jsonschema:"what can be spent now, in minor units"`
	Held      int64  `json:"held" jsonschema:"reserved by holds, in minor units"`
	Version   int64  `json:"version"`
	UpdatedAt string `json:"updated_at"`
}

// WalletOutput is a wallet with its balances.
type WalletOutput struct {
	WalletID  string         `json:"wallet_id"`
	Asset     string         `json:"asset"`
	Owner     string         `json:"owner"`
	Kind      string         `json:"kind"`
	Balance   int64          `json:"balance"`
	Available int64          `json:"available"`
	Held      int64          `json:"held"`
	Metadata  map[string]any `json:"metadata,omitempty"`
	CreatedAt string         `json:"created_at"`
	Status    string         `json:"status" jsonschema:"active, or frozen: no money may leave it"`
	// FrozenReason and FrozenBy say why and by whom a frozen wallet was frozen.
	FrozenReason string `json:"frozen_reason,omitempty"`
	FrozenBy     string `json:"frozen_by,omitempty"`
}

// EntryOutput is one signed entry: debit negative, credit positive.
type EntryOutput struct {
	WalletID string `json:"wallet_id"`
	Asset    string `json:"asset"`
	Amount   int64  `json:"amount"`
	Bucket   string `json:"bucket,omitempty"`
}

// TransactionOutput is a journal transaction.
type TransactionOutput struct {
	TransactionID  string         `json:"transaction_id"`
	Kind           string         `json:"kind"`
	Position       int64          `json:"position"`
	Sub            string         `json:"sub"`
	Actor          string         `json:"actor,omitempty" jsonschema:"the agent that acted on behalf of sub, when one did"`
	IdempotencyKey string         `json:"idempotency_key"`
	Asset          string         `json:"asset"`
	Amount         int64          `json:"amount"`
	FromWalletID   string         `json:"from_wallet_id,omitempty"`
	ToWalletID     string         `json:"to_wallet_id,omitempty"`
	WalletID       string         `json:"wallet_id,omitempty"`
	Description    string         `json:"description,omitempty"`
	Reason         string         `json:"reason,omitempty"`
	MandateID      string         `json:"mandate_id,omitempty" jsonschema:"the mandate an agent spent under"`
	HoldID         string         `json:"hold_id,omitempty" jsonschema:"the hold a hold, capture, void or expiry belongs to"`
	RefundOf       string         `json:"refund_of,omitempty" jsonschema:"the transfer or capture this refund moves money back along"`
	Metadata       map[string]any `json:"metadata,omitempty"`
	Entries        []EntryOutput  `json:"entries"`
	CreatedAt      string         `json:"created_at"`
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

func object(raw json.RawMessage) map[string]any {
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	if len(m) == 0 {
		return nil
	}
	return m
}

func balanceOutput(b *client.Balance) BalanceOutput {
	return BalanceOutput{WalletID: b.WalletID, Asset: b.Asset, Balance: b.Balance, Available: b.Available,
		Held: b.Held, Version: b.Version, UpdatedAt: stamp(b.UpdatedAt)}
}

func walletOutput(w *client.Wallet) WalletOutput {
	return WalletOutput{WalletID: w.WalletID, Asset: w.Asset, Owner: w.Owner, Kind: w.Kind, Balance: w.Balance,
		Available: w.Available, Held: w.Held, Metadata: object(w.Metadata), CreatedAt: stamp(w.CreatedAt),
		Status: w.Status, FrozenReason: deref(w.FrozenReason), FrozenBy: deref(w.FrozenBy)}
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func transactionOutput(t *client.Transaction) TransactionOutput {
	out := TransactionOutput{TransactionID: t.TransactionID, Kind: t.Kind, Position: t.Position, Sub: t.Sub,
		IdempotencyKey: t.IdempotencyKey, Asset: t.Asset, Amount: t.Amount, FromWalletID: t.FromWalletID,
		ToWalletID: t.ToWalletID, WalletID: t.WalletID, Description: t.Description, Reason: t.Reason,
		MandateID: t.MandateID, HoldID: t.HoldID, RefundOf: t.RefundOf, Actor: deref(t.Actor),
		Metadata: object(t.Metadata), Entries: make([]EntryOutput, 0, len(t.Entries)), CreatedAt: stamp(t.CreatedAt)}
	for _, e := range t.Entries {
		out.Entries = append(out.Entries, EntryOutput(e))
	}
	return out
}
