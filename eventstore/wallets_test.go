package eventstore_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentic-commerce/wallet-ledger/eventstore"
	"github.com/agentic-commerce/wallet-ledger/internal/pgtest"
)

// race runs writers transactions at once, each sending the batch queue fills and then holding the transaction
// open a moment, as a write does, so they overlap; it returns each one's error.
func race(t *testing.T, store *eventstore.Store, writers int, queue func(b *pgx.Batch)) []error {
	t.Helper()
	ctx := context.Background()
	start := make(chan struct{})
	errs := make([]error, writers)
	var wg sync.WaitGroup
	for i := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			errs[i] = store.InTx(ctx, func(tx pgx.Tx) error {
				b := &pgx.Batch{}
				queue(b)
				if err := tx.SendBatch(ctx, b).Close(); err != nil {
					return err
				}
				_, err := tx.Exec(ctx, "SELECT pg_sleep(0.005)")
				return err
			})
		}()
	}
	close(start)
	wg.Wait()
	return errs
}

// The first adjustments of a new asset race to create its system wallet. Every one of them must succeed: the
// wallet exists once, and no request fails on a unique key of wallets other than the one it named.
func TestEnsureSystemWalletIsSafeUnderConcurrency(t *testing.T) {
	store, err := eventstore.NewStore(pgtest.Pool(t))
	require.NoError(t, err)
	credited := uuid.New()
	_, err = pgtest.Pool(t).Exec(context.Background(), `INSERT INTO wallets (wallet_id, asset, owner, kind, created_at)
		VALUES ($1, 'RACE', 'o', 'user', now())`, credited)
	require.NoError(t, err)
	for round := range 20 {
		id := uuid.New()
		errs := race(t, store, 12, func(b *pgx.Batch) {
			eventstore.QueueEnsureSystemWallet(b, id, "RACE", []uuid.UUID{credited}, time.Now())
		})
		for i, err := range errs {
			assert.NoError(t, err, "round %d writer %d", round, i)
		}
		var n int
		require.NoError(t, pgtest.Pool(t).QueryRow(context.Background(),
			`SELECT count(*) FROM wallets WHERE wallet_id = $1`, id).Scan(&n))
		assert.Equal(t, 1, n)
	}
}

// Concurrent creations of one wallet_id: one wins, every other gets ErrWalletExists (a 409), whichever of the
// wallet's unique keys PostgreSQL happens to check first.
func TestConcurrentCreationsOfOneWalletConflict(t *testing.T) {
	store, err := eventstore.NewStore(pgtest.Pool(t))
	require.NoError(t, err)
	for round := range 20 {
		w := eventstore.Wallet{ID: uuid.New(), Asset: "USD", Owner: "o", Kind: eventstore.KindUser, CreatedAt: time.Now()}
		errs := race(t, store, 8, func(b *pgx.Batch) { eventstore.QueueInsertWallet(b, w) })
		won := 0
		for i, err := range errs {
			if err == nil {
				won++
				continue
			}
			assert.ErrorIs(t, err, eventstore.ErrWalletExists, "round %d writer %d", round, i)
		}
		assert.Equal(t, 1, won, "round %d", round)
	}
}
