package command

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/google/uuid"

	"github.com/agentic-commerce/wallet-ledger/eventstore"
	"github.com/agentic-commerce/wallet-ledger/internal/auth"
)

// Hold expiry: a hold that names no expiry lasts DefaultHoldTTL (or the maximum, if that is shorter).
const (
	DefaultHoldTTL    = 7 * 24 * time.Hour
	DefaultHoldMaxTTL = 30 * 24 * time.Hour
)

// SetHoldMaxTTL sets how far in the future a hold may expire (HOLD_MAX_TTL). Call it before serving.
func (c *Commands) SetHoldMaxTTL(d time.Duration) error {
	if d < time.Minute {
		return errors.New("command: HOLD_MAX_TTL must be at least 1m")
	}
	c.holdMaxTTL = d
	return nil
}

// CreateHoldRequest is the body of POST /v1/holds.
type CreateHoldRequest struct {
	WalletID    string          `json:"wallet_id"`
	Amount      *int64          `json:"amount"`
	Asset       string          `json:"asset"`
	ToWalletID  string          `json:"to_wallet_id"`
	ExpiresAt   *string         `json:"expires_at"`
	Description *string         `json:"description" nullable:"true"`
	Metadata    json.RawMessage `json:"metadata" nullable:"true"`
	MandateID   string          `json:"mandate_id"`
}

// CreateHold is a validated request to reserve part of a wallet's available balance.
type CreateHold struct {
	WalletID    uuid.UUID
	Amount      int64
	Asset       string
	ToWalletID  *uuid.UUID
	ExpiresAt   *time.Time // as requested; nil: DefaultHoldTTL from the write's time
	Description string
	Metadata    json.RawMessage
	MandateID   uuid.UUID
}

// ValidateCreateHold checks the request's fields. Whether the expiry lies in the future and within HOLD_MAX_TTL is
// decided in the write, against its own time, so a retry of a hold whose expiry has since passed still replays.
func (c *Commands) ValidateCreateHold(req CreateHoldRequest) (CreateHold, error) {
	var f fields
	h := CreateHold{
		WalletID:    f.walletID("wallet_id", req.WalletID),
		Amount:      f.positiveAmount("amount", req.Amount),
		Asset:       f.asset("asset", req.Asset),
		Description: f.text("description", req.Description, false),
		Metadata:    f.metadata("metadata", req.Metadata),
	}
	if req.ToWalletID != "" {
		to := f.walletID("to_wallet_id", req.ToWalletID)
		h.ToWalletID = &to
	}
	if req.MandateID != "" {
		h.MandateID = f.walletID("mandate_id", req.MandateID)
	}
	if req.ExpiresAt != nil {
		h.ExpiresAt = f.time("expires_at", *req.ExpiresAt)
	}
	if err := f.err(); err != nil {
		return CreateHold{}, err
	}
	if h.ToWalletID != nil && *h.ToWalletID == h.WalletID {
		return CreateHold{}, ErrSameWallet.Withf("wallet_id and to_wallet_id must differ")
	}
	return h, nil
}

// time parses an RFC 3339 time, to the microsecond PostgreSQL keeps.
func (f *fields) time(field, v string) *time.Time {
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		f.add(field, "must be an RFC 3339 time such as 2030-01-02T15:04:05Z")
		return nil
	}
	t = t.UTC().Truncate(time.Microsecond)
	return &t
}

// expiry settles when something a write creates ends: t, which must lie after now and at most maxAhead after it
// (maxAhead 0: no bound), or now+def when t is nil. The write calls it with its own time, so the refusal is the
// write's answer, stored under its key like any other.
func (f *fields) expiry(field string, t *time.Time, def, maxAhead time.Duration, now time.Time) time.Time {
	switch {
	case t == nil:
		return now.Add(def)
	case !t.After(now):
		f.add(field, "must be in the future")
	case maxAhead > 0 && t.Sub(now) > maxAhead:
		f.add(field, "must be at most %s from now", maxAhead)
	}
	return *t
}

type createHoldPlan struct {
	caller  auth.Caller
	cmd     CreateHold
	mandate spendMandate
	maxTTL  time.Duration
}

// createHold plans a validated hold.
func (c *Commands) createHold(_ context.Context, caller auth.Caller, cmd CreateHold) (plan, error) {
	return &createHoldPlan{caller: caller, cmd: cmd, mandate: spendMandate{named: cmd.MandateID}, maxTTL: c.holdMaxTTL}, nil
}

func (p *createHoldPlan) need(n *needs) {
	// Only the held wallet's balance changes; the destination is read, not locked.
	n.lock(p.cmd.WalletID)
	if p.cmd.ToWalletID != nil {
		n.read(*p.cmd.ToWalletID)
	}
	p.mandate.need(n, p.caller, p.cmd.WalletID)
}

func (p *createHoldPlan) decide(d *decision) (Result, error) {
	from, ok := d.wallet(p.cmd.WalletID)
	if !ok {
		return Result{}, walletNotFound(p.cmd.WalletID)
	}
	mandate, err := p.mandate.authorize(d, p.caller, from, p.cmd.ToWalletID, p.cmd.Amount)
	if err != nil {
		return Result{}, err
	}
	if err := checkNotFrozen(from); err != nil {
		return Result{}, err
	}
	if err := checkHoldParties(d, from, p.cmd.ToWalletID, p.cmd.Asset); err != nil {
		return Result{}, err
	}
	var f fields
	expires := f.expiry("expires_at", p.cmd.ExpiresAt, min(DefaultHoldTTL, p.maxTTL), p.maxTTL, d.now)
	if err := f.err(); err != nil {
		return Result{}, err
	}
	h := eventstore.Hold{
		ID: uuid.New(), WalletID: from.ID, Asset: p.cmd.Asset, ToWalletID: p.cmd.ToWalletID, Amount: p.cmd.Amount,
		Status: eventstore.HoldActive, ExpiresAt: expires, Sub: p.caller.Sub, Actor: p.caller.Actor, Description: p.cmd.Description,
		Metadata: p.cmd.Metadata, CreatedAt: d.now, UpdatedAt: d.now,
	}
	t := d.newTransaction(eventstore.KindHold, p.cmd.Asset, p.cmd.Amount, p.cmd.Description, p.cmd.Metadata,
		eventstore.Entry{WalletID: from.ID, Asset: p.cmd.Asset, Amount: -p.cmd.Amount},
		eventstore.Entry{WalletID: from.ID, Asset: p.cmd.Asset, Amount: p.cmd.Amount, Bucket: eventstore.BucketHeld})
	t.HoldID = &h.ID
	if mandate != nil {
		t.MandateID, h.MandateID, h.MandatePeriodStart = &mandate.ID, &mandate.ID, &mandate.PeriodStart
	}
	if err := d.post(&t); err != nil {
		return Result{}, err
	}
	saveSpend(d, mandate)
	h.TransactionID = t.ID
	d.insertHold(h)
	d.emit(eventstore.NewHoldEvent(eventstore.EventHoldCreated, h, t))
	return Result{Body: h.ViewAt(d.now), ID: h.ID}, nil
}

// checkHoldParties checks the held wallet and the destination (when named): user wallets of the hold's asset.
func checkHoldParties(d *decision, from eventstore.Wallet, to *uuid.UUID, asset string) error {
	if from.Kind == eventstore.KindSystem {
		return ErrSystemWallet.Withf("system wallets move money only through adjustments")
	}
	if from.Asset != asset {
		return eventstore.ErrAssetMismatch.Withf("wallet %s holds %s, not %s", from.ID, from.Asset, asset)
	}
	if to == nil {
		return nil
	}
	dest, ok := d.wallet(*to)
	switch {
	case !ok:
		return eventstore.ErrWalletNotFound.Withf("destination wallet %s does not exist", *to)
	case dest.Kind == eventstore.KindSystem:
		return ErrSystemWallet.Withf("system wallets move money only through adjustments")
	case dest.Asset != asset:
		return eventstore.ErrAssetMismatch.Withf("destination wallet %s holds %s, not %s", dest.ID, dest.Asset, asset)
	}
	return nil
}
