package eventstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentic-commerce/wallet-ledger/eventstore"
	"github.com/agentic-commerce/wallet-ledger/internal/pgtest"
)

func walletCount(t *testing.T, id uuid.UUID) int {
	t.Helper()
	var n int
	require.NoError(t, pgtest.Pool(t).QueryRow(context.Background(), `SELECT count(*) FROM wallets WHERE wallet_id = $1`, id).Scan(&n))
	return n
}

func queueWallet(b *pgx.Batch, id uuid.UUID) {
	eventstore.QueueInsertWallet(b, eventstore.Wallet{ID: id, Asset: "USD", Owner: "o", Kind: eventstore.KindUser, CreatedAt: time.Now()})
}

func TestWriteTxCommitsInTheFinalBatch(t *testing.T) {
	ctx := context.Background()
	store, err := eventstore.NewStore(pgtest.Pool(t))
	require.NoError(t, err)
	a, b := uuid.New(), uuid.New()
	err = store.InWriteTx(ctx, func(w *eventstore.WriteTx) error {
		first := &pgx.Batch{}
		queueWallet(first, a)
		if err := w.Send(ctx, first); err != nil {
			return err
		}
		assert.Equal(t, 0, walletCount(t, a), "nothing is visible before COMMIT")
		second := &pgx.Batch{}
		queueWallet(second, b)
		return w.SendAndCommit(ctx, second)
	})
	require.NoError(t, err)
	assert.Equal(t, 1, walletCount(t, a))
	assert.Equal(t, 1, walletCount(t, b))
}

func TestWriteTxFailureInTheFinalBatchCommitsNothing(t *testing.T) {
	ctx := context.Background()
	store, err := eventstore.NewStore(pgtest.Pool(t))
	require.NoError(t, err)
	existing, fresh := uuid.New(), uuid.New()
	require.NoError(t, store.InWriteTx(ctx, func(w *eventstore.WriteTx) error {
		b := &pgx.Batch{}
		queueWallet(b, existing)
		return w.SendAndCommit(ctx, b)
	}))
	err = store.InWriteTx(ctx, func(w *eventstore.WriteTx) error {
		b := &pgx.Batch{}
		queueWallet(b, fresh)
		queueWallet(b, existing) // fails: the COMMIT after it must never run
		return w.SendAndCommit(ctx, b)
	})
	assert.ErrorIs(t, err, eventstore.ErrWalletExists)
	assert.Equal(t, 0, walletCount(t, fresh))
}

func TestWriteTxReportsADeferredCheckFailingAtCommit(t *testing.T) {
	ctx := context.Background()
	store, err := eventstore.NewStore(pgtest.Pool(t))
	require.NoError(t, err)
	txID := uuid.New()
	err = store.InWriteTx(ctx, func(w *eventstore.WriteTx) error {
		b := &pgx.Batch{}
		b.Queue(`INSERT INTO journal_transactions (transaction_id, position, kind, asset, amount, sub, idempotency_key,
			request_hash, created_at) VALUES ($1, nextval('journal_position_seq'), 'transfer', 'USD', 1, 'x', $2, '\x00', now())`,
			txID, uuid.NewString())
		return w.SendAndCommit(ctx, b) // no entries: the deferred trigger refuses it at COMMIT
	})
	require.Error(t, err)
	assert.Equal(t, "LJ002", sqlState(err))
	var n int
	require.NoError(t, pgtest.Pool(t).QueryRow(ctx, `SELECT count(*) FROM journal_transactions WHERE transaction_id = $1`, txID).Scan(&n))
	assert.Zero(t, n)
}

func TestWriteTxWithoutCommitRollsBack(t *testing.T) {
	ctx := context.Background()
	store, err := eventstore.NewStore(pgtest.Pool(t))
	require.NoError(t, err)
	id := uuid.New()
	err = store.InWriteTx(ctx, func(w *eventstore.WriteTx) error {
		b := &pgx.Batch{}
		queueWallet(b, id)
		return w.Send(ctx, b)
	})
	require.Error(t, err)
	assert.Equal(t, 0, walletCount(t, id))
}

func TestExhaustedPoolShedsInsteadOfQueueing(t *testing.T) {
	ctx := context.Background()
	cfg, err := pgxpool.ParseConfig(pgtest.URL(t))
	require.NoError(t, err)
	cfg.MaxConns = 1
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	require.NoError(t, err)
	defer pool.Close()
	held, err := pool.Acquire(ctx)
	require.NoError(t, err)
	defer held.Release()

	store, err := eventstore.NewStore(pool)
	require.NoError(t, err)
	store.SetAcquireTimeout(100 * time.Millisecond)
	// The only connection is held until the test ends and the context has no deadline: a write that queued for it
	// would wait forever, so answering at all is the proof it was shed. The bound only keeps a regression from
	// hanging the suite.
	done := make(chan struct{})
	go func() {
		defer close(done)
		err = store.InWriteTx(ctx, func(*eventstore.WriteTx) error { return nil })
	}()
	pgtest.WaitOrTimeout(t, done, time.Minute)
	assert.ErrorIs(t, err, eventstore.ErrUnavailable)
}
