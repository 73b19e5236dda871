package command

import (
	"math"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/agentic-commerce/wallet-ledger/eventstore"
	"github.com/agentic-commerce/wallet-ledger/internal/auth"
)

// spendMandate is what a spend from a wallet reads about the mandates that could authorise it. The rows are
// locked FOR UPDATE in the write's first round trip, after the wallets' projections, so concurrent spends through
// one mandate run one after the other and each sees what the previous one charged: no number of concurrent
// requests can overspend.
type spendMandate struct {
	named    uuid.UUID // the request's mandate_id, or uuid.Nil
	locked   []eventstore.Mandate
	anyExist bool // the caller holds some mandate on the wallet, active or not
}

// queue queues the lock: the named mandate, or else the caller's active mandates on walletID.
func (s *spendMandate) queue(b *pgx.Batch, caller auth.Caller, walletID uuid.UUID) {
	if s.named == uuid.Nil && caller.IsAdmin() {
		return // an admin spends from any user wallet without a mandate
	}
	if s.named != uuid.Nil {
		eventstore.QueueLockMandate(b, s.named, &s.locked)
		if !caller.IsAdmin() {
			eventstore.QueueAgentHasMandates(b, walletID, caller.Sub, &s.anyExist)
		}
		return
	}
	eventstore.QueueLockAgentMandates(b, walletID, caller.Sub, &s.locked, &s.anyExist)
}

// authorize decides whether caller may spend amount from wallet from, towards dest (nil when a hold names no
// destination yet), and under which mandate. The owner and admins spend without a mandate unless they name one;
// anybody else needs an active mandate of theirs on the wallet: the named one, or their only active one. On
// success with a mandate, the returned copy has the amount charged to its current period; the caller stores it.
func (s *spendMandate) authorize(caller auth.Caller, from eventstore.Wallet, dest *uuid.UUID, amount int64, now time.Time) (*eventstore.Mandate, error) {
	if s.named == uuid.Nil && canSpend(caller, from) {
		return nil, nil
	}
	var m eventstore.Mandate
	switch {
	case s.named != uuid.Nil:
		if len(s.locked) != 1 || s.locked[0].Agent != caller.Sub || s.locked[0].WalletID != from.ID {
			if !canSpend(caller, from) && !s.anyExist {
				// Neither its owner nor holding any mandate on it, the caller may not know the wallet exists: answer
				// exactly as for a missing one, or naming any mandate_id would tell the two apart.
				return nil, walletNotFound(from.ID)
			}
			return nil, eventstore.Errorf(codeMandateNotFound, "mandate %s does not exist, is not yours or is not on wallet %s", s.named, from.ID)
		}
		m = s.locked[0]
	default:
		var active []eventstore.Mandate
		for _, c := range s.locked {
			if c.ActiveAt(now) {
				active = append(active, c)
			}
		}
		switch {
		case len(active) == 1:
			m = active[0]
		case len(active) > 1:
			return nil, eventstore.Errorf(codeMandateAmbiguous, "you hold %d active mandates on wallet %s; name one with mandate_id", len(active), from.ID)
		case s.anyExist:
			return nil, eventstore.Errorf(codeMandateInactive, "your mandates on wallet %s are revoked or expired", from.ID)
		default:
			return nil, walletNotFound(from.ID)
		}
	}
	if err := checkMandate(m, dest, now); err != nil {
		return nil, err
	}
	return charge(m, amount, now)
}

// walletNotFound is the one answer for a wallet that does not exist and for one the caller may not see.
func walletNotFound(id uuid.UUID) error {
	return eventstore.Errorf(eventstore.ErrWalletNotFound.Code, "wallet %s does not exist or is not yours", id)
}

// checkMandate checks what a mandate says about every use of it: active, and the destination allowed.
func checkMandate(m eventstore.Mandate, dest *uuid.UUID, now time.Time) error {
	if !m.ActiveAt(now) {
		return eventstore.Errorf(codeMandateInactive, "mandate %s is %s", m.ID, m.StatusAt(now))
	}
	if m.MaxPerTransaction == nil && m.LimitAmount == nil {
		// Only a mandate granted before caps were required can lack both; fail closed rather than read it as
		// unlimited.
		return eventstore.Errorf(codeMandateLimitExceeded, "mandate %s caps no spending; its owner must grant a capped one", m.ID)
	}
	if len(m.AllowedDestinations) > 0 {
		if dest == nil {
			return eventstore.Errorf(codeDestinationNotAllowed, "mandate %s allows only some destinations: name to_wallet_id", m.ID)
		}
		if !slices.Contains(m.AllowedDestinations, *dest) {
			return eventstore.Errorf(codeDestinationNotAllowed, "mandate %s does not allow paying wallet %s", m.ID, *dest)
		}
	}
	return nil
}

// charge checks amount against the mandate's limits and returns the mandate with it charged to the current
// period.
func charge(m eventstore.Mandate, amount int64, now time.Time) (*eventstore.Mandate, error) {
	if m.MaxPerTransaction != nil && amount > *m.MaxPerTransaction {
		return nil, eventstore.Errorf(codeMandateLimitExceeded, "mandate %s allows at most %d per transaction, not %d", m.ID, *m.MaxPerTransaction, amount)
	}
	spent := m.SpentAt(now)
	if m.LimitAmount != nil && amount > *m.LimitAmount-spent {
		return nil, eventstore.Errorf(codeMandateLimitExceeded, "mandate %s has %d left of its %d per %s, not %d",
			m.ID, max(*m.LimitAmount-spent, 0), *m.LimitAmount, m.LimitPeriod, amount)
	}
	m.PeriodStart = m.CurrentPeriod(now)
	// Without a limit the counter is only informative; it saturates rather than overflow.
	if spent > math.MaxInt64-amount {
		m.SpentInPeriod = math.MaxInt64
	} else {
		m.SpentInPeriod = spent + amount
	}
	return &m, nil
}

// giveBack returns amount of a hold's charge to its mandate when the hold is released in the period it was
// charged to; a charge of an earlier period is gone with that period. It reports whether m changed.
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
