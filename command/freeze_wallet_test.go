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

// The kill switch (issue 15), in process: what a freeze stops, what it lets through, who may lift it.

func (l *ledger) freeze(caller auth.Caller, wallet uuid.UUID, reason string) (Outcome, error) {
	return l.c.FreezeWallet.Run(context.Background(), caller, idem(caller), FreezeWallet{WalletID: wallet, Reason: reason})
}

func (l *ledger) unfreeze(caller auth.Caller, wallet uuid.UUID) (Outcome, error) {
	return l.c.UnfreezeWallet.Run(context.Background(), caller, idem(caller), wallet)
}

func (l *ledger) hold(caller auth.Caller, wallet, to uuid.UUID, amount int64) (Outcome, error) {
	return l.c.CreateHold.Run(context.Background(), caller, idem(caller), CreateHold{WalletID: wallet, ToWalletID: &to, Asset: "USD", Amount: amount})
}

// holdID requires a hold's successful outcome and returns its ID: holdID(t)(l.hold(...)).
func holdID(t *testing.T) func(Outcome, error) uuid.UUID {
	return func(out Outcome, err error) uuid.UUID {
		t.Helper()
		return uuid.MustParse(bodyOf(t)(out, err)["hold_id"].(string))
	}
}

// While frozen, nothing leaves the wallet (transfer, hold, capture, refund from it: 423); money still comes in,
// holds are still voided back into it, and an admin's adjustment still corrects it.
func TestFrozenWalletLetsNothingOut(t *testing.T) {
	l := newLedger(t)
	wallet, shop := l.wallet(alice, "USD"), l.wallet(bob, "USD")
	l.fund(wallet, "USD", 1_000)
	l.fund(shop, "USD", 1_000)
	paid := bodyOf(t)(l.transfer(bob, shop, wallet, 100))
	spent := bodyOf(t)(l.transfer(alice, wallet, shop, 30))
	h1 := holdID(t)(l.hold(alice, wallet, shop, 50))
	h2 := holdID(t)(l.hold(alice, wallet, shop, 70))

	frozen := bodyOf(t)(l.freeze(alice, wallet, "card lost"))
	assert.Equal(t, "frozen", frozen["status"])
	assert.Equal(t, "card lost", frozen["frozen_reason"])
	assert.Equal(t, "alice", frozen["frozen_by"])
	assert.Equal(t, false, frozen["frozen_by_admin"])
	assert.NotNil(t, frozen["frozen_at"])

	assert.Equal(t, "wallet_frozen", codeOf(t)(l.transfer(alice, wallet, shop, 1)))
	assert.Equal(t, "wallet_frozen", codeOf(t)(l.transfer(admin, wallet, shop, 1)), "an admin's transfer is a movement out too")
	assert.Equal(t, "wallet_frozen", codeOf(t)(l.hold(alice, wallet, shop, 1)))
	assert.Equal(t, "wallet_frozen", codeOf(t)(l.c.CaptureHold.Run(context.Background(), alice, idem(alice), CaptureHold{HoldID: h1})))
	assert.Equal(t, "wallet_frozen", codeOf(t)(l.c.Refund.Run(context.Background(), alice, idem(alice),
		Refund{TransactionID: uuid.MustParse(paid["transaction_id"].(string)), Reason: "no"})))

	bodyOf(t)(l.transfer(bob, shop, wallet, 10))
	voided := bodyOf(t)(l.c.VoidHold.Run(context.Background(), alice, idem(alice), h2))
	assert.Equal(t, "voided", voided["status"])
	bodyOf(t)(l.c.Adjust.Run(context.Background(), admin, idem(admin), Adjustment{WalletID: wallet, Asset: "USD", Amount: -5, Reason: "fee"}))
	// A refund into the frozen wallet is money coming in.
	bodyOf(t)(l.c.Refund.Run(context.Background(), bob, idem(bob), Refund{TransactionID: uuid.MustParse(spent["transaction_id"].(string)), Reason: "returned"}))
	bal, held := l.balance(wallet)
	assert.EqualValues(t, 1_000+100-30+10-5+30, bal, "money came in, 5 corrected out, nothing else left")
	assert.EqualValues(t, 50, held, "the hold to capture is still held")

	active := bodyOf(t)(l.unfreeze(alice, wallet))
	assert.Equal(t, "active", active["status"])
	assert.Nil(t, active["frozen_reason"])
	bodyOf(t)(l.c.CaptureHold.Run(context.Background(), alice, idem(alice), CaptureHold{HoldID: h1}))
	bodyOf(t)(l.transfer(alice, wallet, shop, 1))
	l.consistent()
}

// A freeze by an admin is lifted only by an admin; an owner's freeze that an admin freezes again becomes an
// admin's. Freezing a frozen wallet and unfreezing an active one change nothing. Strangers see no wallet.
func TestAdminFreezeIsLiftedOnlyByAnAdmin(t *testing.T) {
	l := newLedger(t)
	wallet := l.wallet(alice, "USD")

	assert.Equal(t, "wallet_not_found", codeOf(t)(l.freeze(bob, wallet, "mine now")))
	assert.Equal(t, "validation_error", codeOf(t)(l.c.FreezeWallet.Run(context.Background(), alice, idem(alice), FreezeWallet{WalletID: wallet})),
		"in process too, a freeze says why")
	bodyOf(t)(l.freeze(alice, wallet, "lost phone"))
	again := bodyOf(t)(l.freeze(alice, wallet, "second thoughts"))
	assert.Equal(t, "lost phone", again["frozen_reason"], "a frozen wallet stays frozen as it was")
	upgraded := bodyOf(t)(l.freeze(admin, wallet, "fraud review"))
	assert.Equal(t, true, upgraded["frozen_by_admin"])
	assert.Equal(t, "treasury", upgraded["frozen_by"])
	assert.Equal(t, again["frozen_at"], upgraded["frozen_at"], "frozen since the first freeze")
	assert.Equal(t, "forbidden", codeOf(t)(l.unfreeze(alice, wallet)))
	assert.Equal(t, "forbidden", codeOf(t)(l.unfreeze(alice, wallet)), "the owner may not lift an admin's freeze")
	assert.Equal(t, "active", bodyOf(t)(l.unfreeze(admin, wallet))["status"])
	assert.Equal(t, "active", bodyOf(t)(l.unfreeze(alice, wallet))["status"], "unfreezing an active wallet changes nothing")

	var frozen, unfrozen int
	require.NoError(t, l.pool.QueryRow(context.Background(), `SELECT count(*) FILTER (WHERE metadata->>'event_type' = 'wallet.frozen'),
		count(*) FILTER (WHERE metadata->>'event_type' = 'wallet.unfrozen') FROM outbox_events`).Scan(&frozen, &unfrozen))
	assert.Equal(t, 2, frozen, "the freeze and the admin's upgrade")
	assert.Equal(t, 1, unfrozen)
	l.consistent()
}

// In one batch, a freeze decided before a spend makes the spend answer 423, and a spend decided before the freeze
// commits with it; a refused freeze changes nothing for the requests after it.
func TestFreezeAndSpendsInOneBatch(t *testing.T) {
	l := newLedger(t)
	wallet, shop := l.wallet(alice, "USD"), l.wallet(bob, "USD")
	l.fund(wallet, "USD", 1_000)
	freezeJob := func(caller auth.Caller) *job {
		return jobFor(t, l.c.FreezeWallet, caller, idem(caller), FreezeWallet{WalletID: wallet, Reason: "stop"})
	}
	answers := l.together(
		l.transferJob(alice, wallet, shop, 10),
		freezeJob(bob), // a stranger: refused, undone
		l.transferJob(alice, wallet, shop, 20),
		freezeJob(alice),
		l.transferJob(alice, wallet, shop, 30),
		jobFor(t, l.c.CreateHold, alice, idem(alice), CreateHold{WalletID: wallet, Asset: "USD", Amount: 5}),
		l.transferJob(bob, shop, wallet, 7), // money in
	)
	want := []int{http.StatusCreated, http.StatusNotFound, http.StatusCreated, http.StatusOK, http.StatusLocked, http.StatusLocked, http.StatusCreated}
	for i, w := range want {
		require.NoError(t, answers[i].err, "write %d", i)
		assert.Equal(t, w, answers[i].out.Status, "write %d: %s", i, answers[i].out.Body)
	}
	bal, _ := l.balance(wallet)
	assert.EqualValues(t, 1_000-10-20+7, bal)
	var status string
	require.NoError(t, l.pool.QueryRow(context.Background(), `SELECT status FROM wallets WHERE wallet_id = $1`, wallet).Scan(&status))
	assert.Equal(t, eventstore.WalletFrozen, status)
	l.consistent()
}

// A freeze committed in one batch is seen by a spend waiting for the wallet's lock in another: it waits, then reads
// the wallet frozen.
func TestSpendWaitingForAFreezeSeesIt(t *testing.T) {
	l := newLedger(t)
	wallet, shop := l.wallet(alice, "USD"), l.wallet(bob, "USD")
	l.fund(wallet, "USD", 1_000)
	release := make(chan struct{})
	decided := make(chan struct{})
	l.c.beforeCommit = func(context.Context) {
		// Only the freeze's batch holds here: the spend's batch is started after it decided.
		select {
		case <-decided:
		default:
			close(decided)
			<-release
		}
	}
	freezeDone := make(chan answer, 1)
	go func() {
		freezeDone <- l.together(jobFor(t, l.c.FreezeWallet, alice, idem(alice), FreezeWallet{WalletID: wallet, Reason: "stop"}))[0]
	}()
	<-decided
	spendDone := make(chan answer, 1)
	go func() { spendDone <- l.together(l.transferJob(alice, wallet, shop, 10))[0] }()
	// Let the freeze commit once the spend waits for the projection the freeze locked.
	deadline := time.Now().Add(30 * time.Second)
	for waiting := 0; waiting == 0; {
		require.True(t, time.Now().Before(deadline), "the spend never waited for the freeze's lock")
		require.NoError(t, l.pool.QueryRow(context.Background(), `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock'`).Scan(&waiting))
		time.Sleep(10 * time.Millisecond)
	}
	close(release)
	f := <-freezeDone
	require.NoError(t, f.err)
	require.Equal(t, http.StatusOK, f.out.Status, "%s", f.out.Body)
	select {
	case s := <-spendDone:
		require.NoError(t, s.err)
		assert.Equal(t, http.StatusLocked, s.out.Status, "%s", s.out.Body)
	case <-time.After(30 * time.Second):
		t.Fatal("the spend never finished")
	}
	bal, _ := l.balance(wallet)
	assert.EqualValues(t, 1_000, bal)
	l.c.beforeCommit = nil
	l.consistent()
}
