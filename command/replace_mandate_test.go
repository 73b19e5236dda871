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
)

// Safe replacement (issue 15), in process.

func (l *ledger) replaceJob(id uuid.UUID, version int64, terms GrantMandate) *job {
	if terms.Agent == "" {
		terms.Agent = agent.Sub
	}
	if terms.ExpiresAt == nil {
		terms.ExpiresAt = ptr(l.c.now().Add(24 * time.Hour))
	}
	return jobFor(l.t, l.c.ReplaceMandate, alice, idem(alice), ReplaceMandate{MandateID: id, Version: version, Terms: terms})
}

// A replacement revokes the old mandate and grants the new one carrying the old one's spend and count, clamped to
// the new limits; a stale version is refused (412) and changes nothing.
func TestReplaceCarriesTheBudget(t *testing.T) {
	l := newLedger(t)
	wallet, shop := l.wallet(alice, "USD"), l.wallet(bob, "USD")
	l.fund(wallet, "USD", 10_000)
	old := l.grantTo(wallet, GrantMandate{LimitAmount: ptr[int64](1_000), LimitPeriod: eventstore.PeriodTotal,
		MaxTransactions: ptr[int64](5), MaxTransactionsPeriod: eventstore.PeriodTotal})
	bodyOf(t)(l.transfer(agent, wallet, shop, 300))
	bodyOf(t)(l.transfer(agent, wallet, shop, 300))
	v := l.mandateRow(old).Version
	require.EqualValues(t, 3, v)

	stale := l.together(l.replaceJob(old, v-1, GrantMandate{LimitAmount: ptr[int64](5_000), LimitPeriod: eventstore.PeriodTotal}))[0]
	require.NoError(t, stale.err)
	assert.Equal(t, http.StatusPreconditionFailed, stale.out.Status, "%s", stale.out.Body)
	assert.Equal(t, eventstore.MandateActive, l.mandateRow(old).Status)

	a := l.together(l.replaceJob(old, v, GrantMandate{LimitAmount: ptr[int64](2_000), LimitPeriod: eventstore.PeriodTotal,
		MaxTransactions: ptr[int64](3), MaxTransactionsPeriod: eventstore.PeriodTotal}))[0]
	require.NoError(t, a.err)
	require.Equal(t, http.StatusCreated, a.out.Status, "%s", a.out.Body)
	repl := bodyOf(t)(a.out, nil)
	newID := uuid.MustParse(repl["mandate_id"].(string))
	assert.Equal(t, "/v1/mandates/"+newID.String(), a.out.Location)
	assert.Equal(t, old.String(), repl["replaces"])
	assert.EqualValues(t, 600, repl["spent_in_period"], "the budget is carried, never reset")
	assert.EqualValues(t, 1_400, repl["remaining"])
	assert.EqualValues(t, 2, repl["transactions_in_period"])
	o := l.mandateRow(old)
	assert.Equal(t, eventstore.MandateRevoked, o.Status)
	assert.Equal(t, eventstore.ReasonReplaced, o.DeactivatedReason)
	assert.Equal(t, 1, l.events(eventstore.EventMandateReplaced))

	assert.Equal(t, "mandate_inactive", codeOf(t)(l.c.Transfer.Run(context.Background(), agent, idem(agent),
		Transfer{FromWalletID: wallet, ToWalletID: shop, Asset: "USD", Amount: 1, MandateID: old})), "the old one spends no more")
	bodyOf(t)(l.transfer(agent, wallet, shop, 1))
	assert.Equal(t, "mandate_limit_exceeded", codeOf(t)(l.transfer(agent, wallet, shop, 1)), "3 spends in all: 2 carried, 1 new")

	// Over the new limits: clamped, no room left.
	again := l.mandateRow(newID)
	b := l.together(l.replaceJob(newID, again.Version, GrantMandate{LimitAmount: ptr[int64](100), LimitPeriod: eventstore.PeriodTotal}))[0]
	require.Equal(t, http.StatusCreated, b.out.Status, "%s", b.out.Body)
	clamped := bodyOf(t)(b.out, nil)
	assert.EqualValues(t, 100, clamped["spent_in_period"])
	assert.EqualValues(t, 0, clamped["remaining"])
	assert.Equal(t, "mandate_limit_exceeded", codeOf(t)(l.transfer(agent, wallet, shop, 1)))
	l.consistent()
}

// In one batch with spends under the old mandate: those decided before the replacement charge the old one (and
// are carried), those after it spend under the new one or are refused if they name the old: the total never
// exceeds the limit. A second replacement with the version the first consumed is stale.
func TestReplaceAmongSpendsInOneBatch(t *testing.T) {
	l := newLedger(t)
	wallet, shop := l.wallet(alice, "USD"), l.wallet(bob, "USD")
	l.fund(wallet, "USD", 10_000)
	old := l.grantTo(wallet, GrantMandate{LimitAmount: ptr[int64](100), LimitPeriod: eventstore.PeriodTotal})
	namedOld := func() *job {
		return jobFor(t, l.c.Transfer, agent, idem(agent), Transfer{FromWalletID: wallet, ToWalletID: shop, Asset: "USD", Amount: 30, MandateID: old})
	}
	terms := GrantMandate{LimitAmount: ptr[int64](100), LimitPeriod: eventstore.PeriodTotal, MaxPerTransaction: ptr[int64](40)}
	answers := l.together(
		namedOld(),
		l.transferJob(agent, wallet, shop, 30),
		l.replaceJob(old, 3, terms),
		namedOld(),
		l.transferJob(agent, wallet, shop, 30),
		l.transferJob(agent, wallet, shop, 30),
		l.replaceJob(old, 3, terms),
	)
	want := []int{201, 201, 201, 403, 201, 403, 412}
	for i, w := range want {
		require.NoError(t, answers[i].err, "write %d", i)
		assert.Equal(t, w, answers[i].out.Status, "write %d: %s", i, answers[i].out.Body)
	}
	bal, _ := l.balance(shop)
	assert.EqualValues(t, 90, bal, "60 under the old, 30 under the new: never above 100 in all")
	l.consistent()
}
