package migrations

import (
	"context"
	"errors"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentic-commerce/wallet-ledger/internal/pgtest"
)

// A deployment upgrades a database that already holds a journal. Upgrading from version 4 to 5 must keep every
// row, leave the old transactions balanced and closed (no entry may join them afterwards) and accept new ones.
func TestUpgradeFrom4KeepsTheJournalClosed(t *testing.T) {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, pgtest.NewDatabase(t, nil))
	require.NoError(t, err)
	defer conn.Close(ctx)
	m, err := newMigrator(ctx, conn)
	require.NoError(t, err)
	require.NoError(t, m.MigrateTo(ctx, 4))

	a, b := uuid.New(), uuid.New()
	for _, id := range []uuid.UUID{a, b} {
		_, err := conn.Exec(ctx, `INSERT INTO wallets (wallet_id, asset, owner, kind) VALUES ($1, 'USD', 'o', 'system')`, id)
		require.NoError(t, err)
	}
	transfer := func(amount int64) (uuid.UUID, error) {
		id := uuid.New()
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `INSERT INTO journal_transactions (transaction_id, position, kind, asset, amount, sub,
				idempotency_key, request_hash, created_at) VALUES ($1, nextval('journal_position_seq'), 'transfer', 'USD', $2,
				'o', $3, '\x00', now())`, id, amount, uuid.NewString()); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `INSERT INTO journal_entries (transaction_id, wallet_id, asset, amount)
				VALUES ($1, $2, 'USD', $4), ($1, $3, 'USD', -$4::bigint)`, id, a, b, amount)
			return err
		})
		return id, err
	}
	old, err := transfer(5)
	require.NoError(t, err)

	require.NoError(t, m.Migrate(ctx))
	v, err := m.GetCurrentVersion(ctx)
	require.NoError(t, err)
	assert.EqualValues(t, Expected(), v)

	var entries int
	require.NoError(t, conn.QueryRow(ctx, `SELECT count(*) FROM journal_entries WHERE transaction_id = $1`, old).Scan(&entries))
	assert.Equal(t, 2, entries, "the upgrade keeps the journal")

	err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO journal_entries (transaction_id, wallet_id, asset, amount)
			VALUES ($1, $2, 'USD', 1), ($1, $3, 'USD', -1)`, old, a, b)
		return err
	})
	var pgErr *pgconn.PgError
	require.True(t, errors.As(err, &pgErr), "adding entries to a transaction written before the upgrade must fail: %v", err)
	assert.Equal(t, "LJ004", pgErr.Code)

	_, err = transfer(7)
	assert.NoError(t, err, "a new balanced transaction commits after the upgrade")
}
