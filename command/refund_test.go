package command

import (
	"net/http"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentic-commerce/wallet-ledger/eventstore"
	"github.com/agentic-commerce/wallet-ledger/internal/auth"
)

// Refunds (POST /v1/transactions/{id}/refunds), in process: money moved back along a transfer or a capture, never
// more than it moved.

var carol = auth.Caller{Sub: "carol", Scopes: []string{auth.ScopeRead, auth.ScopeWrite}}

func (l *ledger) refund(caller auth.Caller, key Idempotency, original uuid.UUID, amount *int64) (Outcome, error) {
	return serve(l.c.Refund, caller, key, at(original), RefundRequest{Amount: amount, Reason: ptr("damaged")})
}

// paid is alice paying bob's shop amount; it returns alice's wallet, the shop and the transfer.
func (l *ledger) paid(amount int64) (wallet, shop, transfer uuid.UUID) {
	l.t.Helper()
	wallet, shop = l.wallet(alice, "USD"), l.wallet(bob, "USD")
	l.fund(wallet, "USD", 1_000)
	return wallet, shop, idOf(l.t, bodyOf(l.t)(l.transfer(alice, wallet, shop, amount)), "transaction_id")
}

func TestRefundMovesMoneyBack(t *testing.T) {
	l := newLedger(t)
	l.setClock()
	wallet, shop, original := l.paid(100)
	key := idem(bob)
	out, err := l.refund(bob, key, original, ptr[int64](30))
	body := bodyOf(t)(out, err)
	id := idOf(t, body, "transaction_id")
	assert.Equal(t, http.StatusCreated, out.Status)
	assert.Equal(t, "/v1/transactions/"+id.String(), out.Location)
	assert.Equal(t, "refund", body["kind"])
	assert.EqualValues(t, 30, body["amount"])
	assert.Equal(t, "damaged", body["reason"])
	assert.Equal(t, shop.String(), body["from_wallet_id"])
	assert.Equal(t, wallet.String(), body["to_wallet_id"])
	assert.Equal(t, original.String(), body["refund_of"])
	assert.Equal(t, "bob", body["sub"])
	assert.Equal(t, "2031-03-04T10:00:00Z", body["created_at"])

	tx := l.journal(id)
	assert.Equal(t, eventstore.KindRefund, tx.Kind)
	assert.Equal(t, &original, tx.RefundOf)
	assert.Equal(t, []eventstore.Entry{{WalletID: shop, Asset: "USD", Amount: -30}, {WalletID: wallet, Asset: "USD", Amount: 30}}, tx.Entries)
	bal, _ := l.balance(shop)
	assert.EqualValues(t, 70, bal)
	bal, _ = l.balance(wallet)
	assert.EqualValues(t, 930, bal)
	committed := l.eventsOf(eventstore.EventTransactionCommitted)
	last := committed[len(committed)-1]
	assert.Equal(t, "refund", last["kind"])
	assert.Equal(t, original.String(), last["refund_of"])

	before := l.state()
	replayOf(t, out)(l.refund(bob, key, original, ptr[int64](30)))
	assert.Equal(t, "idempotency_key_reuse", codeOf(t)(l.refund(bob, reused(key), original, ptr[int64](31))))
	assert.Equal(t, "refund_exceeds_original", codeOf(t)(l.refund(bob, idem(bob), original, ptr[int64](71))), "70 are left")
	l.unchanged(before)

	// Without an amount, what is left; then nothing is.
	assert.EqualValues(t, 70, bodyOf(t)(l.refund(bob, idem(bob), original, nil))["amount"])
	before = l.state()
	assert.Equal(t, "refund_exceeds_original", codeOf(t)(l.refund(bob, idem(bob), original, nil)))
	assert.Equal(t, "refund_exceeds_original", codeOf(t)(l.refund(admin, idem(admin), original, ptr[int64](1))))
	l.unchanged(before)
	bal, _ = l.balance(wallet)
	assert.EqualValues(t, 1_000, bal)
	l.consistent()
}

// A capture is refunded along its captured part: from its destination back into the held wallet.
func TestRefundOfACapture(t *testing.T) {
	l := newLedger(t)
	wallet, shop := l.wallet(alice, "USD"), l.wallet(bob, "USD")
	l.fund(wallet, "USD", 100)
	hold := holdID(t)(l.hold(alice, wallet, shop, 50))
	capture := idOf(t, bodyOf(t)(l.capture(alice, idem(alice), hold, CaptureHoldRequest{Amount: ptr[int64](20)})), "release_transaction_id")
	body := bodyOf(t)(l.refund(bob, idem(bob), capture, nil))
	assert.EqualValues(t, 20, body["amount"], "the captured part, not the hold")
	assert.Equal(t, shop.String(), body["from_wallet_id"])
	assert.Equal(t, wallet.String(), body["to_wallet_id"])
	bal, held := l.balance(wallet)
	assert.Equal(t, [2]int64{100, 0}, [2]int64{bal, held})
	assert.Equal(t, "refund_exceeds_original", codeOf(t)(l.refund(bob, idem(bob), capture, ptr[int64](1))))
	l.consistent()
}

// Each refusal is stored under its key and moves nothing.
func TestRefundRefusals(t *testing.T) {
	l := newLedger(t)
	wallet, shop, original := l.paid(100)
	adjustment := idOf(t, bodyOf(t)(l.adjust(admin, idem(admin), wallet, "USD", 5)), "transaction_id")
	hold := idOf(t, bodyOf(t)(l.hold(alice, wallet, shop, 10)), "transaction_id")
	refund := idOf(t, bodyOf(t)(l.refund(bob, idem(bob), original, ptr[int64](10))), "transaction_id")
	before := l.state()
	for name, c := range map[string]struct {
		caller   auth.Caller
		original uuid.UUID
		code     string
		status   int
	}{
		"by the payer":              {alice, original, "forbidden", http.StatusForbidden},
		"by a stranger":             {carol, original, "transaction_not_found", http.StatusNotFound},
		"a missing transaction":     {bob, uuid.New(), "transaction_not_found", http.StatusNotFound},
		"an adjustment":             {admin, adjustment, "not_refundable", http.StatusUnprocessableEntity},
		"a refund":                  {alice, refund, "not_refundable", http.StatusUnprocessableEntity},
		"a hold":                    {admin, hold, "not_refundable", http.StatusUnprocessableEntity},
		"its own adjustment":        {alice, adjustment, "not_refundable", http.StatusUnprocessableEntity},
		"its own hold":              {alice, hold, "not_refundable", http.StatusUnprocessableEntity},
		"more than is left":         {bob, original, "refund_exceeds_original", http.StatusUnprocessableEntity},
		"an agent acting for bob":   {auth.Caller{Sub: "bob", Actor: "clerk", Scopes: []string{auth.ScopeWrite}}, original, "forbidden", 0},
		"an agent acting for alice": {shopperForAlice, refund, "forbidden", 0},
	} {
		key := idem(c.caller)
		amount := ptr[int64](91)
		out, err := l.refund(c.caller, key, c.original, amount)
		assert.Equal(t, c.code, codeOf(t)(out, err), name)
		if c.status == 0 {
			assert.Error(t, err, "%s: refused before anything is read", name)
			continue
		}
		assert.Equal(t, c.status, out.Status, name)
		replayOf(t, out)(l.refund(c.caller, key, c.original, amount))
	}
	// A stranger learns nothing: the answer is the missing transaction's, but for its ID.
	missing := uuid.New()
	foreign := decodedProblem(t)(l.refund(carol, idem(carol), original, nil))
	absent := decodedProblem(t)(l.refund(carol, idem(carol), missing, nil))
	assert.Equal(t, absent["detail"], strings.ReplaceAll(foreign["detail"].(string), original.String(), missing.String()))
	l.unchanged(before)

	// The payee's frozen wallet lets nothing out; once the money is spent, the refund finds too little.
	bodyOf(t)(l.freeze(bob, shop, "audit"))
	before = l.state()
	assert.Equal(t, "wallet_frozen", codeOf(t)(l.refund(bob, idem(bob), original, nil)))
	l.unchanged(before)
	bodyOf(t)(l.unfreeze(bob, shop))
	bodyOf(t)(l.transfer(bob, shop, l.wallet(bob, "USD"), 85))
	before = l.state()
	assert.Equal(t, "insufficient_funds", codeOf(t)(l.refund(bob, idem(bob), original, ptr[int64](6))))
	l.unchanged(before)
	assert.EqualValues(t, 5, bodyOf(t)(l.refund(admin, idem(admin), original, ptr[int64](5)))["amount"], "an admin refunds too")
	l.consistent()
}

// Two refunds that each fit but not together, in one batch: the second sees the first and is refused.
func TestRefundsInOneBatchNeverExceedTheOriginal(t *testing.T) {
	l := newLedger(t)
	_, shop, original := l.paid(100)
	job := func(amount int64) *job {
		return jobFor(t, l.c.Refund, bob, idem(bob), Refund{TransactionID: original, Amount: &amount, Reason: "r"})
	}
	answers := l.together(job(60), job(60), job(40))
	for i, want := range []int{http.StatusCreated, http.StatusUnprocessableEntity, http.StatusCreated} {
		require.NoError(t, answers[i].err)
		assert.Equal(t, want, answers[i].out.Status, "refund %d: %s", i, answers[i].out.Body)
	}
	assert.Equal(t, "refund_exceeds_original", decoded(t, answers[1].out)["code"])
	bal, _ := l.balance(shop)
	assert.Zero(t, bal)
	l.consistent()
}

// A refund gives no spending room back to the mandate the original was spent under.
func TestRefundGivesNoRoomBackToAMandate(t *testing.T) {
	l := newLedger(t)
	wallet, shop := l.wallet(alice, "USD"), l.wallet(bob, "USD")
	l.fund(wallet, "USD", 1_000)
	mid := l.grantTo(wallet, GrantMandate{LimitAmount: ptr[int64](100), LimitPeriod: eventstore.PeriodTotal})
	spent := idOf(t, bodyOf(t)(l.transfer(agent, wallet, shop, 40)), "transaction_id")
	bodyOf(t)(l.refund(bob, idem(bob), spent, nil))
	m := l.mandateRow(mid)
	assert.EqualValues(t, 40, m.SpentInPeriod)
	assert.EqualValues(t, 2, m.Version, "granted, then one spend; the refund did not touch it")
	assert.Equal(t, "forbidden", codeOf(t)(l.refund(agent, idem(agent), spent, nil)), "the spending agent sees it but may not refund")
	l.consistent()
}

func TestRefundValidation(t *testing.T) {
	l := newLedger(t)
	_, _, original := l.paid(100)
	before := l.state()
	assert.Equal(t, []string{"reason"}, invalidFields(t)(serve(l.c.Refund, bob, idem(bob), at(original), RefundRequest{})))
	assert.ElementsMatch(t, []string{"reason", "amount"}, invalidFields(t)(serve(l.c.Refund, bob, idem(bob), at(original),
		RefundRequest{Amount: ptr[int64](0), Reason: ptr("")})))
	assert.Equal(t, []string{"amount"}, invalidFields(t)(serve(l.c.Refund, bob, idem(bob), at(original),
		RefundRequest{Amount: ptr[int64](maxAmount + 1), Reason: ptr("r")})))
	l.unchanged(before)
}
