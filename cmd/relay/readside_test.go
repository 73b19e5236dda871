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
	dbURL, pool, w := corruptedLedger(t)
	lines := startRelay(t, "DATABASE_URL="+dbURL)
	line := waitForLine(t, lines, "an audit discrepancy for the corrupted wallet", `"msg":"audit discrepancy"`, w.String())
	require.Contains(t, line, `"projected_balance":77`)
	require.Contains(t, line, `"journal_balance":70`)
	require.Eventually(t, func() bool {
		var n int
		require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM wallet_history WHERE wallet_id = $1`, w).Scan(&n))
		return n == 1
	}, 60*time.Second, 100*time.Millisecond, "the relay's history projector to project the wallet")
}

// With READ_DATABASE_URL the relay's full sweeps read the standby (they hold one snapshot for minutes on a large
// ledger) and find there what the primary holds once it is replayed.
func TestRelaySweepsTheStandby(t *testing.T) {
	ctx := context.Background()
	dbURL, pool, _ := corruptedLedger(t)
	standby := pgtest.StandbyURL(t, dbURL)
	pgtest.HoldStandby(t, false) // no other package's test pauses or stops it meanwhile
	var written string
	require.NoError(t, pool.QueryRow(ctx, `SELECT pg_current_wal_lsn()::text`).Scan(&written))
	pgtest.WaitReplayed(t, standby, written, 2*time.Minute)
	lines := startRelay(t, "DATABASE_URL="+dbURL, "READ_DATABASE_URL="+standby)
	line := waitForLine(t, lines, "a full audit pass on the standby", `"msg":"audit pass"`, `"mode":"full"`)
	require.Contains(t, line, `"source":"replica"`)
	require.Contains(t, line, `"findings":2`, "the corrupted wallet and its asset's sum")
}

// corruptedLedger makes a database with one wallet of 70 RLY whose projection SQL then says 77.
func corruptedLedger(t *testing.T) (string, *pgxpool.Pool, uuid.UUID) {
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
	return dbURL, pool, w
}

// startRelay runs the relay binary with env (and short audit and history intervals) until the test ends; its log
// lines come on the channel.
func startRelay(t *testing.T, env ...string) <-chan string {
	bin := relayBinary(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	relay := exec.Command(bin)
	relay.Env = append(append(os.Environ(), "RELAY_HTTP_ADDR="+addr, "RELAY_PUBLISHER=sql",
		"OTEL_SDK_DISABLED=true", "AUDIT_INTERVAL=200ms", "AUDIT_FULL_INTERVAL=1s", "HISTORY_INTERVAL=100ms"), env...)
	stderr, err := relay.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, relay.Start())
	done := make(chan struct{})
	t.Cleanup(func() {
		_ = relay.Process.Signal(syscall.SIGTERM)
		pgtest.WaitOrTimeout(t, done, 30*time.Second)
	})
	lines := make(chan string, 1024)
	go func() {
		defer close(done)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			default: // nobody reads any more: drop, but keep draining the pipe
			}
		}
		_ = relay.Wait()
	}()
	return lines
}

// waitForLine returns the first log line holding every one of parts, failing the test after a minute.
func waitForLine(t *testing.T, lines <-chan string, what string, parts ...string) string {
	t.Helper()
	timeout := time.After(60 * time.Second)
	for {
		select {
		case line := <-lines:
			all := true
			for _, p := range parts {
				all = all && strings.Contains(line, p)
			}
			if all {
				return line
			}
		case <-timeout:
			t.Fatalf("the relay logged no %s", what)
		}
	}
}
