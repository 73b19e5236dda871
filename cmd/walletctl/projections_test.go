package main

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentic-commerce/wallet-ledger/command"
	"github.com/agentic-commerce/wallet-ledger/eventstore"
	"github.com/agentic-commerce/wallet-ledger/internal/auth"
	"github.com/agentic-commerce/wallet-ledger/internal/pgtest"
	"github.com/agentic-commerce/wallet-ledger/migrations"
	"github.com/agentic-commerce/wallet-ledger/projector"
)

// A corrupted projection: the dry run names it and changes nothing; --apply repairs it while transfers keep
// committing on the same wallets, and afterwards every projection equals the journal.
func TestProjectionsRebuildOnALiveLedger(t *testing.T) {
	ctx := context.Background()
	dbURL := pgtest.NewDatabase(t, migrations.Apply)
	t.Setenv("DATABASE_URL", dbURL)
	pool, err := pgxpool.New(ctx, dbURL)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	store, err := eventstore.NewStore(pool)
	require.NoError(t, err)
	cmds, err := command.New(store, uuid.MustParse("00000000-0000-0000-0000-000000000001"), 24*time.Hour)
	require.NoError(t, err)
	t.Cleanup(cmds.Close)
	admin := auth.Caller{Sub: "treasury", Scopes: []string{auth.ScopeAdmin}}
	idem := func() command.Idempotency {
		k := uuid.NewString()
		return command.Idempotency{Sub: admin.Sub, Key: k, Hash: []byte(k)}
	}
	wallets := make([]uuid.UUID, 4)
	for i := range wallets {
		wallets[i] = uuid.New()
		_, err := cmds.CreateWallet.Run(ctx, admin, idem(), command.CreateWallet{WalletID: wallets[i], Asset: "NZD", Owner: "o"})
		require.NoError(t, err)
		out, err := cmds.Adjust.Run(ctx, admin, idem(), command.Adjustment{WalletID: wallets[i], Asset: "NZD", Amount: 10_000, Reason: "seed"})
		require.NoError(t, err)
		require.Equal(t, 201, out.Status)
	}
	bad := wallets[0]
	_, err = pool.Exec(ctx, `UPDATE balance_projections SET balance = balance + 1234 WHERE wallet_id = $1`, bad)
	require.NoError(t, err)

	var out, errb bytes.Buffer
	require.Equal(t, 1, run(ctx, []string{"projections", "rebuild", "--dry-run"}, &out, &errb), errb.String())
	assert.Contains(t, out.String(), "1 projections differ")
	assert.Contains(t, out.String(), bad.String()+" NZD projection balance=11234")
	assert.Contains(t, errb.String(), errDiffers.Error())
	var bal int64
	require.NoError(t, pool.QueryRow(ctx, `SELECT balance FROM balance_projections WHERE wallet_id = $1`, bad).Scan(&bal))
	assert.Equal(t, int64(11234), bal, "a dry run writes nothing")

	// Writers keep going on the corrupted wallet and its neighbours while --apply runs.
	var stop atomic.Bool
	var committed atomic.Int64
	var wg sync.WaitGroup
	for g := 0; g < 3; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; !stop.Load(); i++ {
				from, to := wallets[(i+g)%4], wallets[(i+g+1)%4]
				o, err := cmds.Transfer.Run(ctx, admin, idem(), command.Transfer{FromWalletID: from, ToWalletID: to, Asset: "NZD", Amount: int64(1 + i%9)})
				if err == nil && o.Status == 201 {
					committed.Add(1)
				} else if err != nil && !errors.Is(err, eventstore.ErrUnavailable) {
					t.Errorf("transfer: %v", err)
					return
				}
			}
		}(g)
	}
	time.Sleep(100 * time.Millisecond)
	out.Reset()
	errb.Reset()
	code := run(ctx, []string{"projections", "rebuild", "--apply"}, &out, &errb)
	time.Sleep(100 * time.Millisecond)
	stop.Store(true)
	wg.Wait()
	require.Equal(t, 0, code, "%s\n%s", out.String(), errb.String())
	assert.Contains(t, out.String(), "rewrote 1 projections")
	assert.Contains(t, out.String(), "every projection equals the journal")
	require.Greater(t, committed.Load(), int64(10))

	auditor, err := projector.NewAuditor(store, nil)
	require.NoError(t, err)
	rep, err := auditor.Full(ctx)
	require.NoError(t, err)
	assert.True(t, rep.Clean(), "%+v", rep.Findings)

	out.Reset()
	require.Equal(t, 0, run(ctx, []string{"projections", "rebuild", "--dry-run"}, &out, &errb))
	assert.Contains(t, out.String(), "0 projections differ")
}

func TestProjectionsUsage(t *testing.T) {
	for _, args := range [][]string{{"projections"}, {"projections", "rebuild"},
		{"projections", "rebuild", "--dry-run", "--apply"}, {"projections", "replay", "--apply"}} {
		var out, errb bytes.Buffer
		assert.NotEqual(t, 0, run(context.Background(), args, &out, &errb), "%v", args)
	}
}
