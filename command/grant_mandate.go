package command

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/agentic-commerce/wallet-ledger/eventstore"
	"github.com/agentic-commerce/wallet-ledger/internal/auth"
)

// maxAllowedDestinations bounds a mandate's destination list.
const maxAllowedDestinations = 100

// LimitRequest is a mandate's spending limit per period.
type LimitRequest struct {
	Amount *int64 `json:"amount"`
	Period string `json:"period"`
}

// maxTransactionsCount bounds max_transactions.count.
const maxTransactionsCount = 1_000_000

// CountLimitRequest caps the number of spends per period.
type CountLimitRequest struct {
	Count  *int64 `json:"count"`
	Period string `json:"period"`
}

// GrantMandateRequest is the body of POST /v1/wallets/{id}/mandates, and of POST /v1/mandates/{id}/replace.
type GrantMandateRequest struct {
	Agent               string             `json:"agent"`
	MaxPerTransaction   *int64             `json:"max_per_transaction"`
	Limit               *LimitRequest      `json:"limit"`
	MaxTransactions     *CountLimitRequest `json:"max_transactions"`
	SingleUse           *bool              `json:"single_use"`
	AllowedDestinations []string           `json:"allowed_destinations"`
	ExpiresAt           *string            `json:"expires_at"`
	Description         *string            `json:"description" nullable:"true"`
}

// GrantMandate is a validated grant of spending rights on one wallet to an agent.
type GrantMandate struct {
	WalletID              uuid.UUID
	Agent                 string
	MaxPerTransaction     *int64
	LimitAmount           *int64
	LimitPeriod           string
	MaxTransactions       *int64
	MaxTransactionsPeriod string
	SingleUse             bool
	AllowedDestinations   []uuid.UUID
	ExpiresAt             *time.Time // required; whether it lies in the future is decided in the write
	Description           string
}

// ValidateGrantMandate checks the request's fields.
func (c *Commands) ValidateGrantMandate(walletID uuid.UUID, req GrantMandateRequest) (GrantMandate, error) {
	var f fields
	g := f.mandateTerms(req)
	g.WalletID = walletID
	return g, f.err()
}

// mandateTerms checks the terms of a mandate, as granted or as a replacement.
func (f *fields) mandateTerms(req GrantMandateRequest) GrantMandate {
	g := GrantMandate{Description: f.text("description", req.Description, false)}
	if req.Agent == "" {
		f.add("agent", "is required: the sub of the agent's tokens")
	} else {
		g.Agent = f.owner("agent", req.Agent)
	}
	if req.MaxPerTransaction != nil {
		v := f.positiveAmount("max_per_transaction", req.MaxPerTransaction)
		g.MaxPerTransaction = &v
	}
	if req.Limit != nil {
		v := f.positiveAmount("limit.amount", req.Limit.Amount)
		g.LimitAmount = &v
		g.LimitPeriod = f.period("limit.period", req.Limit.Period)
	}
	if req.MaxTransactions != nil {
		switch c := req.MaxTransactions.Count; {
		case c == nil:
			f.add("max_transactions.count", "is required")
		case *c < 1 || *c > maxTransactionsCount:
			f.add("max_transactions.count", "must be an integer from 1 to %d", maxTransactionsCount)
		default:
			g.MaxTransactions = c
		}
		g.MaxTransactionsPeriod = f.period("max_transactions.period", req.MaxTransactions.Period)
	}
	if req.SingleUse != nil {
		g.SingleUse = *req.SingleUse
	}
	if req.MaxPerTransaction == nil && req.Limit == nil {
		// Fail closed: a mandate that caps nothing would let its agent empty the wallet.
		f.add("max_per_transaction", "or limit (or both) is required: a mandate always caps spending")
	}
	switch {
	case req.AllowedDestinations != nil && len(req.AllowedDestinations) == 0:
		// An empty list can only be a mistake; read as "anywhere" it would lift the restriction it was meant to set.
		f.add("allowed_destinations", "must list at least one wallet; leave the field out to allow any destination")
	case len(req.AllowedDestinations) > maxAllowedDestinations:
		f.add("allowed_destinations", "must list at most %d wallets", maxAllowedDestinations)
	default:
		seen := map[uuid.UUID]bool{}
		for _, d := range req.AllowedDestinations {
			id := f.walletID("allowed_destinations", d)
			if id != uuid.Nil && !seen[id] {
				seen[id] = true
				g.AllowedDestinations = append(g.AllowedDestinations, id)
			}
		}
	}
	if req.ExpiresAt == nil {
		f.add("expires_at", "is required: a mandate always ends")
	} else {
		g.ExpiresAt = f.time("expires_at", *req.ExpiresAt)
	}
	return g
}

// period checks a limit's period: a UTC calendar day, week (from Monday) or month, or the mandate's whole life.
func (f *fields) period(field, v string) string {
	switch v {
	case eventstore.PeriodDay, eventstore.PeriodWeek, eventstore.PeriodMonth, eventstore.PeriodTotal:
		return v
	}
	f.add(field, "must be day, week, month or total")
	return ""
}

type grantMandatePlan struct {
	caller auth.Caller
	cmd    GrantMandate
}

// grantMandate plans a validated grant. Only the wallet's owner or an admin may grant.
func (c *Commands) grantMandate(_ context.Context, caller auth.Caller, cmd GrantMandate) (plan, error) {
	return &grantMandatePlan{caller: caller, cmd: cmd}, nil
}

func (p *grantMandatePlan) need(n *needs) {
	n.read(p.cmd.WalletID)
	n.read(p.cmd.AllowedDestinations...)
}

func (p *grantMandatePlan) decide(d *decision) (Result, error) {
	w, ok := d.wallet(p.cmd.WalletID)
	if !ok || w.Kind != eventstore.KindUser || !canSpend(p.caller, w) {
		return Result{}, walletNotFound(p.cmd.WalletID)
	}
	m, err := newMandate(d, p.caller, w, p.cmd)
	if err != nil {
		return Result{}, err
	}
	d.grantMandate(m)
	d.emit(eventstore.NewMandateEvent(eventstore.EventMandateGranted, m, p.caller.Sub, p.caller.Actor, d.now))
	return Result{Body: m.ViewAt(d.now), ID: m.ID}, nil
}

// newMandate checks terms against wallet w (the agent is not its owner, the destinations are other user wallets
// of its asset, the expiry lies ahead) and returns the mandate caller grants with them: active, at version 1,
// nothing spent yet.
func newMandate(d *decision, caller auth.Caller, w eventstore.Wallet, terms GrantMandate) (eventstore.Mandate, error) {
	var f fields
	if terms.Agent == w.Owner {
		f.add("agent", "must differ from the wallet's owner, who spends without a mandate")
	}
	for _, id := range terms.AllowedDestinations {
		dest, ok := d.wallet(id)
		if !ok || dest.Kind != eventstore.KindUser || dest.Asset != w.Asset || id == w.ID {
			f.add("allowed_destinations", "%s is not another user wallet of %s", id, w.Asset)
		}
	}
	expires := f.expiry("expires_at", terms.ExpiresAt, 0, 0, d.now)
	if err := f.err(); err != nil {
		return eventstore.Mandate{}, err
	}
	m := eventstore.Mandate{
		ID: uuid.New(), WalletID: w.ID, Asset: w.Asset, Agent: terms.Agent, GrantedBy: caller.Sub,
		MaxPerTransaction: terms.MaxPerTransaction, LimitAmount: terms.LimitAmount, LimitPeriod: terms.LimitPeriod,
		MaxTransactions: terms.MaxTransactions, MaxTransactionsPeriod: terms.MaxTransactionsPeriod,
		SingleUse: terms.SingleUse, AllowedDestinations: terms.AllowedDestinations, Description: terms.Description,
		Status: eventstore.MandateActive, Version: 1, ExpiresAt: expires, CreatedAt: d.now, UpdatedAt: d.now,
	}
	m.PeriodStart = m.CurrentPeriod(d.now)
	m.TransactionsPeriodStart = m.CurrentCountPeriod(d.now)
	return m, nil
}
