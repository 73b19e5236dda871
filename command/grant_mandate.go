package command

import (
	"context"
	"net/http"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

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

// GrantMandateRequest is the body of POST /v1/wallets/{id}/mandates.
type GrantMandateRequest struct {
	Agent               string        `json:"agent"`
	MaxPerTransaction   *int64        `json:"max_per_transaction"`
	Limit               *LimitRequest `json:"limit"`
	AllowedDestinations []string      `json:"allowed_destinations"`
	ExpiresAt           *string       `json:"expires_at"`
	Description         *string       `json:"description" nullable:"true"`
}

// GrantMandate is a validated grant of spending rights on one wallet to an agent.
type GrantMandate struct {
	WalletID            uuid.UUID
	Agent               string
	MaxPerTransaction   *int64
	LimitAmount         *int64
	LimitPeriod         string
	AllowedDestinations []uuid.UUID
	ExpiresAt           *time.Time // required; whether it lies in the future is decided in the write
	Description         string
}

// ValidateGrantMandate checks the request's fields.
func (c *Commands) ValidateGrantMandate(walletID uuid.UUID, req GrantMandateRequest) (GrantMandate, error) {
	var f fields
	g := GrantMandate{WalletID: walletID, Description: f.text("description", req.Description, false)}
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
		switch req.Limit.Period {
		case eventstore.PeriodDay, eventstore.PeriodWeek, eventstore.PeriodMonth, eventstore.PeriodTotal:
			g.LimitPeriod = req.Limit.Period
		default:
			f.add("limit.period", "must be day, week, month or total")
		}
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
	return g, f.err()
}

type grantMandatePlan struct {
	c       *Commands
	caller  auth.Caller
	cmd     GrantMandate
	wallets map[uuid.UUID]eventstore.Wallet
}

func (p *grantMandatePlan) read(b *pgx.Batch) {
	p.wallets = make(map[uuid.UUID]eventstore.Wallet, 1+len(p.cmd.AllowedDestinations))
	eventstore.QueueLoadWallets(b, append([]uuid.UUID{p.cmd.WalletID}, p.cmd.AllowedDestinations...), p.wallets)
}

func (p *grantMandatePlan) decide(b *pgx.Batch) (int, any, string, error) {
	now := p.c.now()
	w, ok := p.wallets[p.cmd.WalletID]
	if !ok || w.Kind != eventstore.KindUser || !canSpend(p.caller, w) {
		return 0, nil, "", walletNotFound(p.cmd.WalletID)
	}
	var f fields
	if p.cmd.Agent == w.Owner {
		f.add("agent", "must differ from the wallet's owner, who spends without a mandate")
	}
	for _, d := range p.cmd.AllowedDestinations {
		dest, ok := p.wallets[d]
		if !ok || dest.Kind != eventstore.KindUser || dest.Asset != w.Asset || d == w.ID {
			f.add("allowed_destinations", "%s is not another user wallet of %s", d, w.Asset)
		}
	}
	expires := f.expiry("expires_at", p.cmd.ExpiresAt, 0, 0, now)
	if err := f.err(); err != nil {
		return 0, nil, "", err
	}
	m := eventstore.Mandate{
		ID: uuid.New(), WalletID: w.ID, Asset: w.Asset, Agent: p.cmd.Agent, GrantedBy: p.caller.Sub,
		MaxPerTransaction: p.cmd.MaxPerTransaction, LimitAmount: p.cmd.LimitAmount, LimitPeriod: p.cmd.LimitPeriod,
		AllowedDestinations: p.cmd.AllowedDestinations, Description: p.cmd.Description,
		Status: eventstore.MandateActive, ExpiresAt: expires, CreatedAt: now, UpdatedAt: now,
	}
	m.PeriodStart = m.CurrentPeriod(now)
	eventstore.QueueInsertMandate(b, m)
	if err := eventstore.QueueEvents(b, []eventstore.Event{eventstore.NewMandateEvent(eventstore.EventMandateGranted, m, p.caller.Sub, now)}, nil); err != nil {
		return 0, nil, "", err
	}
	return http.StatusCreated, m.ViewAt(now), "/v1/mandates/" + m.ID.String(), nil
}

// GrantMandate lets an agent spend from a wallet within limits, under idem. Only the wallet's owner or an admin
// may grant.
func (c *Commands) GrantMandate(ctx context.Context, caller auth.Caller, idem Idempotency, cmd GrantMandate) (Outcome, error) {
	return c.execute(ctx, idem, "/v1/wallets/"+cmd.WalletID.String()+"/mandates", &grantMandatePlan{c: c, caller: caller, cmd: cmd})
}
