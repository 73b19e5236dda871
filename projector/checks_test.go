package projector_test

import (
	"context"
	"sort"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentic-commerce/wallet-ledger/internal/pgtest"
	"github.com/agentic-commerce/wallet-ledger/migrations"
	"github.com/agentic-commerce/wallet-ledger/projector"
)

// Every check fires on what it guards against. The database itself refuses these states (deferred balance
// triggers, foreign keys), so they are written in replica mode, in a database of their own: the audit is the
// second line for the day a constraint is dropped or bypassed.
func TestEveryCheckFires(t *testing.T) {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, pgtest.NewDatabase(t, migrations.Apply))
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	l := newLedger(t, pool)
	a, b := l.wallet("JPY"), l.wallet("JPY")
	l.adjust(a, "JPY", 1000)
	noProjection := l.wallet("JPY")
	orphan, unbalanced, single, mixed := uuid.New(), uuid.New(), uuid.New(), uuid.New()

	conn, err := pool.Acquire(ctx)
	require.NoError(t, err)
	defer conn.Release()
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{`SET session_replication_role = replica`, nil},
		{`DELETE FROM balance_projections WHERE wallet_id = $1`, []any{noProjection}},
		{`INSERT INTO balance_projections (wallet_id, asset, kind, balance) VALUES ($1, 'JPY', 'user', 0)`, []any{orphan}},
		{`INSERT INTO journal_transactions (transaction_id, position, kind, asset, amount, sub, idempotency_key,
			request_hash, created_at) SELECT id, nextval('journal_position_seq'), 'transfer', 'JPY', 5, 'x', id::text,
			'\x00', now() FROM unnest($1::uuid[]) id`, []any{[]uuid.UUID{unbalanced, single, mixed}}},
		// Unbalanced: a pays 5, b receives 6; projections follow, so only the transaction is wrong.
		{`INSERT INTO journal_entries (transaction_id, wallet_id, asset, amount) VALUES ($1, $2, 'JPY', -5), ($1, $3, 'JPY', 6)`,
			[]any{unbalanced, a, b}},
		{`UPDATE balance_projections SET balance = balance - 5 WHERE wallet_id = $1`, []any{a}},
		{`UPDATE balance_projections SET balance = balance + 6 WHERE wallet_id = $1`, []any{b}},
		// One entry only (a zero-sum pair cannot be one entry, so it is also unbalanced; too-few wins).
		{`INSERT INTO journal_entries (transaction_id, wallet_id, asset, amount) VALUES ($1, $2, 'JPY', 1)`, []any{single, b}},
		{`UPDATE balance_projections SET balance = balance + 1 WHERE wallet_id = $1`, []any{b}},
		// Balanced, but one entry is in another asset than the transaction and its wallet.
		{`INSERT INTO journal_entries (transaction_id, wallet_id, asset, amount) VALUES ($1, $2, 'JPY', -3), ($1, $3, 'USD', 3)`,
			[]any{mixed, a, b}},
		{`UPDATE balance_projections SET balance = balance - 3 WHERE wallet_id = $1`, []any{a}},
		{`UPDATE balance_projections SET balance = balance + 3 WHERE wallet_id = $1`, []any{b}},
		{`SET session_replication_role = DEFAULT`, nil},
	} {
		_, err := conn.Exec(ctx, q.sql, q.args...)
		require.NoError(t, err, q.sql)
	}

	auditor, err := projector.NewAuditor(l.store, nil)
	require.NoError(t, err)
	r, err := auditor.Full(ctx)
	require.NoError(t, err)
	var kinds []string
	byKind := map[string]projector.Finding{}
	for _, f := range r.Findings {
		kinds = append(kinds, f.Kind)
		byKind[f.Kind] = f
	}
	sort.Strings(kinds)
	assert.Equal(t, []string{projector.FindingAssetSumNotZero, projector.FindingMissingProjection,
		projector.FindingOrphanProjection, projector.FindingAssetMismatch, projector.FindingTooFewEntries,
		projector.FindingUnbalanced}, kinds, "%+v", r.Findings)
	assert.Equal(t, noProjection, *byKind[projector.FindingMissingProjection].WalletID)
	assert.Equal(t, orphan, *byKind[projector.FindingOrphanProjection].WalletID)
	assert.Equal(t, unbalanced, *byKind[projector.FindingUnbalanced].TransactionID)
	assert.Equal(t, "1", byKind[projector.FindingUnbalanced].Sum)
	assert.Equal(t, single, *byKind[projector.FindingTooFewEntries].TransactionID)
	assert.Equal(t, mixed, *byKind[projector.FindingAssetMismatch].TransactionID)
	assert.Equal(t, "2", byKind[projector.FindingAssetSumNotZero].Sum, "JPY: +1 unbalanced, +1 single")

	// The endpoint's one-wallet audit answers a missing projection as inconsistent, not as a missing wallet.
	one, err := auditor.Wallet(ctx, noProjection)
	require.NoError(t, err)
	assert.False(t, one.Consistent())
	assert.False(t, one.HasProjection)
}
