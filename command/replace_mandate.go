package command

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/agentic-commerce/wallet-ledger/eventstore"
	"github.com/agentic-commerce/wallet-ledger/internal/auth"
)

// Safe replacement: POST /v1/mandates/{id}/replace with If-Match: "<version>" and a full new mandate. In one
// decision, under the old mandate's lock, the old one is revoked (deactivated_reason "replaced") and the new one
// granted, carrying what the old one spent and counted in the current period: no window exists in which both
// spend, and a replacement never resets a budget. What is carried beyond the new limits is clamped to them (no
// room left), never dropped.

// ReplaceMandate is a validated replacement: the mandate, the version its caller read, and the new terms.
type ReplaceMandate struct {
	MandateID uuid.UUID
	Version   int64
	Terms     GrantMandate
}

// ValidateReplaceMandate checks the If-Match precondition and the new terms. A replacement without If-Match is
// refused (428): it would replace whatever the mandate has become since its caller last read it.
func (c *Commands) ValidateReplaceMandate(in call, req GrantMandateRequest) (ReplaceMandate, error) {
	if in.ifMatch == nil {
		return ReplaceMandate{}, ErrPreconditionRequired.Withf(
			`a replacement needs If-Match: "<version>", the ETag of the mandate as you read it (GET /v1/mandates/%s)`, in.id)
	}
	version, err := parseVersionTag(*in.ifMatch)
	if err != nil {
		return ReplaceMandate{}, err
	}
	var f fields
	terms := f.mandateTerms(req)
	if err := f.err(); err != nil {
		return ReplaceMandate{}, err
	}
	return ReplaceMandate{MandateID: in.id, Version: version, Terms: terms}, nil
}

// parseVersionTag reads If-Match: one strong entity tag, "<version>". "*" names no version (428); anything else
// that is not a version, a weak tag included (If-Match compares strongly), can match none (412).
func parseVersionTag(v string) (int64, error) {
	v = strings.TrimSpace(v)
	if v == "*" {
		return 0, ErrPreconditionRequired.Withf(`If-Match: * names no version; send If-Match: "<version>" as GET returned it`)
	}
	digits, quoted := strings.CutPrefix(v, `"`)
	digits, closed := strings.CutSuffix(digits, `"`)
	n, err := strconv.ParseInt(digits, 10, 64)
	if !quoted || !closed || err != nil || n < 1 || digits != strconv.FormatInt(n, 10) {
		return 0, ErrVersionMismatch.Withf(`If-Match %q matches no version; send the ETag GET returned, such as "3"`, v)
	}
	return n, nil
}

type replaceMandatePlan struct {
	caller   auth.Caller
	cmd      ReplaceMandate
	walletID uuid.UUID // the old mandate's wallet, read before the batch (it never changes)
}

// replaceMandate plans a replacement by the wallet's owner or an admin.
func (c *Commands) replaceMandate(ctx context.Context, caller auth.Caller, cmd ReplaceMandate) (plan, error) {
	walletID, err := c.walletOfMandate(ctx, cmd.MandateID)
	if err != nil {
		return nil, err
	}
	return &replaceMandatePlan{caller: caller, cmd: cmd, walletID: walletID}, nil
}

func (p *replaceMandatePlan) need(n *needs) {
	// The old mandate's lock serialises the replacement with every spend under it.
	n.mandate(p.cmd.MandateID)
	if p.walletID != uuid.Nil {
		n.read(p.walletID)
	}
	n.read(p.cmd.Terms.AllowedDestinations...)
}

func (p *replaceMandatePlan) decide(d *decision) (Result, error) {
	old, ok := d.mandate(p.cmd.MandateID)
	if !ok {
		return Result{}, ErrMandateNotFound.Withf("mandate %s does not exist or is not yours", p.cmd.MandateID)
	}
	w, ok := d.wallet(old.WalletID)
	switch {
	case ok && canSpend(p.caller, w):
	case ok && holdsMandate(p.caller, old, w):
		return Result{}, ErrForbidden.Withf("only the wallet's owner or an admin may replace mandate %s", old.ID)
	default:
		return Result{}, ErrMandateNotFound.Withf("mandate %s does not exist or is not yours", p.cmd.MandateID)
	}
	if old.Version != p.cmd.Version {
		return Result{}, ErrVersionMismatch.Withf(`mandate %s is at version %d, not %d: read it again (its ETag is "%d") and decide anew`,
			old.ID, old.Version, p.cmd.Version, old.Version)
	}
	if old.Terminal(d.now) {
		return Result{}, ErrMandateInactive.Withf("mandate %s is %s and cannot be replaced; grant a new one", old.ID, old.StatusAt(d.now))
	}
	if p.cmd.Terms.Agent != old.Agent {
		return Result{}, invalidField("agent", "must be %q, the replaced mandate's agent; grant a new mandate for another agent", old.Agent)
	}
	m, err := newMandate(d, p.caller, w, p.cmd.Terms)
	if err != nil {
		return Result{}, err
	}
	carry(&m, old, d.now)
	now := d.now
	old.Status, old.DeactivatedReason, old.RevokedAt, old.RevokedBy = eventstore.MandateRevoked, eventstore.ReasonReplaced, &now, p.caller.Acting()
	d.saveMandate(old)
	d.grantMandate(m)
	replaced, _ := d.mandate(old.ID)
	ev := eventstore.NewMandateEvent(eventstore.EventMandateReplaced, replaced, p.caller.Sub, p.caller.Actor, d.now)
	ev.ReplacedBy = &m.ID
	d.emit(ev)
	d.emit(eventstore.NewMandateEvent(eventstore.EventMandateGranted, m, p.caller.Sub, p.caller.Actor, d.now))
	return Result{Body: m.ViewAt(d.now), ID: m.ID}, nil
}

// carry gives replacement m what old spent and counted in the current period, clamped to m's limits, and old's
// suspension: a replacement of a suspended mandate starts suspended (resume it to let the agent spend).
func carry(m *eventstore.Mandate, old eventstore.Mandate, now time.Time) {
	m.Replaces = &old.ID
	m.SpentInPeriod = old.SpentAt(now)
	if m.LimitAmount != nil {
		m.SpentInPeriod = min(m.SpentInPeriod, *m.LimitAmount)
	}
	m.TransactionsInPeriod = old.CountAt(now)
	if m.MaxTransactions != nil {
		m.TransactionsInPeriod = min(m.TransactionsInPeriod, *m.MaxTransactions)
	}
	if old.Status == eventstore.MandateSuspended {
		m.Status, m.DeactivatedReason = eventstore.MandateSuspended, eventstore.ReasonSuspended
	}
}
