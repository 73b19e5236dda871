package command

import (
	"math"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/agentic-commerce/wallet-ledger/eventstore"
	"github.com/agentic-commerce/wallet-ledger/internal/auth"
)

// canSpend: a user spends from its own user wallets; an admin from any user wallet. An agent acting for the owner
// (a delegated token) never has the owner's authority: it spends only under a mandate.
func canSpend(caller auth.Caller, w eventstore.Wallet) bool {
	if w.Kind == eventstore.KindSystem {
		return caller.IsAdmin()
	}
	return caller.IsAdmin() || (w.Owner == caller.Sub && !caller.Delegated())
}

// mandatesFor returns the mandates caller holds on wallet w as an agent (Acting): a delegated caller only on the
// wallets of the sub it acts for, whoever else granted its actor a mandate.
func mandatesFor(d *decision, caller auth.Caller, w eventstore.Wallet) []eventstore.Mandate {
	if caller.Delegated() && w.Owner != caller.Sub {
		return nil
	}
	return d.mandatesOf(w.ID, caller.Acting())
}

// holdsMandate reports whether m is one caller holds as an agent on wallet w.
func holdsMandate(caller auth.Caller, m eventstore.Mandate, w eventstore.Wallet) bool {
	return m.Agent == caller.Acting() && m.WalletID == w.ID && (!caller.Delegated() || w.Owner == caller.Sub)
}

// spendMandate is how a spend from a wallet finds the mandate that authorises it. The mandates are locked FOR
// UPDATE with the batch's reads, after the wallets' projections, so concurrent spends through one mandate run
// one after the other (in one batch, in arrival order) and each sees what the previous one charged: no number of
// concurrent requests can overspend.
type spendMandate struct {
	named uuid.UUID // the request's mandate_id, or uuid.Nil
}

// need asks for the named mandate and, for a caller that is not an admin, every mandate it holds on walletID
// (whether it holds any decides what it may learn about the wallet).
func (s spendMandate) need(n *needs, caller auth.Caller, walletID uuid.UUID) {
	if s.named != uuid.Nil {
		n.mandate(s.named)
	}
	if !caller.IsAdmin() {
		n.agentMandates(walletID, caller.Acting())
	}
}

// authorize decides whether caller may spend amount from wallet from, towards dest (nil when a hold names no
// destination yet), and under which mandate. The owner and admins spend without a mandate unless they name one;
// anybody else needs an active mandate of theirs on the wallet: the named one, or their only active one. On
// success with a mandate, the returned copy has the amount charged to its current period; the caller saves it.
func (s spendMandate) authorize(d *decision, caller auth.Caller, from eventstore.Wallet, dest *uuid.UUID, amount int64) (*eventstore.Mandate, error) {
	if s.named == uuid.Nil && canSpend(caller, from) {
		return nil, nil
	}
	held := mandatesFor(d, caller, from)
	var m eventstore.Mandate
	if s.named != uuid.Nil {
		named, ok := d.mandate(s.named)
		if !ok || !holdsMandate(caller, named, from) {
			if !canSpend(caller, from) && len(held) == 0 {
				// Neither its owner nor holding any mandate on it, the caller may not know the wallet exists: answer
				// exactly as for a missing one, or naming any mandate_id would tell the two apart.
				return nil, walletNotFound(from.ID)
			}
			return nil, ErrMandateNotFound.Withf("mandate %s does not exist, is not yours or is not on wallet %s", s.named, from.ID)
		}
		m = named
	} else {
		var active []eventstore.Mandate
		for _, c := range held {
			if c.ActiveAt(d.now) {
				active = append(active, c)
			}
		}
		switch {
		case len(active) == 1:
			m = active[0]
		case len(active) > 1:
			return nil, ErrMandateAmbiguous.Withf("you hold %d active mandates on wallet %s; name one with mandate_id", len(active), from.ID)
		case len(held) > 0:
			return nil, ErrMandateInactive.Withf("none of your mandates on wallet %s is active (they are suspended, revoked, consumed or expired)", from.ID)
		default:
			return nil, walletNotFound(from.ID)
		}
	}
	if err := checkMandate(m, dest, d.now); err != nil {
		return nil, err
	}
	return charge(m, amount, d.now)
}

// walletNotFound is the one answer for a wallet that does not exist and for one the caller may not see.
func walletNotFound(id uuid.UUID) error {
	return eventstore.ErrWalletNotFound.Withf("wallet %s does not exist or is not yours", id)
}

// checkMandate checks what a mandate says about every use of it: active (not suspended, revoked, consumed or
// expired), and the destination allowed.
func checkMandate(m eventstore.Mandate, dest *uuid.UUID, now time.Time) error {
	if !m.ActiveAt(now) {
		return ErrMandateInactive.Withf("mandate %s is %s", m.ID, m.StatusAt(now))
	}
	if m.MaxPerTransaction == nil && m.LimitAmount == nil {
		// Only a mandate granted before caps were required can lack both; fail closed rather than read it as
		// unlimited.
		return ErrMandateLimitExceeded.Withf("mandate %s caps no spending; its owner must grant a capped one", m.ID)
	}
	if len(m.AllowedDestinations) > 0 {
		if dest == nil {
			return ErrDestinationNotAllowed.Withf("mandate %s allows only some destinations: name to_wallet_id", m.ID)
		}
		if !slices.Contains(m.AllowedDestinations, *dest) {
			return ErrDestinationNotAllowed.Withf("mandate %s does not allow paying wallet %s", m.ID, *dest)
		}
	}
	return nil
}

// charge checks one spend of amount against the mandate's limits (per transaction, per period, spends per
// period) and returns the mandate with it charged and counted in the current periods; a single-use mandate is
// consumed by it. The spend is a transfer or a hold's creation; a capture is not another spend.
func charge(m eventstore.Mandate, amount int64, now time.Time) (*eventstore.Mandate, error) {
	if m.MaxPerTransaction != nil && amount > *m.MaxPerTransaction {
		return nil, ErrMandateLimitExceeded.Withf("mandate %s allows at most %d per transaction, not %d", m.ID, *m.MaxPerTransaction, amount)
	}
	spent := m.SpentAt(now)
	if m.LimitAmount != nil && amount > *m.LimitAmount-spent {
		return nil, ErrMandateLimitExceeded.Withf("mandate %s has %d left of its %d per %s, not %d",
			m.ID, max(*m.LimitAmount-spent, 0), *m.LimitAmount, m.LimitPeriod, amount)
	}
	count := m.CountAt(now)
	if m.MaxTransactions != nil && count >= *m.MaxTransactions {
		return nil, ErrMandateLimitExceeded.Withf("mandate %s allows %d spends per %s and all are made",
			m.ID, *m.MaxTransactions, m.MaxTransactionsPeriod)
	}
	// Without a limit the counters are only informative; they saturate rather than overflow.
	m.PeriodStart, m.SpentInPeriod = m.CurrentPeriod(now), saturatingAdd(spent, amount)
	m.TransactionsPeriodStart, m.TransactionsInPeriod = m.CurrentCountPeriod(now), saturatingAdd(count, 1)
	if m.SingleUse {
		m.Status, m.DeactivatedReason = eventstore.MandateConsumed, eventstore.ReasonConsumed
	}
	return &m, nil
}

func saturatingAdd(a, b int64) int64 {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

// saveSpend records a spend charged to m by charge: its new counters and, when the spend consumed a single-use
// mandate, the mandate.consumed event.
func saveSpend(d *decision, m *eventstore.Mandate) {
	if m == nil {
		return
	}
	d.saveMandate(*m)
	if m.Status == eventstore.MandateConsumed {
		saved, _ := d.mandate(m.ID)
		d.emit(eventstore.NewMandateEvent(eventstore.EventMandateConsumed, saved, d.job.caller.Sub, d.job.caller.Actor, d.now))
	}
}

// checkNotFrozen refuses a movement of money out of a frozen wallet. Money may still come in, and holds on it are
// still voided and expired back into it.
func checkNotFrozen(w eventstore.Wallet) error {
	if w.Frozen() {
		return ErrWalletFrozen.Withf("wallet %s is frozen (%s): no money may leave it until it is unfrozen", w.ID, w.FrozenReason)
	}
	return nil
}

// giveBack returns amount of a hold's charge to its mandate when the hold is released in the period it was
// charged to; a charge of an earlier period is gone with that period. It reports whether m changed. The spend
// stays counted (max_transactions) and a single-use mandate stays consumed: the hold's creation was the use the
// mandate allowed, and what became of the hold does not make it unused (fail closed).
func giveBack(m *eventstore.Mandate, chargedPeriod *time.Time, amount int64, now time.Time) bool {
	if chargedPeriod == nil || amount <= 0 {
		return false
	}
	current := m.CurrentPeriod(now)
	if !m.PeriodStart.Equal(current) || !chargedPeriod.Equal(current) {
		return false
	}
	m.SpentInPeriod = max(m.SpentInPeriod-amount, 0)
	return true
}
