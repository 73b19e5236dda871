package pgtest

import (
	"context"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// The read replica tests run against a real streaming standby of the test server: scripts/ensure_replica.sh builds
// it (pg_basebackup -R, pg_ctl) and scripts/test.sh exports its URL as TEST_REPLICA_URL. A database created on the
// primary reaches the standby by replication, like any data.

// StandbyURL returns the database of primaryURL (a database on the test server) on the test standby. Under make
// test (WALLET_LEDGER_TEST_SUITE=1, set by scripts/test.sh) a missing standby fails the test; a plain go test
// without one skips, naming the command that provides it.
func StandbyURL(tb testing.TB, primaryURL string) string {
	tb.Helper()
	base := os.Getenv("TEST_REPLICA_URL")
	if base == "" {
		msg := "no streaming standby for the replica tests: TEST_REPLICA_URL is empty. " +
			"Run: export TEST_REPLICA_URL=\"$(scripts/ensure_replica.sh)\""
		if os.Getenv("WALLET_LEDGER_TEST_SUITE") == "1" {
			tb.Fatal(msg + " (scripts/test.sh sets it; did scripts/ensure_replica.sh fail?)")
		}
		tb.Skip(msg)
	}
	u, err := url.Parse(base)
	if err != nil {
		tb.Fatalf("TEST_REPLICA_URL: %v", err)
	}
	db, err := url.Parse(primaryURL)
	if err != nil {
		tb.Fatalf("database URL: %v", err)
	}
	u.Path = db.Path
	return u.String()
}

// standbyLock is the advisory lock (on the test server) that orders the test packages sharing the one standby:
// a test that pauses or stops it holds it exclusively, a test that needs it streaming holds it shared.
const standbyLock = 0x5741_4c4c_4554 // "WALLET"

var (
	standbyHoldsMu sync.Mutex
	standbyHolds   = map[testing.TB]bool{}
)

// HoldStandby keeps the test standby's state for the rest of tb: exclusive, tb may pause or stop it and no test
// relying on it runs meanwhile; shared, no test pauses or stops it meanwhile. Tests of other packages (other
// processes) wait for it. A second call in the same test does nothing. Call it before registering the cleanups
// that put the standby back, so they run while the lock is still held.
func HoldStandby(tb testing.TB, exclusive bool) {
	tb.Helper()
	standbyHoldsMu.Lock()
	held := standbyHolds[tb]
	standbyHolds[tb] = true
	standbyHoldsMu.Unlock()
	if held {
		return
	}
	server, err := ServerURL()
	if err != nil {
		tb.Fatalf("test server: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, server)
	if err != nil {
		tb.Fatalf("connect to hold the standby lock: %v", err)
	}
	lock := `SELECT pg_advisory_lock_shared($1)`
	if exclusive {
		lock = `SELECT pg_advisory_lock($1)`
	}
	if _, err := conn.Exec(ctx, lock, int64(standbyLock)); err != nil {
		_ = conn.Close(context.Background())
		tb.Fatalf("take the standby lock: %v", err)
	}
	tb.Cleanup(func() {
		// Closing the session releases its advisory locks.
		_ = conn.Close(context.Background())
		standbyHoldsMu.Lock()
		delete(standbyHolds, tb)
		standbyHoldsMu.Unlock()
	})
}

// WaitReplayed waits up to patience for the standby at standbyURL to replay the WAL up to lsn (PostgreSQL's text
// form, as pg_current_wal_lsn() or a Ledger-Position gives it), failing tb after. A standby that cannot be asked
// yet (the database standbyURL names has not reached it) is waited for too.
func WaitReplayed(tb testing.TB, standbyURL, lsn string, patience time.Duration) {
	tb.Helper()
	replayed := func() (bool, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, standbyURL)
		if err != nil {
			return false, err
		}
		defer conn.Close(ctx)
		var ok bool
		err = conn.QueryRow(ctx, `SELECT coalesce(pg_last_wal_replay_lsn() >= $1::pg_lsn, false)`, lsn).Scan(&ok)
		return ok, err
	}
	deadline := time.Now().Add(patience)
	for {
		ok, err := replayed()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("the standby did not replay %s within %s (last: %v)", lsn, patience, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
