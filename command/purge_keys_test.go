package command_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentic-commerce/wallet-ledger/command"
	"github.com/agentic-commerce/wallet-ledger/eventstore"
	"github.com/agentic-commerce/wallet-ledger/internal/pgtest"
	"github.com/agentic-commerce/wallet-ledger/migrations"
)

// One purge removes every expired key, however many batches that takes, and no live one; purges running at once
// (one per wallet-api replica) split the work without deleting anything twice or waiting on each other.
func TestPurgeExpiredKeysRemovesEveryExpiredKeyAndNoLiveOne(t *testing.T) {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, pgtest.NewDatabase(t, migrations.Apply))
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	store, err := eventstore.NewStore(pool)
	require.NoError(t, err)
	cmds, err := command.New(store, uuid.MustParse("00000000-0000-0000-0000-000000000001"), 48*time.Hour)
	require.NoError(t, err)
	t.Cleanup(cmds.Close)
	insert := func(prefix string, n int, expires string) {
		t.Helper()
		_, err := pool.Exec(ctx, `INSERT INTO idempotency_keys (sub, idempotency_key, request_hash, status_code, response_body, expires_at)
			SELECT 'purge-test', $1 || i, '\x00', 201, '{}', now() + $3::interval FROM generate_series(1, $2) i`,
			prefix, n, expires)
		require.NoError(t, err)
	}
	count := func() (n int64) {
		t.Helper()
		require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM idempotency_keys`).Scan(&n))
		return n
	}

	insert("expired-", 12_345, "-1 hour")
	insert("live-", 100, "47 hours")
	n, err := cmds.PurgeExpiredKeys(ctx)
	require.NoError(t, err)
	assert.EqualValues(t, 12_345, n, "more than two batches of expired keys, all gone in one run")
	assert.EqualValues(t, 100, count())

	insert("expired-again-", 30_000, "-1 minute")
	var wg sync.WaitGroup
	var mu sync.Mutex
	var total int64
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n, err := cmds.PurgeExpiredKeys(ctx)
			assert.NoError(t, err)
			mu.Lock()
			total += n
			mu.Unlock()
		}()
	}
	wg.Wait()
	assert.EqualValues(t, 30_000, total, "concurrent purges delete each key once")
	assert.EqualValues(t, 100, count(), "and only expired ones")
}
