package main

import (
	"context"
	"math/rand/v2"
	"net/http"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentic-commerce/wallet-ledger/internal/auth"
)

// Many goroutines move money among a few wallets (hot rows, both directions, overdrafts included). At the end
// money is conserved per asset, no user balance is negative and every projection equals its journal sum.
func TestConcurrentTransfersConserveMoney(t *testing.T) {
	a := newIsolatedAPI(t) // the checks below read every projection of the database
	alice := token(t, "alice", auth.ScopeRead, auth.ScopeWrite)
	const walletsN, workers, perWorker, funding = 4, 12, 40, 1000
	wallets := make([]string, walletsN)
	for i := range wallets {
		wallets[i] = a.createWallet(alice, "CONC")
		a.fund(wallets[i], "CONC", funding)
	}

	var mu sync.Mutex
	statuses := map[int]int{}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			for range perWorker {
				i, j := rng.IntN(walletsN), rng.IntN(walletsN-1)
				if j >= i {
					j++
				}
				r := a.post(alice, "/v1/transfers", map[string]any{"from_wallet_id": wallets[i], "to_wallet_id": wallets[j],
					"amount": 1 + rng.IntN(400), "asset": "CONC"})
				mu.Lock()
				statuses[r.Status]++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	t.Logf("statuses: %v", statuses)
	require.Zero(t, statuses[http.StatusInternalServerError]+statuses[http.StatusServiceUnavailable]+statuses[http.StatusConflict],
		"no request may fail for any reason but insufficient funds: %v", statuses)
	assert.Equal(t, workers*perWorker, statuses[http.StatusCreated]+statuses[http.StatusUnprocessableEntity])
	assert.Positive(t, statuses[http.StatusCreated])

	ctx := context.Background()
	pool := a.app.pool
	var total, negatives, mismatched int64
	require.NoError(t, pool.QueryRow(ctx, `SELECT coalesce(sum(balance), 0) FROM balance_projections WHERE asset = 'CONC'`).Scan(&total))
	assert.Zero(t, total, "user and system balances of an asset sum to zero")
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM balance_projections WHERE kind = 'user' AND balance < 0`).Scan(&negatives))
	assert.Zero(t, negatives)
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM balance_projections p WHERE p.balance <>
		(SELECT coalesce(sum(amount), 0) FROM journal_entries e WHERE e.wallet_id = p.wallet_id)`).Scan(&mismatched))
	assert.Zero(t, mismatched, "every projection equals its journal sum")
	var userSum int64
	for _, w := range wallets {
		userSum += a.balance(w)
		audit := a.get(alice, "/v1/wallets/"+w+"/balance/audit").JSON(t)
		assert.Equal(t, true, audit["consistent"])
	}
	assert.EqualValues(t, walletsN*funding, userSum, "transfers only move money between the user wallets")
}
