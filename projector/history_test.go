package projector_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentic-commerce/wallet-ledger/eventstore"
	"github.com/agentic-commerce/wallet-ledger/projector"
)

// openTransfer starts a transfer exactly as the write side does (lock the projections, draw the position, append,
// apply, queue the outbox event) and leaves its DB transaction open.
func openTransfer(t *testing.T, l *ledger, from, to uuid.UUID, asset string, amount int64) (pgx.Tx, int64) {
	t.Helper()
	ctx := context.Background()
	tx, err := l.pool.Begin(ctx)
	require.NoError(t, err)
	locked := map[uuid.UUID]projector.Balance{}
	var pos int64
	b := &pgx.Batch{}
	projector.QueueLock(b, []uuid.UUID{from, to}, locked)
	eventstore.QueueNextPosition(b, &pos)
	require.NoError(t, tx.SendBatch(ctx, b).Close())
	now := time.Now().UTC().Truncate(time.Microsecond)
	jt := eventstore.Transaction{ID: uuid.New(), Position: pos, Kind: eventstore.KindTransfer, Asset: asset, Amount: amount,
		Sub: "test", IdempotencyKey: uuid.NewString(), RequestHash: []byte{1}, CreatedAt: now,
		Entries: []eventstore.Entry{{WalletID: from, Asset: asset, Amount: -amount}, {WalletID: to, Asset: asset, Amount: amount}}}
	deltas, err := projector.Deltas(jt.Entries)
	require.NoError(t, err)
	require.NoError(t, projector.Check(locked, deltas))
	b = &pgx.Batch{}
	eventstore.QueueAppend(b, jt)
	projector.QueueApply(b, deltas, now)
	require.NoError(t, eventstore.QueueEvents(b, []eventstore.Event{eventstore.NewTransactionEvent(jt)}, nil))
	require.NoError(t, tx.SendBatch(ctx, b).Close())
	return tx, pos
}

func historyOf(t *testing.T, l *ledger, w uuid.UUID) []projector.HistoryEntry {
	t.Helper()
	page, err := projector.ReadHistory(context.Background(), l.store, w, nil, 200)
	require.NoError(t, err)
	return page.Entries
}

// A transaction with a lower journal position that commits after a higher one: a poller over positions would have
// stepped past it. The history projector, reading the outbox in xid order, waits for it and then projects both.
func TestHistoryProjectorNeverSkipsALateCommit(t *testing.T) {
	ctx := context.Background()
	l := newLedger(t, freshPool(t))
	h, err := projector.NewHistoryProjector(l.store)
	require.NoError(t, err)
	w := make([]uuid.UUID, 4)
	for i := range w {
		w[i] = l.wallet("LTE")
		l.adjust(w[i], "LTE", 100)
	}
	eventually(t, patience, func() bool {
		require.NoError(t, h.Drain(ctx))
		return pendingEvents(t, l, projector.ConsumerHistory) == 0
	}, "the history projector to drain")

	late, latePos := openTransfer(t, l, w[0], w[1], "LTE", 7)
	defer late.Rollback(ctx) //nolint:errcheck // committed below; the rollback is a no-op then
	ok, err := l.transfer(ctx, w[2], w[3], "LTE", 9)
	require.NoError(t, err)
	require.True(t, ok)
	var earlyPos int64
	require.NoError(t, l.pool.QueryRow(ctx, `SELECT max(t.position) FROM journal_transactions t
		JOIN journal_entries e USING (transaction_id) WHERE e.wallet_id = $1`, w[2]).Scan(&earlyPos))
	require.Greater(t, earlyPos, latePos, "the open transaction drew the lower position")

	// The committed higher position is not consumed past the open lower one.
	require.NoError(t, h.Drain(ctx))
	assert.Len(t, historyOf(t, l, w[2]), 1, "only the funding: the stream waits behind the open transaction")
	require.NoError(t, late.Commit(ctx))

	eventually(t, patience, func() bool {
		require.NoError(t, h.Drain(ctx))
		return len(historyOf(t, l, w[0])) == 2 && len(historyOf(t, l, w[2])) == 2
	}, "both transfers in the history")
	for _, c := range []struct {
		wallet  uuid.UUID
		amount  int64
		balance int64
		pos     int64
	}{{w[0], -7, 93, latePos}, {w[1], 7, 107, latePos}, {w[2], -9, 91, earlyPos}, {w[3], 9, 109, earlyPos}} {
		top := historyOf(t, l, c.wallet)[0]
		assert.Equal(t, c.amount, top.Amount)
		assert.Equal(t, c.balance, top.BalanceAfter)
		assert.Equal(t, c.pos, top.Position)
	}
	// Replaying the stream again changes nothing: the per-wallet cursor makes the projection idempotent.
	_, err = l.pool.Exec(ctx, `UPDATE read_side_checkpoints SET last_xid = '0', last_offset = 0 WHERE consumer = 'history'`)
	require.NoError(t, err)
	require.NoError(t, h.Drain(ctx))
	assert.Len(t, historyOf(t, l, w[0]), 2)
}

// A step projects at most Entries journal entries, and the stream's checkpoint moves past its events only once
// every wallet they name is caught up: a history far behind is caught up in bounded steps, none skipped.
func TestHistoryStepsAreBoundedAndCatchUp(t *testing.T) {
	ctx := context.Background()
	l := newLedger(t, freshPool(t))
	h, err := projector.NewHistoryProjector(l.store)
	require.NoError(t, err)
	h.Entries = 4
	a, b := l.wallet("BND"), l.wallet("BND")
	l.adjust(a, "BND", 1000)
	for range 9 {
		ok, err := l.transfer(ctx, a, b, "BND", 10)
		require.NoError(t, err)
		require.True(t, ok)
	}
	projected := func() int64 {
		var n int64
		require.NoError(t, l.pool.QueryRow(ctx, `SELECT count(*) FROM wallet_history WHERE wallet_id = ANY($1)`,
			[]uuid.UUID{a, b}).Scan(&n))
		return n
	}
	steps := 0
	eventually(t, patience, func() bool {
		before := projected()
		n, err := h.Step(ctx)
		require.NoError(t, err)
		require.LessOrEqual(t, projected()-before, int64(h.Entries), "a step projected more than its budget")
		steps++
		return n == 0 && pendingEvents(t, l, projector.ConsumerHistory) == 0
	}, "the history to catch up in bounded steps")
	assert.GreaterOrEqual(t, steps, 5, "19 entries at most 4 a step")
	assert.Zero(t, pendingEvents(t, l, projector.ConsumerHistory))
	for w, want := range map[uuid.UUID]int64{a: 910, b: 90} {
		entries := historyOf(t, l, w)
		require.NotEmpty(t, entries)
		assert.Equal(t, want, entries[0].BalanceAfter, "the running balance after the last entry")
	}
	assert.Len(t, historyOf(t, l, a), 10)
	assert.Len(t, historyOf(t, l, b), 9)
}

// The read side takes the outbox in xid order, numerically: the event of xid 99 comes before that of xid 100,
// though "100" sorts first as text.
func TestStreamIsReadInXidOrder(t *testing.T) {
	ctx := context.Background()
	l := newLedger(t, freshPool(t))
	for _, xid := range []string{"100", "99"} {
		_, err := l.pool.Exec(ctx, `INSERT INTO outbox_events (uuid, payload, metadata, transaction_id)
			VALUES ($1, json_build_object('wallet_ids', json_build_array($2::uuid)), '{}', $3::xid8)`,
			uuid.NewString(), uuid.New(), xid)
		require.NoError(t, err)
	}
	h, err := projector.NewHistoryProjector(l.store)
	require.NoError(t, err)
	h.Batch = 1
	checkpoint := func() string {
		var xid string
		require.NoError(t, l.pool.QueryRow(ctx, `SELECT last_xid::text FROM read_side_checkpoints
			WHERE consumer = $1`, projector.ConsumerHistory).Scan(&xid))
		return xid
	}
	for _, want := range []string{"99", "100"} {
		n, err := h.Step(ctx)
		require.NoError(t, err)
		require.Equal(t, 1, n)
		assert.Equal(t, want, checkpoint())
	}
}
