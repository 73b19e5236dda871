package migrations

import (
	"context"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentic-commerce/wallet-ledger/internal/pgtest"
)

// Upgrading a database with wallets, mandates (active and revoked) and a journal to 007 keeps every row valid and
// meaning what it meant: wallets active, mandates at version 1 without count limits, nobody acting for anyone; and
// a caller's key still moves money once.
func TestUpgradeTo7KeepsOldRowsValid(t *testing.T) {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, pgtest.NewDatabase(t, nil))
	require.NoError(t, err)
	defer conn.Close(ctx)
	m, err := newMigrator(ctx, conn)
	require.NoError(t, err)
	require.NoError(t, m.MigrateTo(ctx, 6))

	a, b, active, revoked := uuid.New(), uuid.New(), uuid.New(), uuid.New()
	for _, id := range []uuid.UUID{a, b} {
		_, err := conn.Exec(ctx, `INSERT INTO wallets (wallet_id, asset, owner, kind) VALUES ($1, 'USD', 'o', 'system')`, id)
		require.NoError(t, err)
	}
	_, err = conn.Exec(ctx, `INSERT INTO mandates (mandate_id, wallet_id, asset, agent, granted_by, limit_amount, limit_period,
		spent_in_period, status, revoked_at, revoked_by, expires_at, created_at, period_start, updated_at) VALUES
		($1, $3, 'USD', 'agent', 'o', 100, 'day', 40, 'active', NULL, NULL, now() + interval '1 day', now(), now(), now()),
		($2, $3, 'USD', 'agent', 'o', 100, 'day', 0, 'revoked', now(), 'o', now() + interval '1 day', now(), now(), now())`,
		active, revoked, a)
	require.NoError(t, err)
	transfer := func(key string) error {
		return pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			id := uuid.New()
			if _, err := tx.Exec(ctx, `INSERT INTO journal_transactions (transaction_id, position, kind, asset, amount, sub,
				idempotency_key, request_hash, created_at) VALUES ($1, nextval('journal_position_seq'), 'transfer', 'USD', 1,
				'o', $2, '\x00', now())`, id, key); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `INSERT INTO journal_entries (transaction_id, wallet_id, asset, amount)
				VALUES ($1, $2, 'USD', 1), ($1, $3, 'USD', -1)`, id, a, b)
			return err
		})
	}
	require.NoError(t, transfer("before"))

	require.NoError(t, m.Migrate(ctx))
	var status string
	var admin bool
	require.NoError(t, conn.QueryRow(ctx, `SELECT status, frozen_by_admin FROM wallets WHERE wallet_id = $1`, a).Scan(&status, &admin))
	assert.Equal(t, "active", status)
	assert.False(t, admin)
	var version, count int64
	var single bool
	require.NoError(t, conn.QueryRow(ctx, `SELECT version, single_use, transactions_in_period FROM mandates WHERE mandate_id = $1`,
		active).Scan(&version, &single, &count))
	assert.EqualValues(t, 1, version)
	assert.False(t, single)
	assert.Zero(t, count)
	var reason *string
	require.NoError(t, conn.QueryRow(ctx, `SELECT deactivated_reason FROM mandates WHERE mandate_id = $1`, revoked).Scan(&reason))
	assert.Nil(t, reason, "a revocation before this release keeps no reason, and stays valid")

	// The key written before the upgrade (no actor) still moves money once; an old binary's write (no actor
	// column) is the same caller.
	err = transfer("before")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "journal_transactions_sub_actor_key")
	require.NoError(t, transfer("after"))
}
