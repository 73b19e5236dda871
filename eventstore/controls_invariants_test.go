package eventstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentic-commerce/wallet-ledger/eventstore"
	"github.com/agentic-commerce/wallet-ledger/internal/pgtest"
)

// What the database itself refuses of the agent controls (issue 15), whoever writes the rows.

func TestFreezeRowsAreComplete(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.Pool(t)
	id := uuid.New()
	_, err := pool.Exec(ctx, `INSERT INTO wallets (wallet_id, asset, owner) VALUES ($1, 'USD', 'u')`, id)
	require.NoError(t, err)
	var status string
	require.NoError(t, pool.QueryRow(ctx, `SELECT status FROM wallets WHERE wallet_id = $1`, id).Scan(&status))
	assert.Equal(t, eventstore.WalletActive, status, "a wallet is active unless frozen")
	for name, stmt := range map[string]string{
		"frozen without a reason":  `UPDATE wallets SET status = 'frozen', frozen_by = 'u', frozen_at = now() WHERE wallet_id = $1`,
		"frozen without a time":    `UPDATE wallets SET status = 'frozen', frozen_by = 'u', frozen_reason = 'r' WHERE wallet_id = $1`,
		"active with a reason":     `UPDATE wallets SET frozen_reason = 'r' WHERE wallet_id = $1`,
		"an admin's active freeze": `UPDATE wallets SET frozen_by_admin = true WHERE wallet_id = $1`,
		"another status":           `UPDATE wallets SET status = 'closed' WHERE wallet_id = $1`,
	} {
		_, err := pool.Exec(ctx, stmt, id)
		assert.Equal(t, "23514", sqlState(err), "%s: %v", name, err)
	}
	_, err = pool.Exec(ctx, `UPDATE wallets SET status = 'frozen', frozen_by = 'u', frozen_reason = 'r', frozen_at = now(),
		frozen_by_admin = true WHERE wallet_id = $1`, id)
	assert.NoError(t, err)
}

func TestMandateCountsAndReplacementsAreGuarded(t *testing.T) {
	ctx := context.Background()
	a, b, _ := seedTransfer(t)
	insert := func(wallet uuid.UUID, replaces *uuid.UUID, count int64) (uuid.UUID, error) {
		id := uuid.New()
		err := rawTx(t, func(tx pgx.Tx) error {
			_, err := tx.Exec(ctx, `INSERT INTO mandates (mandate_id, wallet_id, asset, agent, granted_by, max_per_transaction,
				max_transactions, max_transactions_period, transactions_in_period, replaces, expires_at, created_at,
				period_start, updated_at)
				VALUES ($1, $2, 'USD', 'agent', 'o', 5, 3, 'day', $3, $4, now() + interval '1 hour', now(), now(), now())`,
				id, wallet, count, replaces)
			return err
		})
		return id, err
	}
	_, err := insert(a, nil, 4)
	assert.Equal(t, "23514", sqlState(err), "more spends than max_transactions")
	old, err := insert(a, nil, 3)
	require.NoError(t, err)
	_, err = insert(b, &old, 0)
	assert.Equal(t, "23503", sqlState(err), "a replacement of another wallet's mandate")
	_, err = insert(a, &old, 0)
	require.NoError(t, err)
	_, err = insert(a, &old, 0)
	assert.Equal(t, "23505", sqlState(err), "a mandate is replaced at most once")
	for name, stmt := range map[string]string{
		"another status":             `UPDATE mandates SET status = 'paused' WHERE mandate_id = $1`,
		"active with a reason":       `UPDATE mandates SET deactivated_reason = 'revoked' WHERE mandate_id = $1`,
		"suspended without a reason": `UPDATE mandates SET status = 'suspended' WHERE mandate_id = $1`,
		"consumed as revoked":        `UPDATE mandates SET status = 'consumed', deactivated_reason = 'revoked' WHERE mandate_id = $1`,
		"revoked as consumed":        `UPDATE mandates SET status = 'revoked', deactivated_reason = 'consumed' WHERE mandate_id = $1`,
	} {
		_, err = pgtest.Pool(t).Exec(ctx, stmt, old)
		assert.Equal(t, "23514", sqlState(err), "%s: %v", name, err)
	}
	_, err = pgtest.Pool(t).Exec(ctx, `UPDATE mandates SET status = 'suspended', deactivated_reason = 'suspended' WHERE mandate_id = $1`, old)
	assert.NoError(t, err)
}

// One caller's key moves money at most once: the caller is the sub and the actor, and "no actor" is one caller.
func TestJournalKeyIsScopedBySubAndActor(t *testing.T) {
	ctx := context.Background()
	a, b, _ := seedTransfer(t)
	store, err := eventstore.NewStore(pgtest.Pool(t))
	require.NoError(t, err)
	key := uuid.NewString()
	write := func(actor string) error {
		return store.InTx(ctx, func(tx pgx.Tx) error {
			var pos int64
			if err := tx.QueryRow(ctx, `SELECT nextval('journal_position_seq')`).Scan(&pos); err != nil {
				return err
			}
			batch := &pgx.Batch{}
			eventstore.QueueAppend(batch, eventstore.Transaction{ID: uuid.New(), Position: pos, Kind: "transfer", Asset: "USD",
				Amount: 1, Sub: "alice", Actor: actor, IdempotencyKey: key, RequestHash: []byte{1}, CreatedAt: time.Now().UTC(),
				Entries: []eventstore.Entry{{WalletID: a, Asset: "USD", Amount: -1}, {WalletID: b, Asset: "USD", Amount: 1}}})
			return tx.SendBatch(ctx, batch).Close()
		})
	}
	require.NoError(t, write(""))
	assert.ErrorIs(t, write(""), eventstore.ErrIdempotencyKeyReuse, "alice's key, twice")
	require.NoError(t, write("shopper"), "an agent acting for alice is another caller")
	require.NoError(t, write("booker"))
	assert.ErrorIs(t, write("shopper"), eventstore.ErrIdempotencyKeyReuse)
}
