package command

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentic-commerce/wallet-ledger/eventstore"
)

// Group commit (issue 16): what one batch decides, writes and answers.

// In one batch, each write is decided against the balances the earlier ones left: the one that would overdraw is
// refused on its own (its refusal stored under its key) while the others commit, all in one database transaction.
func TestBatchRefusesSomeAndCommitsTheOthers(t *testing.T) {
	l := newLedger(t)
	a, b, shop := l.wallet(alice, "USD"), l.wallet(bob, "USD"), l.wallet(bob, "USD")
	l.fund(a, "USD", 100)
	l.fund(b, "USD", 50)

	writes := []*job{
		l.transferJob(alice, a, shop, 60),
		l.transferJob(alice, a, shop, 60), // 40 left: refused
		l.transferJob(bob, b, shop, 50),
		l.transferJob(alice, a, shop, 40), // exactly what is left
		l.transferJob(bob, b, a, 1),       // b is empty now: refused
	}
	answers := l.together(writes...)
	for i, want := range []int{201, 422, 201, 201, 422} {
		require.NoError(t, answers[i].err, "write %d", i)
		assert.Equal(t, want, answers[i].out.Status, "write %d: %s", i, answers[i].out.Body)
	}
	assert.Equal(t, 1, l.databaseTransactions(eventstore.KindTransfer), "the transfers share one database transaction")
	bal, _ := l.balance(shop)
	assert.EqualValues(t, 150, bal)
	bal, _ = l.balance(a)
	assert.EqualValues(t, 0, bal)

	// Each answer, the refusals included, is what a retry with the same key gets.
	for i, j := range writes {
		again, err := l.c.Transfer.Run(context.Background(), j.caller, j.idem, j.plan.(*transferPlan).cmd)
		require.NoError(t, err)
		assert.True(t, again.Replayed, "write %d", i)
		assert.Equal(t, answers[i].out.Status, again.Status)
		assert.JSONEq(t, string(answers[i].out.Body), string(again.Body))
	}
	l.consistent()
}

// Two requests with one key in one batch have one effect: the second waits for the first's answer and replays
// it; a second request with the same key and another body is refused.
func TestSameKeyTwiceInOneBatch(t *testing.T) {
	l := newLedger(t)
	a, shop := l.wallet(alice, "USD"), l.wallet(bob, "USD")
	l.fund(a, "USD", 100)
	key := idem(alice)
	cmd := Transfer{FromWalletID: a, ToWalletID: shop, Asset: "USD", Amount: 30}

	var wg sync.WaitGroup
	outs := make([]Outcome, 3)
	errs := make([]error, 3)
	for i := range outs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			outs[i], errs[i] = l.c.Transfer.Run(context.Background(), alice, key, cmd)
		}()
	}
	wg.Wait()
	fresh := 0
	for i := range outs {
		require.NoError(t, errs[i])
		require.Equal(t, http.StatusCreated, outs[i].Status, "%s", outs[i].Body)
		assert.JSONEq(t, string(outs[0].Body), string(outs[i].Body))
		if !outs[i].Replayed {
			fresh++
		}
	}
	assert.Equal(t, 1, fresh, "one request did the work, the others replayed it")

	// Within one batch, deterministically: the batcher holds the second back for the next batch.
	k2 := idem(alice)
	first := jobFor(t, l.c.Transfer, alice, k2, cmd)
	bt := newBatcher(BatchConfig{Max: 8, Workers: 1, Timeout: l.c.batch.Timeout}, func([]*job) {})
	defer bt.close()
	other, otherKey := cmd, k2
	other.Amount, otherKey.Hash = 31, []byte("another request")
	jobs, later := bt.gather(first, []*job{jobFor(t, l.c.Transfer, alice, k2, cmd), jobFor(t, l.c.Transfer, alice, otherKey, other)})
	assert.Len(t, jobs, 1)
	assert.Len(t, later, 2)
	answers := l.together(jobs...)
	require.Equal(t, http.StatusCreated, answers[0].out.Status)
	answers = l.together(later...)
	assert.True(t, answers[0].out.Replayed)
	assert.ErrorIs(t, answers[1].err, eventstore.ErrIdempotencyKeyReuse)
	bal, _ := l.balance(shop)
	assert.EqualValues(t, 60, bal, "two keys, two transfers")
	l.consistent()
}

// A hot wallet paid by 200 concurrent payers ends with the exact sum, through whatever batches the load makes.
func TestHotWalletReceivesFromManyPayersExactly(t *testing.T) {
	l := newLedger(t)
	require.NoError(t, l.c.SetBatching(BatchConfig{Max: 64, Workers: 2, Timeout: l.c.batch.Timeout}))
	merchant := l.wallet(bob, "USD")
	const payers = 200
	from := make([]uuid.UUID, payers)
	for i := range from {
		from[i] = l.wallet(alice, "USD")
		l.fund(from[i], "USD", 1_000)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var want int64
	for i, w := range from {
		wg.Add(1)
		go func() {
			defer wg.Done()
			amount := int64(1 + i%97)
			out, err := l.transfer(alice, w, merchant, amount)
			assert.NoError(t, err)
			if err == nil && out.Status == http.StatusCreated {
				mu.Lock()
				want += amount
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	bal, _ := l.balance(merchant)
	assert.Equal(t, want, bal)
	var committed int
	require.NoError(t, l.pool.QueryRow(context.Background(), `SELECT count(*) FROM journal_transactions WHERE kind = 'transfer'`).Scan(&committed))
	assert.Equal(t, payers, committed, "every payer could pay")
	l.consistent()
}

// Many spends under one mandate in one batch never overspend it by a single minor unit: each is charged against
// what the earlier ones left.
func TestMandateLimitHoldsWithinABatch(t *testing.T) {
	l := newLedger(t)
	wallet, shop := l.wallet(alice, "USD"), l.wallet(bob, "USD")
	l.fund(wallet, "USD", 10_000)
	m := bodyOf(t)(l.c.GrantMandate.Run(context.Background(), alice, idem(alice), GrantMandate{WalletID: wallet, Agent: agent.Sub,
		LimitAmount: ptr[int64](1_000), LimitPeriod: eventstore.PeriodDay, ExpiresAt: ptr(l.c.now().Add(24 * time.Hour))}))

	var writes []*job
	for i := range 40 {
		writes = append(writes, l.transferJob(agent, wallet, shop, int64(30+i%7)))
	}
	answers := l.together(writes...)
	var spent int64
	for i, a := range answers {
		require.NoError(t, a.err)
		switch a.out.Status {
		case http.StatusCreated:
			spent += writes[i].plan.(*transferPlan).cmd.Amount
		case http.StatusForbidden:
		default:
			t.Fatalf("write %d: %d %s", i, a.out.Status, a.out.Body)
		}
	}
	assert.LessOrEqual(t, spent, int64(1_000))
	assert.Greater(t, spent, int64(1_000-37), "refused only once the room was too small")
	var stored int64
	require.NoError(t, l.pool.QueryRow(context.Background(), `SELECT spent_in_period FROM mandates WHERE mandate_id = $1`,
		uuid.MustParse(m["mandate_id"].(string))).Scan(&stored))
	assert.Equal(t, spent, stored)
	bal, _ := l.balance(shop)
	assert.Equal(t, spent, bal)
	l.consistent()
}

// A batch whose connection dies before COMMIT commits nothing and tells no caller it did: each write is run again
// on its own, and if that fails too the callers hear 503.
func TestBatchKilledBeforeCommitTellsNoCallerItCommitted(t *testing.T) {
	l := newLedger(t)
	a, shop := l.wallet(alice, "USD"), l.wallet(bob, "USD")
	l.fund(a, "USD", 1_000)

	kills := 0
	kill := func(ctx context.Context) {
		kills++
		// The batch's own connection is the one idle in a transaction.
		_, err := l.pool.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
			WHERE datname = current_database() AND state = 'idle in transaction' AND pid <> pg_backend_pid()`)
		require.NoError(t, err)
	}
	l.c.beforeCommit = kill
	answers := l.together(l.transferJob(alice, a, shop, 10), l.transferJob(alice, a, shop, 20), l.transferJob(alice, a, shop, 30))
	for i, a := range answers {
		assert.ErrorIs(t, a.err, eventstore.ErrUnavailable, "write %d", i)
	}
	assert.Equal(t, 4, kills, "the batch, then each write on its own")
	bal, _ := l.balance(shop)
	assert.Zero(t, bal, "nothing committed")

	// Killed once only: the writes, retried one by one, commit exactly once each.
	l.c.beforeCommit = func(ctx context.Context) {
		if kills == 4 {
			kill(ctx)
		}
	}
	answers = l.together(l.transferJob(alice, a, shop, 10), l.transferJob(alice, a, shop, 20), l.transferJob(alice, a, shop, 30))
	for i, a := range answers {
		require.NoError(t, a.err, "write %d", i)
		assert.Equal(t, http.StatusCreated, a.out.Status)
	}
	l.c.beforeCommit = nil
	bal, _ = l.balance(shop)
	assert.EqualValues(t, 60, bal)
	l.consistent()
}

// A check the database makes at COMMIT fails the whole batch: here a write the decision got wrong (an entry that
// does not balance, as a bug would make it), so no caller hears 201 from that batch; run again one by one, the
// bad write fails alone and the good one commits.
func TestBatchRefusedAtCommitIsRetriedOneByOne(t *testing.T) {
	l := newLedger(t)
	a, shop := l.wallet(alice, "USD"), l.wallet(bob, "USD")
	l.fund(a, "USD", 1_000)
	good := l.transferJob(alice, a, shop, 10)
	bad := jobFor(t, l.c.Transfer, alice, idem(alice), Transfer{FromWalletID: a, ToWalletID: shop, Asset: "USD", Amount: 5})
	bad.plan = unbalanced{bad.plan.(*transferPlan)}
	answers := l.together(good, bad)
	require.NoError(t, answers[0].err)
	assert.Equal(t, http.StatusCreated, answers[0].out.Status)
	assert.Error(t, answers[1].err)
	bal, _ := l.balance(shop)
	assert.EqualValues(t, 10, bal)
	l.consistent()
}

// unbalanced is a transfer whose journal transaction a bug left unbalanced after the checks in Go.
type unbalanced struct{ *transferPlan }

func (u unbalanced) decide(d *decision) (Result, error) {
	res, err := u.transferPlan.decide(d)
	if err == nil {
		last := &d.b.txs[len(d.b.txs)-1]
		last.Entries = append([]eventstore.Entry(nil), last.Entries...)
		last.Entries[1].Amount++
	}
	return res, err
}
