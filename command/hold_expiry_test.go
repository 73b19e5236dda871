package command

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentic-commerce/wallet-ledger/eventstore"
)

// The hold sweeper (ExpireHolds), in process: it releases every active hold at or past its expiry, once, and
// nothing else. The clock is moved past the expiries; nothing sleeps.

// expiring creates alice's hold of amount on wallet that expires after d.
func (l *ledger) expiring(wallet uuid.UUID, amount int64, d time.Duration) uuid.UUID {
	l.t.Helper()
	req := holdRequest(wallet, uuid.Nil, amount)
	req.ExpiresAt = ptr(l.c.now().Add(d).Format(time.RFC3339Nano))
	return holdID(l.t)(l.createHold(alice, idem(alice), req))
}

func (l *ledger) expireHolds() int {
	l.t.Helper()
	n, err := l.c.ExpireHolds(context.Background())
	require.NoError(l.t, err)
	return n
}

func TestExpireHoldsReleasesEveryExpiredHold(t *testing.T) {
	l := newLedger(t)
	clk := l.setClock()
	wallet, shop := l.wallet(alice, "USD"), l.wallet(bob, "USD")
	l.fund(wallet, "USD", 1_000)
	first := l.expiring(wallet, 30, time.Minute)
	second := l.expiring(wallet, 20, 2*time.Minute)
	exactly := l.expiring(wallet, 5, 5*time.Minute) // expires at the very instant the sweeper looks
	later := l.expiring(wallet, 10, 5*time.Minute+time.Microsecond)
	captured := l.expiring(wallet, 15, time.Minute)
	bodyOf(t)(l.capture(alice, idem(alice), captured, CaptureHoldRequest{ToWalletID: shop.String()}))
	assert.Zero(t, l.expireHolds(), "nothing has expired yet")

	clk.advance(5 * time.Minute)
	assert.Equal(t, 3, l.expireHolds())
	for _, id := range []uuid.UUID{first, second, exactly} {
		h := l.holdRow(id)
		assert.Equal(t, eventstore.HoldExpired, h.Status)
		require.NotNil(t, h.ReleaseTransactionID)
		tx := l.journal(*h.ReleaseTransactionID)
		assert.Equal(t, eventstore.KindExpire, tx.Kind)
		assert.Equal(t, eventstore.SystemOwner, tx.Sub, "the sweeper writes as the ledger")
		assert.Equal(t, "hold-expiry:"+id.String(), tx.IdempotencyKey, "one expiry per hold, ever")
		assert.Equal(t, []eventstore.Entry{{WalletID: wallet, Asset: "USD", Amount: -h.Amount, Bucket: eventstore.BucketHeld},
			{WalletID: wallet, Asset: "USD", Amount: h.Amount}}, tx.Entries)
		assert.True(t, h.UpdatedAt.Equal(epoch.Add(5*time.Minute)))
	}
	assert.Equal(t, eventstore.HoldActive, l.holdRow(later).Status)
	assert.Equal(t, eventstore.HoldCaptured, l.holdRow(captured).Status)
	bal, held := l.balance(wallet)
	assert.Equal(t, [2]int64{1_000 - 15, 10}, [2]int64{bal, held})
	expired := l.eventsOf(eventstore.EventHoldExpired)
	require.Len(t, expired, 3)
	for _, e := range expired {
		assert.Equal(t, eventstore.SystemOwner, e["sub"])
		assert.Equal(t, "expired", e["hold"].(map[string]any)["status"])
	}

	// Swept again, nothing changes; an expired hold is released once and for all.
	before := l.state()
	assert.Zero(t, l.expireHolds())
	assert.Equal(t, "hold_not_active", codeOf(t)(l.void(alice, idem(alice), first)))
	l.unchanged(before)
	clk.advance(time.Microsecond)
	assert.Equal(t, 1, l.expireHolds())
	l.consistent()
}

// More expired holds than one page (expiryBatch) are all released in one sweep.
func TestExpireHoldsPagesThroughMany(t *testing.T) {
	l := newLedger(t)
	clk := l.setClock()
	wallet := l.wallet(alice, "USD")
	const n = 2*expiryBatch + 5
	l.fund(wallet, "USD", n)
	var jobs []*job
	for range n {
		jobs = append(jobs, jobFor(t, l.c.CreateHold, alice, idem(alice), CreateHold{WalletID: wallet, Asset: "USD", Amount: 1,
			ExpiresAt: ptr(epoch.Add(time.Hour))}))
	}
	for i, a := range l.together(jobs...) {
		require.NoError(t, a.err, "hold %d", i)
		require.False(t, a.out.Problem, "hold %d: %s", i, a.out.Body)
	}
	_, held := l.balance(wallet)
	require.EqualValues(t, n, held)

	clk.advance(time.Hour)
	assert.Equal(t, n, l.expireHolds())
	bal, held := l.balance(wallet)
	assert.Equal(t, [2]int64{n, 0}, [2]int64{bal, held})
	var left int
	require.NoError(t, l.pool.QueryRow(context.Background(), `SELECT count(*) FROM holds WHERE status <> 'expired'`).Scan(&left))
	assert.Zero(t, left)
	l.consistent()
}

// An expiry gives a mandate back the room its hold took only within the period the hold was charged to.
func TestExpireHoldsGivesRoomBackOnlyInItsPeriod(t *testing.T) {
	l := newLedger(t)
	clk := l.setClock() // 10:00
	wallet := l.wallet(alice, "USD")
	l.fund(wallet, "USD", 1_000)
	mid := l.grantTo(wallet, GrantMandate{LimitAmount: ptr[int64](100), LimitPeriod: eventstore.PeriodDay, ExpiresAt: ptr(epoch.AddDate(0, 1, 0))})
	hold := func(amount int64, d time.Duration) {
		req := holdRequest(wallet, uuid.Nil, amount)
		req.ExpiresAt = ptr(epoch.Add(d).Format(time.RFC3339))
		bodyOf(t)(l.createHold(agent, idem(agent), req))
	}
	hold(30, time.Hour)    // expires today at 11:00
	hold(50, 20*time.Hour) // expires tomorrow at 06:00
	m := l.mandateRow(mid)
	assert.EqualValues(t, 80, m.SpentInPeriod)
	assert.EqualValues(t, 3, m.Version, "granted, then two holds")

	clk.advance(2 * time.Hour)
	assert.Equal(t, 1, l.expireHolds())
	m = l.mandateRow(mid)
	assert.EqualValues(t, 50, m.SpentInPeriod, "today's hold gave today's room back")
	assert.EqualValues(t, 4, m.Version)

	clk.advance(19 * time.Hour) // tomorrow 07:00
	assert.Equal(t, 1, l.expireHolds())
	m = l.mandateRow(mid)
	assert.EqualValues(t, 50, m.SpentInPeriod, "yesterday's charge went with yesterday")
	assert.True(t, m.PeriodStart.Equal(time.Date(2031, 3, 4, 0, 0, 0, 0, time.UTC)))
	assert.Zero(t, m.SpentAt(clk.now()), "today starts from nothing")
	assert.EqualValues(t, 4, m.Version, "the mandate is not touched")
	l.consistent()
}

// A hold on a frozen wallet still expires back into it: no money leaves, and the wallet stays frozen.
func TestExpireHoldsOnAFrozenWallet(t *testing.T) {
	l := newLedger(t)
	clk := l.setClock()
	wallet := l.wallet(alice, "USD")
	l.fund(wallet, "USD", 100)
	id := l.expiring(wallet, 60, time.Minute)
	bodyOf(t)(l.freeze(admin, wallet, "investigation"))
	clk.advance(time.Minute)
	assert.Equal(t, 1, l.expireHolds())
	assert.Equal(t, eventstore.HoldExpired, l.holdRow(id).Status)
	bal, held := l.balance(wallet)
	assert.Equal(t, [2]int64{100, 0}, [2]int64{bal, held})
	assert.True(t, l.walletRow(wallet).Frozen())
	l.consistent()
}
