package command

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentic-commerce/wallet-ledger/eventstore"
	"github.com/agentic-commerce/wallet-ledger/internal/auth"
)

// The mandate lifecycle (issue 15), in process: suspend, resume, revoke, single use, count limits.

// grantTo grants agent a mandate on wallet as alice with terms (an expiry a day ahead unless set) and returns its ID.
func (l *ledger) grantTo(wallet uuid.UUID, terms GrantMandate) uuid.UUID {
	l.t.Helper()
	terms.WalletID = wallet
	if terms.Agent == "" {
		terms.Agent = agent.Sub
	}
	if terms.ExpiresAt == nil {
		terms.ExpiresAt = ptr(l.c.now().Add(24 * time.Hour))
	}
	m := bodyOf(l.t)(l.c.GrantMandate.Run(context.Background(), alice, idem(alice), terms))
	return uuid.MustParse(m["mandate_id"].(string))
}

// mandateRow reads a mandate as stored.
func (l *ledger) mandateRow(id uuid.UUID) eventstore.Mandate {
	l.t.Helper()
	m, err := eventstore.GetMandate(context.Background(), l.pool, id)
	require.NoError(l.t, err)
	return m
}

func (l *ledger) events(typ string) int {
	l.t.Helper()
	var n int
	require.NoError(l.t, l.pool.QueryRow(context.Background(), `SELECT count(*) FROM outbox_events WHERE metadata->>'event_type' = $1`, typ).Scan(&n))
	return n
}

// A suspended mandate refuses spends and keeps its room; resumed, it spends again. Every change is a new
// version and an event. Revoked is terminal.
func TestSuspendResumeRevoke(t *testing.T) {
	l := newLedger(t)
	wallet, shop := l.wallet(alice, "USD"), l.wallet(bob, "USD")
	l.fund(wallet, "USD", 1_000)
	mid := l.grantTo(wallet, GrantMandate{LimitAmount: ptr[int64](100), LimitPeriod: eventstore.PeriodTotal})
	bodyOf(t)(l.transfer(agent, wallet, shop, 30))
	assert.EqualValues(t, 2, l.mandateRow(mid).Version, "granted at 1, one spend")

	run := func(u *UseCase[SuspendMandateRequest, uuid.UUID], caller auth.Caller) (Outcome, error) {
		return u.Run(context.Background(), caller, idem(caller), mid)
	}
	s := bodyOf(t)(run(l.c.SuspendMandate, agent))
	assert.Equal(t, "suspended", s["status"])
	assert.Equal(t, "suspended", s["deactivated_reason"])
	assert.EqualValues(t, 3, s["version"])
	assert.Equal(t, "mandate_inactive", codeOf(t)(l.transfer(agent, wallet, shop, 1)))
	assert.EqualValues(t, 3, bodyOf(t)(run(l.c.SuspendMandate, alice))["version"], "suspending a suspended mandate changes nothing")
	assert.Equal(t, "forbidden", codeOf(t)(l.c.ResumeMandate.Run(context.Background(), agent, idem(agent), mid)), "the agent may not resume itself")
	assert.Equal(t, "mandate_not_found", codeOf(t)(l.c.ResumeMandate.Run(context.Background(), bob, idem(bob), mid)))
	r := bodyOf(t)(l.c.ResumeMandate.Run(context.Background(), alice, idem(alice), mid))
	assert.Equal(t, "active", r["status"])
	assert.Nil(t, r["deactivated_reason"])
	assert.EqualValues(t, 70, r["remaining"], "the room was kept")
	bodyOf(t)(l.transfer(agent, wallet, shop, 70))
	assert.Equal(t, "mandate_limit_exceeded", codeOf(t)(l.transfer(agent, wallet, shop, 1)))

	rv := bodyOf(t)(l.c.RevokeMandate.Run(context.Background(), agent, idem(agent), mid))
	assert.Equal(t, "revoked", rv["status"])
	assert.Equal(t, "renounced", rv["deactivated_reason"], "its agent gave it up")
	assert.Equal(t, "agent-7", rv["revoked_by"])
	assert.Equal(t, "revoked", bodyOf(t)(run(l.c.SuspendMandate, alice))["status"], "stopping a stopped mandate answers it as it is")
	assert.Equal(t, "mandate_inactive", codeOf(t)(l.c.ResumeMandate.Run(context.Background(), alice, idem(alice), mid)), "revoked is terminal")
	m := l.mandateRow(mid)
	assert.EqualValues(t, 6, m.Version, "grant, spend, suspend, resume, spend, revoke")
	assert.Equal(t, 1, l.events(eventstore.EventMandateSuspended))
	assert.Equal(t, 1, l.events(eventstore.EventMandateResumed))
	assert.Equal(t, 1, l.events(eventstore.EventMandateRevoked))
	l.consistent()
}

// Single use: of 40 spends in one batch exactly one wins and consumes the mandate; the rest answer
// mandate_inactive. The consuming hold can still be captured by its agent; voiding gives no use back.
func TestSingleUseInOneBatch(t *testing.T) {
	l := newLedger(t)
	wallet, shop := l.wallet(alice, "USD"), l.wallet(bob, "USD")
	l.fund(wallet, "USD", 10_000)
	mid := l.grantTo(wallet, GrantMandate{MaxPerTransaction: ptr[int64](100), SingleUse: true})
	var jobs []*job
	for range 40 {
		jobs = append(jobs, l.transferJob(agent, wallet, shop, 10))
	}
	won := 0
	for i, a := range l.together(jobs...) {
		require.NoError(t, a.err)
		switch a.out.Status {
		case http.StatusCreated:
			won++
		case http.StatusForbidden:
			assert.Contains(t, string(a.out.Body), "mandate_inactive", "write %d", i)
		default:
			t.Fatalf("write %d: %d %s", i, a.out.Status, a.out.Body)
		}
	}
	assert.Equal(t, 1, won)
	m := l.mandateRow(mid)
	assert.Equal(t, eventstore.MandateConsumed, m.Status)
	assert.Equal(t, eventstore.ReasonConsumed, m.DeactivatedReason)
	assert.EqualValues(t, 1, m.TransactionsInPeriod)
	assert.Equal(t, 1, l.events(eventstore.EventMandateConsumed))
	bal, _ := l.balance(shop)
	assert.EqualValues(t, 10, bal)

	// A hold's creation is the one spend; its capture is not another.
	hm := l.grantTo(wallet, GrantMandate{Agent: "agent-9", MaxPerTransaction: ptr[int64](100), SingleUse: true})
	holder := auth.Caller{Sub: "agent-9", Scopes: []string{auth.ScopeWrite}}
	h := holdID(t)(l.c.CreateHold.Run(context.Background(), holder, idem(holder), CreateHold{WalletID: wallet, ToWalletID: &shop, Asset: "USD", Amount: 40, MandateID: hm}))
	assert.Equal(t, eventstore.MandateConsumed, l.mandateRow(hm).Status)
	assert.Equal(t, "mandate_inactive", codeOf(t)(l.hold(holder, wallet, shop, 1)))
	captured := bodyOf(t)(l.c.CaptureHold.Run(context.Background(), holder, idem(holder), CaptureHold{HoldID: h, Amount: ptr[int64](25)}))
	assert.Equal(t, "captured", captured["status"])

	// A void gives no use back.
	vm := l.grantTo(wallet, GrantMandate{Agent: "agent-v", MaxPerTransaction: ptr[int64](100), SingleUse: true})
	voider := auth.Caller{Sub: "agent-v", Scopes: []string{auth.ScopeWrite}}
	vh := holdID(t)(l.c.CreateHold.Run(context.Background(), voider, idem(voider), CreateHold{WalletID: wallet, ToWalletID: &shop, Asset: "USD", Amount: 40, MandateID: vm}))
	bodyOf(t)(l.c.VoidHold.Run(context.Background(), voider, idem(voider), vh))
	assert.Equal(t, eventstore.MandateConsumed, l.mandateRow(vm).Status)
	assert.Equal(t, "mandate_inactive", codeOf(t)(l.hold(voider, wallet, shop, 1)))
	l.consistent()
}

// max_transactions {count: 10}: of 60 spends in one batch, transfers and holds mixed, exactly 10 win. A void
// gives no count back; a new period starts from zero.
func TestCountLimitInOneBatch(t *testing.T) {
	l := newLedger(t)
	wallet, shop := l.wallet(alice, "USD"), l.wallet(bob, "USD")
	l.fund(wallet, "USD", 100_000)
	mid := l.grantTo(wallet, GrantMandate{MaxPerTransaction: ptr[int64](50), MaxTransactions: ptr[int64](10), MaxTransactionsPeriod: eventstore.PeriodDay})
	var jobs []*job
	for i := range 60 {
		if i%4 == 0 {
			jobs = append(jobs, jobFor(t, l.c.CreateHold, agent, idem(agent), CreateHold{WalletID: wallet, ToWalletID: &shop, Asset: "USD", Amount: 5}))
		} else {
			jobs = append(jobs, l.transferJob(agent, wallet, shop, 5))
		}
	}
	won := 0
	var holds []uuid.UUID
	for i, a := range l.together(jobs...) {
		require.NoError(t, a.err)
		switch a.out.Status {
		case http.StatusCreated:
			won++
			if i%4 == 0 {
				holds = append(holds, holdID(t)(a.out, nil))
			}
		case http.StatusForbidden:
			assert.Contains(t, string(a.out.Body), "mandate_limit_exceeded")
		default:
			t.Fatalf("write %d: %d %s", i, a.out.Status, a.out.Body)
		}
	}
	assert.Equal(t, 10, won)
	m := l.mandateRow(mid)
	assert.EqualValues(t, 10, m.TransactionsInPeriod)
	view := m.ViewAt(l.c.now())
	assert.EqualValues(t, 0, *view.TransactionsRemaining)
	require.NotEmpty(t, holds)
	bodyOf(t)(l.c.VoidHold.Run(context.Background(), agent, idem(agent), holds[0]))
	assert.Equal(t, "mandate_limit_exceeded", codeOf(t)(l.transfer(agent, wallet, shop, 1)), "a void gives no count back")
	assert.EqualValues(t, 0, m.CountAt(l.c.now().Add(24*time.Hour)), "tomorrow starts from zero")
	l.consistent()
}

func TestChargeCountsAndConsumes(t *testing.T) {
	monday := time.Date(2030, 1, 7, 10, 0, 0, 0, time.UTC)
	m := eventstore.Mandate{ID: uuid.New(), MaxPerTransaction: ptr[int64](80), MaxTransactions: ptr[int64](2),
		MaxTransactionsPeriod: eventstore.PeriodWeek, CreatedAt: monday.Add(-time.Hour), ExpiresAt: monday.AddDate(1, 0, 0),
		Status: eventstore.MandateActive}
	c, err := charge(m, 10, monday)
	require.NoError(t, err)
	c, err = charge(*c, 10, monday.Add(time.Hour))
	require.NoError(t, err)
	assert.EqualValues(t, 2, c.TransactionsInPeriod)
	_, err = charge(*c, 10, monday.Add(2*time.Hour))
	assert.ErrorIs(t, err, ErrMandateLimitExceeded)
	next, err := charge(*c, 10, monday.AddDate(0, 0, 7))
	require.NoError(t, err, "a new week starts the count again")
	assert.EqualValues(t, 1, next.TransactionsInPeriod)

	m.SingleUse = true
	once, err := charge(m, 10, monday)
	require.NoError(t, err)
	assert.Equal(t, eventstore.MandateConsumed, once.Status)
	assert.ErrorIs(t, checkMandate(*once, nil, monday), ErrMandateInactive)
}
