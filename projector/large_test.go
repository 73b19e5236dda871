package projector_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentic-commerce/wallet-ledger/eventstore"
	"github.com/agentic-commerce/wallet-ledger/internal/pgtest"
	"github.com/agentic-commerce/wallet-ledger/migrations"
	"github.com/agentic-commerce/wallet-ledger/projector"
)

// generateLedger writes a consistent ledger of about entries journal entries straight into a test database: one
// funding adjustment per wallet, then transfers between them, and the projections summed from that journal. The
// session runs as a replica so the per-row balance triggers and foreign keys (checked by the ledger's own tests)
// do not dominate the time; the audit then checks what they would have.
func generateLedger(t *testing.T, pool *pgxpool.Pool, wallets, entries int) {
	t.Helper()
	ctx := context.Background()
	transfers := (entries - 2*wallets) / 2
	require.Greater(t, transfers, 0)
	sys := eventstore.SystemWalletID(systemBase, "LRG")
	conn, err := pool.Acquire(ctx)
	require.NoError(t, err)
	defer conn.Release()
	wid := `('10000000-0000-4000-8000-' || lpad(to_hex(%s), 12, '0'))::uuid`
	for _, q := range []string{
		`SET session_replication_role = replica`,
		`SET statement_timeout = 0`,
		// Bulk loads build indexes faster once than row by row; they are recreated as 001 defines them.
		`DROP INDEX journal_entries_wallet_idx`,
		`DROP INDEX journal_entries_transaction_idx`,
		fmt.Sprintf(`INSERT INTO wallets (wallet_id, asset, owner, kind, created_at)
			SELECT %s, 'LRG', 'bulk-' || i, 'user', '2026-01-01' FROM generate_series(1, %d) i`, fmt.Sprintf(wid, "i"), wallets),
		fmt.Sprintf(`INSERT INTO wallets (wallet_id, asset, owner, kind, created_at)
			VALUES ('%s', 'LRG', 'system', 'system', '2026-01-01')`, sys),
		fmt.Sprintf(`INSERT INTO journal_transactions (transaction_id, position, kind, asset, amount, sub, idempotency_key,
				request_hash, created_at)
			SELECT md5('f' || i)::uuid, i, 'adjustment', 'LRG', 1000000, 'bulk', 'f' || i, '\x00',
				'2026-01-01'::timestamptz + i * interval '1 ms' FROM generate_series(1, %d) i`, wallets),
		fmt.Sprintf(`INSERT INTO journal_entries (transaction_id, wallet_id, asset, amount)
			SELECT md5('f' || i)::uuid, w, 'LRG', a FROM generate_series(1, %d) i,
				LATERAL (VALUES (%s, 1000000::bigint), ('%s'::uuid, -1000000::bigint)) v(w, a)`,
			wallets, fmt.Sprintf(wid, "i"), sys),
		fmt.Sprintf(`INSERT INTO journal_transactions (transaction_id, position, kind, asset, amount, sub, idempotency_key,
				request_hash, created_at)
			SELECT md5('t' || i)::uuid, %d + i, 'transfer', 'LRG', 1 + i %% 100, 'bulk', 't' || i, '\x00',
				'2026-02-01'::timestamptz + i * interval '1 ms' FROM generate_series(1, %d) i`, wallets, transfers),
		fmt.Sprintf(`INSERT INTO journal_entries (transaction_id, wallet_id, asset, amount)
			SELECT md5('t' || i)::uuid, w, 'LRG', a FROM generate_series(1, %d) i,
				LATERAL (VALUES (%s, -(1 + i %% 100)::bigint), (%s, (1 + i %% 100)::bigint)) v(w, a)`,
			transfers, fmt.Sprintf(wid, fmt.Sprintf("1 + (i::bigint * 7919) %% %d", wallets)),
			fmt.Sprintf(wid, fmt.Sprintf("1 + (i::bigint * 7919 + 1 + i %% 13) %% %d", wallets))),
		`CREATE INDEX journal_entries_wallet_idx ON journal_entries (wallet_id, entry_id)`,
		`CREATE INDEX journal_entries_transaction_idx ON journal_entries (transaction_id)`,
		`INSERT INTO balance_projections (wallet_id, asset, kind, balance, held, version, updated_at)
			SELECT w.wallet_id, w.asset, w.kind, coalesce(sum(e.amount), 0), 0, count(DISTINCT e.transaction_id),
				coalesce(max(t.created_at), w.created_at)
			FROM wallets w LEFT JOIN journal_entries e ON e.wallet_id = w.wallet_id
			LEFT JOIN journal_transactions t ON t.transaction_id = e.transaction_id
			WHERE w.asset = 'LRG' GROUP BY w.wallet_id`,
		fmt.Sprintf(`SELECT setval('journal_position_seq', %d)`, wallets+transfers),
		`SET session_replication_role = DEFAULT`,
		`ANALYZE`,
	} {
		began := time.Now()
		_, err := conn.Exec(ctx, q)
		require.NoError(t, err, q)
		if d := time.Since(began); d > time.Second {
			text := strings.Join(strings.Fields(q), " ")
			t.Logf("%s: %s", d.Round(time.Millisecond), text[:min(len(text), 60)])
		}
	}
}

// A million-entry ledger: the full sweep (what cmd/audit runs) finishes and is clean, and the incremental pass
// costs what the wallets it touches cost, not what the ledger weighs. Skipped with -short; LARGE_LEDGER_ENTRIES
// changes the size.
func TestLargeLedgerAudit(t *testing.T) {
	if testing.Short() {
		t.Skip("large ledger: generates a million journal entries; run without -short")
	}
	entries := 1_000_000
	if v := os.Getenv("LARGE_LEDGER_ENTRIES"); v != "" {
		n, err := strconv.Atoi(v)
		require.NoError(t, err)
		entries = n
	}
	const wallets = 10_000
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, pgtest.NewDatabase(t, migrations.Apply))
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	start := time.Now()
	generateLedger(t, pool, wallets, entries)
	t.Logf("generated %d entries over %d wallets in %s", entries, wallets, time.Since(start).Round(time.Millisecond))

	l := newLedger(t, pool)
	auditor, err := projector.NewAuditor(l.store, nil)
	require.NoError(t, err)
	start = time.Now()
	full, err := auditor.Full(ctx)
	fullTime := time.Since(start)
	require.NoError(t, err)
	require.True(t, full.Clean(), "%+v", full.Findings)
	assert.Equal(t, int64(wallets+1), full.Wallets)
	assert.GreaterOrEqual(t, full.Transactions, int64(entries/2-wallets))
	t.Logf("full audit: %d wallets, %d transactions in %s", full.Wallets, full.Transactions, fullTime.Round(time.Millisecond))

	start = time.Now()
	plan, err := projector.PlanRebuild(ctx, l.store)
	require.NoError(t, err)
	assert.Empty(t, plan.Diffs)
	t.Logf("rebuild dry run (replay of %d transactions): %s", plan.Transactions, time.Since(start).Round(time.Millisecond))

	// Incremental passes over k transfers through the real write path, each between two bulk wallets.
	bulk := func(i int) uuid.UUID { return uuid.MustParse(fmt.Sprintf("10000000-0000-4000-8000-%012x", i)) }
	incremental := func(k int) (projector.Report, time.Duration) {
		for i := 0; i < k; i++ {
			ok, err := l.transfer(ctx, bulk(1+2*i), bulk(2+2*i), "LRG", 5)
			require.NoError(t, err)
			require.True(t, ok)
		}
		// The stream reads a row once no older transaction of the (shared) cluster runs; wait for that, so the timed
		// pass sees all k transfers.
		eventually(t, time.Minute, func() bool {
			var waiting bool
			require.NoError(t, pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM outbox_events
				WHERE transaction_id >= pg_snapshot_xmin(pg_current_snapshot()))`).Scan(&waiting))
			return !waiting
		}, "the outbox rows to be readable")
		start := time.Now()
		r, err := auditor.Incremental(ctx)
		d := time.Since(start)
		require.NoError(t, err)
		require.True(t, r.Clean(), "%+v", r.Findings)
		return r, d
	}
	cold, coldTime := incremental(10)
	t.Logf("incremental, first sight of %d wallets: %s", cold.Wallets, coldTime.Round(time.Microsecond))
	warm10, warm10Time := incremental(10)
	cold200, cold200Time := incremental(200)
	warm200, warm200Time := incremental(200)
	t.Logf("incremental, %d wallets touched: %s; %d wallets touched (380 first seen): %s; the same %d again: %s (full sweep %s)",
		warm10.Wallets, warm10Time.Round(time.Microsecond), cold200.Wallets, cold200Time.Round(time.Microsecond),
		warm200.Wallets, warm200Time.Round(time.Microsecond), fullTime.Round(time.Millisecond))
	assert.Equal(t, int64(20), warm10.Wallets)
	assert.Equal(t, int64(400), cold200.Wallets)
	assert.Equal(t, int64(400), warm200.Wallets)
	// Its work follows what was touched, not the ledger's size: the transactions it checks are the new ones. (The
	// times above are measurements for docs/performance.md, not assertions: speed is never asserted by a test.)
	assert.Equal(t, int64(10), warm10.Transactions)
	assert.Equal(t, int64(200), warm200.Transactions)
	assert.Less(t, warm200.Transactions*100, full.Transactions)
}
