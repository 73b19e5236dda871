package command

import (
	"net/http"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentic-commerce/wallet-ledger/eventstore"
	"github.com/agentic-commerce/wallet-ledger/internal/auth"
)

// Capturing and voiding holds (POST /v1/holds/{id}/capture and /void), in process.

func (l *ledger) capture(caller auth.Caller, key Idempotency, hold uuid.UUID, req CaptureHoldRequest) (Outcome, error) {
	return serve(l.c.CaptureHold, caller, key, at(hold), req)
}

func (l *ledger) void(caller auth.Caller, key Idempotency, hold uuid.UUID) (Outcome, error) {
	return serve(l.c.VoidHold, caller, key, at(hold), VoidHoldRequest{})
}

// A capture with no amount moves the whole hold into its destination.
func TestCaptureWholeHold(t *testing.T) {
	l := newLedger(t)
	clk := l.setClock()
	wallet, shop := l.wallet(alice, "USD"), l.wallet(bob, "USD")
	l.fund(wallet, "USD", 100)
	id := holdID(t)(l.hold(alice, wallet, shop, 40))
	clk.advance(time.Minute)
	key := idem(alice)
	out, err := l.capture(alice, key, id, CaptureHoldRequest{})
	body := bodyOf(t)(out, err)
	assert.Equal(t, http.StatusOK, out.Status)
	assert.Empty(t, out.Location, "nothing is created")
	assert.Equal(t, "captured", body["status"])
	assert.EqualValues(t, 40, body["captured_amount"])
	assert.Equal(t, shop.String(), body["to_wallet_id"])
	assert.Equal(t, "2031-03-04T10:01:00Z", body["updated_at"])
	release := idOf(t, body, "release_transaction_id")

	bal, held := l.balance(wallet)
	assert.Equal(t, [2]int64{60, 0}, [2]int64{bal, held})
	bal, _ = l.balance(shop)
	assert.EqualValues(t, 40, bal)
	h := l.holdRow(id)
	assert.Equal(t, eventstore.HoldCaptured, h.Status)
	assert.EqualValues(t, 40, h.CapturedAmount)
	assert.Equal(t, &release, h.ReleaseTransactionID)
	tx := l.journal(release)
	assert.Equal(t, eventstore.KindCapture, tx.Kind)
	assert.EqualValues(t, 40, tx.Amount)
	assert.Equal(t, &id, tx.HoldID)
	assert.Equal(t, []eventstore.Entry{{WalletID: wallet, Asset: "USD", Amount: -40, Bucket: eventstore.BucketHeld},
		{WalletID: shop, Asset: "USD", Amount: 40}}, tx.Entries)
	captured := l.eventsOf(eventstore.EventHoldCaptured)
	require.Len(t, captured, 1)
	assert.Equal(t, release.String(), captured[0]["transaction_id"])
	assert.Equal(t, "captured", captured[0]["hold"].(map[string]any)["status"])

	before := l.state()
	replayOf(t, out)(l.capture(alice, key, id, CaptureHoldRequest{}))
	assert.Equal(t, "idempotency_key_reuse", codeOf(t)(l.capture(alice, reused(key), id, CaptureHoldRequest{Amount: ptr[int64](1)})))
	assert.Equal(t, "hold_not_active", codeOf(t)(l.capture(alice, idem(alice), id, CaptureHoldRequest{})), "one capture per hold")
	assert.Equal(t, "hold_not_active", codeOf(t)(l.void(alice, idem(alice), id)))
	l.unchanged(before)
	l.consistent()
}

// A partial capture into a destination the capture names releases the rest back into the wallet.
func TestCapturePartOfAHold(t *testing.T) {
	l := newLedger(t)
	wallet, shop := l.wallet(alice, "USD"), l.wallet(bob, "USD")
	l.fund(wallet, "USD", 100)
	id := holdID(t)(l.createHold(alice, idem(alice), holdRequest(wallet, uuid.Nil, 50)))
	body := bodyOf(t)(l.capture(alice, idem(alice), id, CaptureHoldRequest{Amount: ptr[int64](20), ToWalletID: shop.String()}))
	assert.EqualValues(t, 20, body["captured_amount"])
	assert.EqualValues(t, 50, body["amount"])
	assert.Equal(t, shop.String(), body["to_wallet_id"])
	tx := l.journal(idOf(t, body, "release_transaction_id"))
	assert.EqualValues(t, 20, tx.Amount)
	assert.Equal(t, []eventstore.Entry{{WalletID: wallet, Asset: "USD", Amount: -50, Bucket: eventstore.BucketHeld},
		{WalletID: wallet, Asset: "USD", Amount: 30}, {WalletID: shop, Asset: "USD", Amount: 20}}, tx.Entries)
	bal, held := l.balance(wallet)
	assert.Equal(t, [2]int64{80, 0}, [2]int64{bal, held})
	bal, _ = l.balance(shop)
	assert.EqualValues(t, 20, bal)
	l.consistent()
}

// Each refusal of a capture is stored under its key and moves nothing; the hold stays active.
func TestCaptureRefusals(t *testing.T) {
	l := newLedger(t)
	clk := l.setClock()
	wallet, shop, euros := l.wallet(alice, "USD"), l.wallet(bob, "USD"), l.wallet(bob, "EUR")
	l.fund(wallet, "USD", 100)
	id := holdID(t)(l.createHold(alice, idem(alice), holdRequest(wallet, uuid.Nil, 50)))
	system := eventstore.SystemWalletID(systemBase, "USD")
	before := l.state()
	for name, c := range map[string]struct {
		caller auth.Caller
		hold   uuid.UUID
		req    CaptureHoldRequest
		code   string
	}{
		"more than held":       {alice, id, CaptureHoldRequest{Amount: ptr[int64](51), ToWalletID: shop.String()}, "capture_exceeds_hold"},
		"no destination":       {alice, id, CaptureHoldRequest{}, "validation_error"},
		"into its own wallet":  {alice, id, CaptureHoldRequest{ToWalletID: wallet.String()}, "same_wallet"},
		"into another asset":   {alice, id, CaptureHoldRequest{ToWalletID: euros.String()}, "asset_mismatch"},
		"into a missing one":   {alice, id, CaptureHoldRequest{ToWalletID: uuid.NewString()}, "wallet_not_found"},
		"into a system wallet": {alice, id, CaptureHoldRequest{ToWalletID: system.String()}, "system_wallet"},
		"a stranger's":         {bob, id, CaptureHoldRequest{ToWalletID: shop.String()}, "hold_not_found"},
		"a missing hold":       {alice, uuid.New(), CaptureHoldRequest{ToWalletID: shop.String()}, "hold_not_found"},
	} {
		key := idem(c.caller)
		out, err := l.capture(c.caller, key, c.hold, c.req)
		assert.Equal(t, c.code, codeOf(t)(out, err), name)
		replayOf(t, out)(l.capture(c.caller, key, c.hold, c.req))
	}
	assert.Equal(t, "validation_error", codeOf(t)(l.capture(alice, idem(alice), id, CaptureHoldRequest{Amount: ptr[int64](0)})))
	l.unchanged(before)

	bodyOf(t)(l.freeze(alice, wallet, "dispute"))
	frozen := l.state()
	assert.Equal(t, "wallet_frozen", codeOf(t)(l.capture(admin, idem(admin), id, CaptureHoldRequest{ToWalletID: shop.String()})))
	l.unchanged(frozen)
	bodyOf(t)(l.unfreeze(alice, wallet))

	// At its expiry a hold can no longer be captured, whether or not the sweeper has run.
	clk.advance(DefaultHoldTTL)
	before = l.state()
	assert.Equal(t, "hold_expired", codeOf(t)(l.capture(alice, idem(alice), id, CaptureHoldRequest{ToWalletID: shop.String()})))
	l.unchanged(before)
	assert.Equal(t, eventstore.HoldActive, l.holdRow(id).Status)
	l.consistent()
}

// A void releases the whole hold back into its wallet.
func TestVoidHold(t *testing.T) {
	l := newLedger(t)
	l.setClock()
	wallet, shop := l.wallet(alice, "USD"), l.wallet(bob, "USD")
	l.fund(wallet, "USD", 100)
	id := holdID(t)(l.hold(alice, wallet, shop, 40))
	key := idem(alice)
	out, err := l.void(alice, key, id)
	body := bodyOf(t)(out, err)
	assert.Equal(t, http.StatusOK, out.Status)
	assert.Empty(t, out.Location)
	assert.Equal(t, "voided", body["status"])
	assert.EqualValues(t, 0, body["captured_amount"])
	release := idOf(t, body, "release_transaction_id")
	bal, held := l.balance(wallet)
	assert.Equal(t, [2]int64{100, 0}, [2]int64{bal, held})
	bal, _ = l.balance(shop)
	assert.EqualValues(t, 0, bal)
	assert.Equal(t, eventstore.HoldVoided, l.holdRow(id).Status)
	tx := l.journal(release)
	assert.Equal(t, eventstore.KindVoid, tx.Kind)
	assert.Equal(t, []eventstore.Entry{{WalletID: wallet, Asset: "USD", Amount: -40, Bucket: eventstore.BucketHeld},
		{WalletID: wallet, Asset: "USD", Amount: 40}}, tx.Entries)
	require.Len(t, l.eventsOf(eventstore.EventHoldVoided), 1)

	before := l.state()
	replayOf(t, out)(l.void(alice, key, id))
	assert.Equal(t, "idempotency_key_reuse", codeOf(t)(l.void(alice, reused(key), id)))
	assert.Equal(t, "hold_not_active", codeOf(t)(l.void(alice, idem(alice), id)))
	assert.Equal(t, "hold_not_active", codeOf(t)(l.capture(alice, idem(alice), id, CaptureHoldRequest{})))
	l.unchanged(before)
	l.consistent()
}

// The hold's creator, the held wallet's owner and admins may void it; anyone else gets hold_not_found, as for a
// missing hold. A void past the expiry releases the hold as expired, as the sweeper would.
func TestVoidHoldWho(t *testing.T) {
	l := newLedger(t)
	clk := l.setClock()
	wallet, shop := l.wallet(alice, "USD"), l.wallet(bob, "USD")
	l.fund(wallet, "USD", 1_000)
	mid := l.grantTo(wallet, GrantMandate{LimitAmount: ptr[int64](100), LimitPeriod: eventstore.PeriodDay})
	byAgent := holdID(t)(l.createHold(agent, idem(agent), holdRequest(wallet, shop, 30)))
	byAlice := holdID(t)(l.hold(alice, wallet, shop, 20))
	another := holdID(t)(l.hold(alice, wallet, shop, 10))
	before := l.state()
	assert.Equal(t, "hold_not_found", codeOf(t)(l.void(bob, idem(bob), byAlice)), "the destination's owner is not the holder")
	assert.Equal(t, "hold_not_found", codeOf(t)(l.void(agent, idem(agent), byAlice)), "an agent releases only its own holds")
	assert.Equal(t, "hold_not_found", codeOf(t)(l.void(alice, idem(alice), uuid.New())))
	l.unchanged(before)

	assert.EqualValues(t, 30, l.mandateRow(mid).SpentInPeriod)
	assert.Equal(t, "voided", bodyOf(t)(l.void(agent, idem(agent), byAgent))["status"])
	assert.EqualValues(t, 0, l.mandateRow(mid).SpentInPeriod, "released in its period, the hold gives its room back")
	assert.Equal(t, "voided", bodyOf(t)(l.void(admin, idem(admin), byAlice))["status"])

	clk.advance(DefaultHoldTTL)
	expired := bodyOf(t)(l.void(alice, idem(alice), another))
	assert.Equal(t, "expired", expired["status"])
	assert.Equal(t, eventstore.HoldExpired, l.holdRow(another).Status)
	assert.Equal(t, eventstore.KindExpire, l.journal(idOf(t, expired, "release_transaction_id")).Kind)
	require.Len(t, l.eventsOf(eventstore.EventHoldExpired), 1)
	bal, held := l.balance(wallet)
	assert.Equal(t, [2]int64{1_000, 0}, [2]int64{bal, held})
	l.consistent()
}
