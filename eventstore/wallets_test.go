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

// The first adjustments of a new asset race to create its system wallet. Every one of them must succeed: the
// wallet exists once, and no request fails on a unique key of wallets other than the one it named.
func TestEnsureSystemWalletIsSafeUnderConcurrency(t *testing.T) {
	ctx := context.Background()
	store, err := eventstore.NewStore(pgtest.Pool(t))
	require.NoError(t, err)
	for round := range 20 {
		id := uuid.New()
		const writers = 12
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
					eventstore.QueueEnsureSystemWallet(b, id, "RACE", time.Now())
					if err := tx.SendBatch(ctx, b).Close(); err != nil {
						return err
					}
					// Hold the transaction open a moment, as a write does, so the others overlap it.
					_, err := tx.Exec(ctx, "SELECT pg_sleep(0.005)")
					return err
				})
			}()
		}
		close(start)
		wg.Wait()
		for i, err := range errs {
			assert.NoError(t, err, "round %d writer %d", round, i)
		}
		var n int
		require.NoError(t, pgtest.Pool(t).QueryRow(ctx, `SELECT count(*) FROM wallets WHERE wallet_id = $1`, id).Scan(&n))
		assert.Equal(t, 1, n)
	}
}

// Concurrent creations of one wallet_id: one wins, every other gets ErrWalletExists (a 409), whichever of the
// wallet's unique keys PostgreSQL happens to check first.
func TestConcurrentCreationsOfOneWalletConflict(t *testing.T) {
	ctx := context.Background()
	store, err := eventstore.NewStore(pgtest.Pool(t))
	require.NoError(t, err)
	for round := range 20 {
		id := uuid.New()
		const writers = 8
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
					eventstore.QueueInsertWallet(b, eventstore.Wallet{ID: id, Asset: "USD", Owner: "o", Kind: eventstore.KindUser, CreatedAt: time.Now()})
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
