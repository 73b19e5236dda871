package eventstore_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentic-commerce/wallet-ledger/eventstore"
	"github.com/agentic-commerce/wallet-ledger/internal/pgtest"
	"github.com/agentic-commerce/wallet-ledger/migrations"
	"github.com/agentic-commerce/wallet-ledger/projector"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m, migrations.Apply)) }

// These tests talk to PostgreSQL directly, as the database owner would with hand-written SQL, to prove the
// database itself refuses what the ledger forbids, whatever the application does.

func sqlState(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code
	}
	return ""
}

// seedTransfer writes two wallets and one balanced transfer with the application's own code and returns them.
func seedTransfer(t *testing.T) (a, b, txID uuid.UUID) {
	t.Helper()
	ctx := context.Background()
	store, err := eventstore.NewStore(pgtest.Pool(t))
	require.NoError(t, err)
	a, b, txID = uuid.New(), uuid.New(), uuid.New()
	now := time.Now().UTC()
	err = store.InTx(ctx, func(tx pgx.Tx) error {
		batch := &pgx.Batch{}
		for _, id := range []uuid.UUID{a, b} {
			eventstore.QueueInsertWallet(batch, eventstore.Wallet{ID: id, Asset: "USD", Owner: "o", Kind: eventstore.KindSystem, CreatedAt: now})
			projector.QueueInit(batch, id, "USD", eventstore.KindSystem, now)
		}
		var pos int64
		eventstore.QueueNextPosition(batch, &pos)
		if err := tx.SendBatch(ctx, batch).Close(); err != nil {
			return err
		}
		batch = &pgx.Batch{}
		eventstore.QueueAppend(batch, eventstore.Transaction{ID: txID, Position: pos, Kind: "transfer", Asset: "USD",
			Amount: 5, Sub: "o", IdempotencyKey: uuid.NewString(), RequestHash: []byte{1}, CreatedAt: now,
			Entries: []eventstore.Entry{{WalletID: a, Asset: "USD", Amount: -5}, {WalletID: b, Asset: "USD", Amount: 5}}})
		return tx.SendBatch(ctx, batch).Close()
	})
	require.NoError(t, err)
	return a, b, txID
}

func TestJournalIsAppendOnly(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.Pool(t)
	_, _, txID := seedTransfer(t)
	statements := map[string]string{
		"update entry":         `UPDATE journal_entries SET amount = amount * 2 WHERE transaction_id = $1`,
		"delete entry":         `DELETE FROM journal_entries WHERE transaction_id = $1`,
		"update transaction":   `UPDATE journal_transactions SET amount = 1 WHERE transaction_id = $1`,
		"delete transaction":   `DELETE FROM journal_transactions WHERE transaction_id = $1`,
		"truncate entries":     `TRUNCATE journal_entries CASCADE`,
		"truncate transaction": `TRUNCATE journal_transactions CASCADE`,
	}
	for name, stmt := range statements {
		t.Run(name, func(t *testing.T) {
			var err error
			if name[:8] == "truncate" {
				_, err = pool.Exec(ctx, stmt)
			} else {
				_, err = pool.Exec(ctx, stmt, txID)
			}
			require.Error(t, err)
			assert.Equal(t, "LJ001", sqlState(err), "%v", err)
		})
	}
	var n int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM journal_entries WHERE transaction_id = $1`, txID).Scan(&n))
	assert.Equal(t, 2, n)
}

// rawTx runs fn in a transaction with hand-written SQL and returns the COMMIT's error.
func rawTx(t *testing.T, fn func(tx pgx.Tx) error) error {
	t.Helper()
	ctx := context.Background()
	tx, err := pgtest.Pool(t).Begin(ctx)
	require.NoError(t, err)
	if err := fn(tx); err != nil {
		_ = tx.Rollback(ctx)
		return err
	}
	return tx.Commit(ctx)
}

func insertTx(ctx context.Context, tx pgx.Tx, id uuid.UUID) error {
	_, err := tx.Exec(ctx, `INSERT INTO journal_transactions (transaction_id, position, kind, asset, amount, sub,
		idempotency_key, request_hash, created_at) VALUES ($1, nextval('journal_position_seq'), 'transfer', 'USD', 1, 'x', $2, '\x00', now())`,
		id, uuid.NewString())
	return err
}

func insertEntry(ctx context.Context, tx pgx.Tx, txID, wallet uuid.UUID, asset string, amount int64) error {
	_, err := tx.Exec(ctx, `INSERT INTO journal_entries (transaction_id, wallet_id, asset, amount) VALUES ($1, $2, $3, $4)`,
		txID, wallet, asset, amount)
	return err
}

func TestUnbalancedTransactionIsRefusedAtCommit(t *testing.T) {
	ctx := context.Background()
	a, b, _ := seedTransfer(t)
	id := uuid.New()
	err := rawTx(t, func(tx pgx.Tx) error {
		if err := insertTx(ctx, tx, id); err != nil {
			return err
		}
		if err := insertEntry(ctx, tx, id, a, "USD", -5); err != nil {
			return err
		}
		return insertEntry(ctx, tx, id, b, "USD", 4)
	})
	assert.Equal(t, "LJ003", sqlState(err), "%v", err)
	assertAbsent(t, id)
}

func TestTransactionWithOneEntryIsRefusedAtCommit(t *testing.T) {
	ctx := context.Background()
	a, _, _ := seedTransfer(t)
	id := uuid.New()
	err := rawTx(t, func(tx pgx.Tx) error {
		if err := insertTx(ctx, tx, id); err != nil {
			return err
		}
		return insertEntry(ctx, tx, id, a, "USD", 0+1)
	})
	assert.Equal(t, "LJ002", sqlState(err), "%v", err)
	assertAbsent(t, id)
}

func TestTransactionWithoutEntriesIsRefusedAtCommit(t *testing.T) {
	id := uuid.New()
	err := rawTx(t, func(tx pgx.Tx) error { return insertTx(context.Background(), tx, id) })
	assert.Equal(t, "LJ002", sqlState(err), "%v", err)
	assertAbsent(t, id)
}

func TestEntriesCannotBeAddedToAnOldTransaction(t *testing.T) {
	ctx := context.Background()
	a, b, txID := seedTransfer(t)
	err := rawTx(t, func(tx pgx.Tx) error {
		if err := insertEntry(ctx, tx, txID, a, "USD", -7); err != nil {
			return err
		}
		return insertEntry(ctx, tx, txID, b, "USD", 7)
	})
	assert.Equal(t, "LJ004", sqlState(err), "even entries that sum to zero may not join a committed transaction: %v", err)
	assertEntryCount(t, txID, 2)
}

func TestEntriesOfAMissingTransactionAreRefused(t *testing.T) {
	ctx := context.Background()
	a, b, _ := seedTransfer(t)
	id := uuid.New()
	err := rawTx(t, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO journal_entries (transaction_id, wallet_id, asset, amount)
			VALUES ($1, $2, 'USD', -3), ($1, $3, 'USD', 3)`, id, a, b)
		return err
	})
	assert.Equal(t, "LJ004", sqlState(err), "%v", err)
	assertAbsent(t, id)
}

// The entries must be inserted by the transaction that inserted their journal transaction, not by a savepoint of
// it: the check compares the row's xmin with the current transaction id, and refuses what it cannot prove.
func TestEntriesFromAnotherSubtransactionAreRefused(t *testing.T) {
	ctx := context.Background()
	a, b, _ := seedTransfer(t)
	id := uuid.New()
	err := rawTx(t, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SAVEPOINT s"); err != nil {
			return err
		}
		if err := insertTx(ctx, tx, id); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "RELEASE SAVEPOINT s"); err != nil {
			return err
		}
		if err := insertEntry(ctx, tx, id, a, "USD", -2); err != nil {
			return err
		}
		return insertEntry(ctx, tx, id, b, "USD", 2)
	})
	assert.Equal(t, "LJ004", sqlState(err), "%v", err)
	assertAbsent(t, id)
}

func TestBalancedEntriesInSeveralStatementsCommit(t *testing.T) {
	ctx := context.Background()
	a, b, _ := seedTransfer(t)
	id := uuid.New()
	require.NoError(t, rawTx(t, func(tx pgx.Tx) error {
		if err := insertTx(ctx, tx, id); err != nil {
			return err
		}
		for _, e := range []struct {
			w uuid.UUID
			n int64
		}{{a, -4}, {b, 1}, {b, 3}} {
			if err := insertEntry(ctx, tx, id, e.w, "USD", e.n); err != nil {
				return err
			}
		}
		return nil
	}))
	assertEntryCount(t, id, 3)
}

func TestCrossAssetEntryIsRefused(t *testing.T) {
	ctx := context.Background()
	a, b, _ := seedTransfer(t)
	id := uuid.New()
	err := rawTx(t, func(tx pgx.Tx) error {
		if err := insertTx(ctx, tx, id); err != nil {
			return err
		}
		if err := insertEntry(ctx, tx, id, a, "EUR", -5); err != nil {
			return err
		}
		return insertEntry(ctx, tx, id, b, "EUR", 5)
	})
	assert.Equal(t, "23503", sqlState(err), "an entry in EUR on a USD wallet must violate the wallet/asset key: %v", err)
	assertAbsent(t, id)
}

func TestUserProjectionCannotGoNegative(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.Pool(t)
	id := uuid.New()
	_, err := pool.Exec(ctx, `INSERT INTO wallets (wallet_id, asset, owner, kind) VALUES ($1, 'USD', 'u', 'user')`, id)
	require.NoError(t, err)
	_, err = pool.Exec(ctx, `INSERT INTO balance_projections (wallet_id, asset, kind) VALUES ($1, 'USD', 'user')`, id)
	require.NoError(t, err)
	_, err = pool.Exec(ctx, `UPDATE balance_projections SET balance = -1 WHERE wallet_id = $1`, id)
	assert.Equal(t, "23514", sqlState(err))
	_, err = pool.Exec(ctx, `UPDATE balance_projections SET balance = 5, held = 6 WHERE wallet_id = $1`, id)
	assert.Equal(t, "23514", sqlState(err), "held may not exceed the balance")
	// A projection must also agree with its wallet's kind, so a user wallet cannot pose as a system one.
	_, err = pool.Exec(ctx, `UPDATE balance_projections SET kind = 'system', balance = -1 WHERE wallet_id = $1`, id)
	assert.Equal(t, "23503", sqlState(err))
}

func TestClassifyMapsDomainConstraints(t *testing.T) {
	ctx := context.Background()
	store, err := eventstore.NewStore(pgtest.Pool(t))
	require.NoError(t, err)
	id := uuid.New()
	insert := func() error {
		return store.InTx(ctx, func(tx pgx.Tx) error {
			_, err := tx.Exec(ctx, `INSERT INTO wallets (wallet_id, asset, owner) VALUES ($1, 'USD', 'u')`, id)
			return err
		})
	}
	require.NoError(t, insert())
	assert.ErrorIs(t, insert(), eventstore.ErrWalletExists)
}

func TestInTxReportsAnUnreachableDatabaseAsUnavailable(t *testing.T) {
	cfg, err := eventstore.NewPoolConfig("postgres://postgres@127.0.0.1:1/none?sslmode=disable", 2, time.Second, time.Second)
	require.NoError(t, err)
	cfg.MinConns = 0
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	require.NoError(t, err)
	defer pool.Close()
	store, err := eventstore.NewStore(pool)
	require.NoError(t, err)
	err = store.InTx(context.Background(), func(pgx.Tx) error { return nil })
	assert.ErrorIs(t, err, eventstore.ErrUnavailable)
}

func assertEntryCount(t *testing.T, txID uuid.UUID, want int, msgAndArgs ...any) {
	t.Helper()
	var n int
	require.NoError(t, pgtest.Pool(t).QueryRow(context.Background(),
		`SELECT count(*) FROM journal_entries WHERE transaction_id = $1`, txID).Scan(&n))
	assert.Equal(t, want, n, msgAndArgs...)
}

func assertAbsent(t *testing.T, txID uuid.UUID) {
	t.Helper()
	assertEntryCount(t, txID, 0, "nothing of a refused transaction may remain")
}

// pg_stat_activity must tell the ledger's processes apart, and an operator's own name must win.
func TestPoolConfigNamesTheProcess(t *testing.T) {
	cfg, err := eventstore.NewPoolConfig("postgres://postgres@127.0.0.1:1/none", 2, time.Second, time.Second)
	require.NoError(t, err)
	assert.Equal(t, "wallet-ledger/"+filepath.Base(os.Args[0]), cfg.ConnConfig.RuntimeParams["application_name"])

	cfg, err = eventstore.NewPoolConfig("postgres://postgres@127.0.0.1:1/none?application_name=payments-eu", 2, time.Second, time.Second)
	require.NoError(t, err)
	assert.Equal(t, "payments-eu", cfg.ConnConfig.RuntimeParams["application_name"])
}

// A mandate that caps nothing, or names an empty destination list, is refused by the database itself, whoever
// writes it: an agent would read either as "no rule".
func TestUncappedOrEmptyListMandateIsRefused(t *testing.T) {
	ctx := context.Background()
	a, _, _ := seedTransfer(t)
	insert := func(perTx *int64, dest []uuid.UUID) error {
		return rawTx(t, func(tx pgx.Tx) error {
			_, err := tx.Exec(ctx, `INSERT INTO mandates (mandate_id, wallet_id, asset, agent, granted_by,
				max_per_transaction, allowed_destinations, expires_at, created_at, period_start, updated_at)
				VALUES ($1, $2, 'USD', 'agent', 'o', $3, $4, now() + interval '1 hour', now(), now(), now())`,
				uuid.New(), a, perTx, dest)
			return err
		})
	}
	cap := int64(5)
	assert.Equal(t, "23514", sqlState(insert(nil, nil)), "no cap")
	assert.Equal(t, "23514", sqlState(insert(&cap, []uuid.UUID{})), "empty destination list")
	assert.NoError(t, insert(&cap, nil))
}
