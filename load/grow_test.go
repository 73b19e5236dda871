package load_test

import (
	"context"
	"crypto/md5"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentic-commerce/wallet-ledger/command"
	"github.com/agentic-commerce/wallet-ledger/eventstore"
	"github.com/agentic-commerce/wallet-ledger/internal/auth"
	"github.com/agentic-commerce/wallet-ledger/internal/pgtest"
	"github.com/agentic-commerce/wallet-ledger/load"
	"github.com/agentic-commerce/wallet-ledger/migrations"
	"github.com/agentic-commerce/wallet-ledger/projector"
)

// The grown ledger of make test: 200,000 journal entries over 20,000 wallets, one of them busy, and the outbox
// events and idempotency keys of the last 50,000 transfers. Every table is large enough that the planner's choice
// is the one it makes at scale (a table of a few pages is read whole whatever the query). bench-grown grows the
// same shape to 10 million entries over 100,000 wallets (scripts/bench_grown.sh).
var grownShape = load.GrowConfig{Entries: 200_000, Wallets: 20_000, Holds: 2_000, Mandates: 2_000, Recent: 50_000}

// grown is a grown database and the ledger's own packages on it; rec records every statement its pool runs.
type grown struct {
	url   string
	pool  *pgxpool.Pool
	rec   *pgtest.Recorder
	store *eventstore.Store
	cmds  *command.Commands
}

func growLedger(t *testing.T, cfg load.GrowConfig) *grown {
	t.Helper()
	ctx := context.Background()
	g := &grown{url: pgtest.NewDatabase(t, migrations.Apply), rec: pgtest.NewRecorder()}
	conn, err := pgx.Connect(ctx, g.url)
	require.NoError(t, err)
	defer conn.Close(ctx)
	start := time.Now()
	res, err := load.Grow(ctx, conn, cfg)
	require.NoError(t, err)
	t.Logf("grew %d entries, %d transactions over %d wallets in %s", res.Entries, res.Transactions, res.Wallets,
		time.Since(start).Round(time.Millisecond))

	poolCfg, err := eventstore.NewPoolConfig(g.url, 4, time.Minute, 10*time.Second)
	require.NoError(t, err)
	poolCfg.ConnConfig.Tracer = g.rec
	g.pool, err = pgxpool.NewWithConfig(ctx, poolCfg)
	require.NoError(t, err)
	t.Cleanup(g.pool.Close)
	g.store, err = eventstore.NewStore(g.pool)
	require.NoError(t, err)
	g.cmds, err = command.New(g.store, load.DefaultSystemWalletID, 48*time.Hour)
	require.NoError(t, err)
	t.Cleanup(g.cmds.Close)
	return g
}

func (g *grown) count(t *testing.T, sql string, args ...any) int64 {
	t.Helper()
	var n int64
	require.NoError(t, g.pool.QueryRow(context.Background(), sql, args...).Scan(&n), sql)
	return n
}

// md5ID is the ID Grow gives the record named name (md5(name)::uuid in SQL).
func md5ID(name string) uuid.UUID { return uuid.UUID(md5.Sum([]byte(name))) }

func (g *grown) transfer(t *testing.T, from, to uuid.UUID, amount int64) {
	t.Helper()
	key := uuid.NewString()
	out, err := g.cmds.Transfer.Run(context.Background(), auth.Caller{Sub: load.LoadSub, Scopes: []string{auth.ScopeWrite}},
		command.Idempotency{Sub: load.LoadSub, Key: key, Hash: command.RequestHash("POST", "/v1/transfers", []byte(key))},
		command.Transfer{FromWalletID: from, ToWalletID: to, Amount: amount, Asset: "USD"})
	require.NoError(t, err)
	require.Equal(t, 201, out.Status, "%s", out.Body)
}

// A database grown by walletctl seed --entries is a ledger like one the API wrote, and it is read by key.
func TestGrownLedger(t *testing.T) {
	g := growLedger(t, grownShape)
	t.Run("is consistent", func(t *testing.T) { checkConsistent(t, g) })
	t.Run("is read by key", func(t *testing.T) { checkPlans(t, g) })
}

// checkConsistent: every audit finds the grown ledger clean, the projection rebuild finds nothing to change, the
// history and the audit's prefix sums agree with the journal, no user balance was ever below zero, the live write
// path and the read side carry on from it, a second grow writes nothing and a used database is refused.
func checkConsistent(t *testing.T, g *grown) {
	ctx := context.Background()
	transfers := int64((grownShape.Entries - 2*grownShape.Wallets - 2*grownShape.Holds) / 2)

	assert.EqualValues(t, grownShape.Entries, g.count(t, `SELECT count(*) FROM journal_entries`))
	assert.EqualValues(t, int64(grownShape.Wallets)+transfers+int64(grownShape.Holds), g.count(t, `SELECT count(*) FROM journal_transactions`))
	assert.EqualValues(t, grownShape.Wallets+1, g.count(t, `SELECT count(*) FROM wallets`))
	assert.EqualValues(t, grownShape.Holds, g.count(t, `SELECT count(*) FROM holds WHERE status = 'active'`))
	assert.EqualValues(t, grownShape.Mandates, g.count(t, `SELECT count(*) FROM mandates WHERE status = 'active'`))
	assert.Zero(t, g.count(t, `SELECT count(*) FROM journal_entries e LEFT JOIN journal_transactions t USING (transaction_id)
		WHERE t.transaction_id IS NULL`), "every entry belongs to a transaction")
	assert.Zero(t, g.count(t, `SELECT count(*) FROM wallet_history h JOIN wallets w USING (wallet_id)
		WHERE w.kind = 'user' AND (h.balance_after < h.held_after OR h.held_after < 0)`), "no user balance ever below zero")
	assert.Zero(t, g.count(t, `SELECT count(*) FROM audit_wallet_sums s
		JOIN (SELECT wallet_id, sum(amount) AS bal, max(entry_id) AS last, count(*) AS n FROM journal_entries GROUP BY wallet_id) j
		USING (wallet_id) WHERE s.balance <> j.bal OR s.last_entry_id <> j.last OR s.entry_count <> j.n`),
		"the audit's prefix sums are the journal's")
	busy := g.count(t, `SELECT count(*) FROM journal_entries WHERE wallet_id = $1`, load.WalletID(0))
	assert.Greater(t, busy, 3*g.count(t, `SELECT count(*) FROM journal_entries WHERE wallet_id = $1`, load.WalletID(1)),
		"wallet 0 is the busy one")

	auditor, err := projector.NewAuditor(g.store, nil)
	require.NoError(t, err)
	full, err := auditor.Full(ctx)
	require.NoError(t, err)
	assert.True(t, full.Clean(), "%+v", full.Findings)
	plan, err := projector.PlanRebuild(ctx, g.store)
	require.NoError(t, err)
	assert.Empty(t, plan.Diffs, "the projections are what a replay of the journal gives, version and time included")

	// The live write path and the read models carry on from the grown state.
	g.transfer(t, load.WalletID(5), load.WalletID(0), 42)
	history, err := projector.NewHistoryProjector(g.store)
	require.NoError(t, err)
	waitReadable(t, g.url)
	require.NoError(t, history.Drain(ctx))
	var after, balance int64
	require.NoError(t, g.pool.QueryRow(ctx, `SELECT h.balance_after, p.balance FROM wallet_history h
		JOIN balance_projections p USING (wallet_id) WHERE h.wallet_id = $1 ORDER BY h.entry_id DESC LIMIT 1`,
		load.WalletID(0)).Scan(&after, &balance))
	assert.Equal(t, balance, after, "the history projector continued the grown history")
	inc, err := auditor.Incremental(ctx)
	require.NoError(t, err)
	assert.True(t, inc.Clean(), "%+v", inc.Findings)
	assert.EqualValues(t, 2, inc.Wallets)

	// Grown once: a second run writes nothing, and a database with other entries is refused.
	conn, err := pgx.Connect(ctx, g.url)
	require.NoError(t, err)
	defer conn.Close(ctx)
	again, err := load.Grow(ctx, conn, grownShape)
	require.NoError(t, err)
	assert.True(t, again.AlreadyGrown)
	assert.EqualValues(t, grownShape.Entries+2, again.Entries, "the grown entries and the one transfer since")
	// A grow that stopped part way (its last step, the audit's prefix sums, missing) is not taken for a finished one.
	_, err = g.pool.Exec(ctx, `CREATE TABLE saved_sums AS SELECT * FROM audit_wallet_sums; DELETE FROM audit_wallet_sums`)
	require.NoError(t, err)
	_, err = load.Grow(ctx, conn, grownShape)
	require.ErrorContains(t, err, "stopped part way")
	_, err = g.pool.Exec(ctx, `INSERT INTO audit_wallet_sums SELECT * FROM saved_sums; DROP TABLE saved_sums`)
	require.NoError(t, err)

	used := pgtest.NewDatabase(t, migrations.Apply)
	ustore, err := eventstore.NewStore(mustPool(t, used))
	require.NoError(t, err)
	ucmds, err := command.New(ustore, load.DefaultSystemWalletID, 48*time.Hour)
	require.NoError(t, err)
	defer ucmds.Close()
	ops := auth.Caller{Sub: "ops", Scopes: []string{auth.ScopeAdmin}}
	w := uuid.New()
	_, err = ucmds.CreateWallet.Run(ctx, ops, command.Idempotency{Sub: "ops", Key: "w", Hash: []byte("w")},
		command.CreateWallet{WalletID: w, Asset: "USD", Owner: "someone"})
	require.NoError(t, err)
	_, err = ucmds.Adjust.Run(ctx, ops, command.Idempotency{Sub: "ops", Key: "a", Hash: []byte("a")},
		command.Adjustment{WalletID: w, Amount: 10, Asset: "USD", Reason: "live money"})
	require.NoError(t, err)
	uconn, err := pgx.Connect(ctx, used)
	require.NoError(t, err)
	defer uconn.Close(ctx)
	_, err = load.Grow(ctx, uconn, grownShape)
	require.ErrorContains(t, err, "grow a fresh, migrated database")
}

func mustPool(t *testing.T, url string) *pgxpool.Pool {
	t.Helper()
	p, err := pgxpool.New(context.Background(), url)
	require.NoError(t, err)
	t.Cleanup(p.Close)
	return p
}

// waitReadable waits until no transaction older than the newest outbox row runs on the (shared) cluster: the read
// side reads a row only then. It uses a connection of its own, so its query is not among those recorded.
func waitReadable(t *testing.T, url string) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	require.NoError(t, err)
	defer conn.Close(ctx)
	deadline := time.Now().Add(time.Minute)
	for {
		var waiting bool
		require.NoError(t, conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM outbox_events
			WHERE transaction_id >= pg_snapshot_xmin(pg_current_snapshot()))`).Scan(&waiting))
		if !waiting {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("outbox rows never became readable")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
