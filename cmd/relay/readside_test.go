package main

import (
	"bufio"
	"context"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/agentic-commerce/wallet-ledger/command"
	"github.com/agentic-commerce/wallet-ledger/eventstore"
	"github.com/agentic-commerce/wallet-ledger/internal/auth"
	"github.com/agentic-commerce/wallet-ledger/internal/pgtest"
	"github.com/agentic-commerce/wallet-ledger/migrations"
)

// The relay binary runs the read side: its continuous audit logs a projection corrupted with SQL (wallet and both
// sums) and its history projector fills the wallet's history.
func TestRelayRunsTheReadSide(t *testing.T) {
	ctx := context.Background()
	dbURL := pgtest.NewDatabase(t, migrations.Apply)
	pool, err := pgxpool.New(ctx, dbURL)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	store, err := eventstore.NewStore(pool)
	require.NoError(t, err)
	cmds, err := command.New(store, uuid.MustParse("00000000-0000-0000-0000-000000000001"), 24*time.Hour)
	require.NoError(t, err)
	t.Cleanup(cmds.Close)
	admin := auth.Caller{Sub: "treasury", Scopes: []string{auth.ScopeAdmin}}
	w := uuid.New()
	k := uuid.NewString()
	_, err = cmds.CreateWallet.Run(ctx, admin, command.Idempotency{Sub: admin.Sub, Key: k, Hash: []byte(k)},
		command.CreateWallet{WalletID: w, Asset: "RLY", Owner: "r"})
	require.NoError(t, err)
	k = uuid.NewString()
	out, err := cmds.Adjust.Run(ctx, admin, command.Idempotency{Sub: admin.Sub, Key: k, Hash: []byte(k)},
		command.Adjustment{WalletID: w, Asset: "RLY", Amount: 70, Reason: "seed"})
	require.NoError(t, err)
	require.Equal(t, 201, out.Status)
	_, err = pool.Exec(ctx, `UPDATE balance_projections SET balance = 77 WHERE wallet_id = $1`, w)
	require.NoError(t, err)

	bin := relayBinary(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	relay := exec.Command(bin)
	relay.Env = append(os.Environ(), "DATABASE_URL="+dbURL, "RELAY_HTTP_ADDR="+addr, "RELAY_PUBLISHER=sql",
		"OTEL_SDK_DISABLED=true", "AUDIT_INTERVAL=200ms", "AUDIT_FULL_INTERVAL=1s", "HISTORY_INTERVAL=100ms")
	stderr, err := relay.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, relay.Start())
	done := make(chan struct{})
	t.Cleanup(func() {
		_ = relay.Process.Signal(syscall.SIGTERM)
		pgtest.WaitOrTimeout(t, done, 30*time.Second)
	})
	found := make(chan string, 1)
	go func() {
		defer close(done)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			if strings.Contains(line, `"msg":"audit discrepancy"`) && strings.Contains(line, w.String()) {
				select {
				case found <- line:
				default:
				}
			}
		}
		_ = relay.Wait()
	}()
	select {
	case line := <-found:
		require.Contains(t, line, `"projected_balance":77`)
		require.Contains(t, line, `"journal_balance":70`)
	case <-time.After(60 * time.Second):
		t.Fatal("the relay logged no audit discrepancy for the corrupted wallet")
	}
	require.Eventually(t, func() bool {
		var n int
		require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM wallet_history WHERE wallet_id = $1`, w).Scan(&n))
		return n == 1
	}, 60*time.Second, 100*time.Millisecond, "the relay's history projector to project the wallet")
}
