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

// The representations of the journal's resources, shared by the write responses, the reads and the events, so a
// replayed 201, a later GET and an event describe a resource the same way.

// TransactionView is the JSON representation of a journal transaction, shared by the write responses and the
// reads so that a replayed 201 and a later GET describe a transaction the same way.
type TransactionView struct {
	TransactionID  uuid.UUID       `json:"transaction_id"`
	Kind           string          `json:"kind"`
	Position       int64           `json:"position"`
	Sub            string          `json:"sub"`
	Actor          *string         `json:"actor"`
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
		TransactionID: t.ID, Kind: t.Kind, Position: t.Position, Sub: t.Sub, Actor: nullable(t.Actor), IdempotencyKey: t.IdempotencyKey,
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

// HoldView is the JSON representation of a hold at one moment.
type HoldView struct {
	HoldID               uuid.UUID       `json:"hold_id"`
	WalletID             uuid.UUID       `json:"wallet_id"`
	ToWalletID           *uuid.UUID      `json:"to_wallet_id,omitempty"`
	Asset                string          `json:"asset"`
	Amount               int64           `json:"amount"`
	CapturedAmount       int64           `json:"captured_amount"`
	Status               string          `json:"status"`
	ExpiresAt            time.Time       `json:"expires_at"`
	Sub                  string          `json:"sub"`
	Actor                *string         `json:"actor"`
	MandateID            *uuid.UUID      `json:"mandate_id,omitempty"`
	Description          string          `json:"description,omitempty"`
	Metadata             json.RawMessage `json:"metadata"`
	TransactionID        uuid.UUID       `json:"transaction_id"`
	ReleaseTransactionID *uuid.UUID      `json:"release_transaction_id,omitempty"`
	CreatedAt            time.Time       `json:"created_at"`
	UpdatedAt            time.Time       `json:"updated_at"`
}

// ViewAt describes h as it stands at now.
func (h Hold) ViewAt(now time.Time) HoldView {
	status := h.Status
	if h.ExpiredAt(now) {
		status = HoldExpired
	}
	return HoldView{
		HoldID: h.ID, WalletID: h.WalletID, ToWalletID: h.ToWalletID, Asset: h.Asset, Amount: h.Amount,
		CapturedAmount: h.CapturedAmount, Status: status, ExpiresAt: h.ExpiresAt, Sub: h.Sub, Actor: nullable(h.Actor),
		MandateID:   h.MandateID,
		Description: h.Description, Metadata: metadataOrEmpty(h.Metadata), TransactionID: h.TransactionID,
		ReleaseTransactionID: h.ReleaseTransactionID, CreatedAt: h.CreatedAt, UpdatedAt: h.UpdatedAt,
	}
}

// LimitView is a mandate's spending limit.
type LimitView struct {
	Amount int64  `json:"amount"`
	Period string `json:"period"`
}

// CountLimitView is a mandate's cap on the number of spends per period.
type CountLimitView struct {
	Count  int64  `json:"count"`
	Period string `json:"period"`
}

// MandateView is the JSON representation of a mandate at one moment.
type MandateView struct {
	MandateID         uuid.UUID  `json:"mandate_id"`
	WalletID          uuid.UUID  `json:"wallet_id"`
	Asset             string     `json:"asset"`
	Agent             string     `json:"agent"`
	GrantedBy         string     `json:"granted_by"`
	Status            string     `json:"status"`
	DeactivatedReason string     `json:"deactivated_reason,omitempty"`
	Version           int64      `json:"version"`
	SingleUse         bool       `json:"single_use"`
	MaxPerTransaction *int64     `json:"max_per_transaction,omitempty"`
	Limit             *LimitView `json:"limit,omitempty"`
	// MaxTransactions is the cap on spends per period; TransactionsInPeriod counts the spends of its current
	// period (of the limit's period when there is no cap), and TransactionsRemaining what the cap still allows.
	MaxTransactions       *CountLimitView `json:"max_transactions,omitempty"`
	AllowedDestinations   []uuid.UUID     `json:"allowed_destinations,omitempty"`
	Description           string          `json:"description,omitempty"`
	SpentInPeriod         int64           `json:"spent_in_period"`
	Remaining             *int64          `json:"remaining,omitempty"`
	PeriodStart           time.Time       `json:"period_start"`
	TransactionsInPeriod  int64           `json:"transactions_in_period"`
	TransactionsRemaining *int64          `json:"transactions_remaining,omitempty"`
	Replaces              *uuid.UUID      `json:"replaces,omitempty"`
	ExpiresAt             time.Time       `json:"expires_at"`
	CreatedAt             time.Time       `json:"created_at"`
	RevokedAt             *time.Time      `json:"revoked_at,omitempty"`
	RevokedBy             string          `json:"revoked_by,omitempty"`
}

// ViewAt describes m as it stands at now.
func (m Mandate) ViewAt(now time.Time) MandateView {
	v := MandateView{
		MandateID: m.ID, WalletID: m.WalletID, Asset: m.Asset, Agent: m.Agent, GrantedBy: m.GrantedBy,
		Status: m.StatusAt(now), DeactivatedReason: m.ReasonAt(now), Version: m.Version, SingleUse: m.SingleUse,
		MaxPerTransaction: m.MaxPerTransaction, AllowedDestinations: m.AllowedDestinations,
		Description: m.Description, SpentInPeriod: m.SpentAt(now), PeriodStart: m.CurrentPeriod(now),
		TransactionsInPeriod: m.CountAt(now), Replaces: m.Replaces,
		ExpiresAt: m.ExpiresAt, CreatedAt: m.CreatedAt, RevokedAt: m.RevokedAt, RevokedBy: m.RevokedBy,
	}
	if m.LimitAmount != nil {
		v.Limit = &LimitView{Amount: *m.LimitAmount, Period: m.LimitPeriod}
		remaining := max(*m.LimitAmount-v.SpentInPeriod, 0)
		v.Remaining = &remaining
	}
	if m.MaxTransactions != nil {
		v.MaxTransactions = &CountLimitView{Count: *m.MaxTransactions, Period: m.MaxTransactionsPeriod}
		remaining := max(*m.MaxTransactions-v.TransactionsInPeriod, 0)
		v.TransactionsRemaining = &remaining
	}
	return v
}

// FreezeView is a wallet's status as its representation and the wallet.frozen and wallet.unfrozen events show
// it: frozen_reason, frozen_by and frozen_at are null while it is active.
type FreezeView struct {
	Status        string     `json:"status"`
	FrozenReason  *string    `json:"frozen_reason"`
	FrozenBy      *string    `json:"frozen_by"`
	FrozenAt      *time.Time `json:"frozen_at"`
	FrozenByAdmin bool       `json:"frozen_by_admin"`
}

// View describes f.
func (f Freeze) View() FreezeView {
	status := f.Status
	if status == "" {
		status = WalletActive // a wallet created in this batch: the column's default
	}
	return FreezeView{Status: status, FrozenReason: nullable(f.FrozenReason), FrozenBy: nullable(f.FrozenBy),
		FrozenAt: f.FrozenAt, FrozenByAdmin: f.FrozenByAdmin}
}
