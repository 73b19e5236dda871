package main

import (
	"context"
	"net/url"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/agentic-commerce/wallet-ledger/internal/pgtest"
	"github.com/agentic-commerce/wallet-ledger/internal/replica"
)

// The read replica tests run against a real streaming standby of the test PostgreSQL (pgtest.StandbyURL). The
// package database is created on the primary and reaches the standby by replication, like any data. A test that
// pauses, stops or restarts the standby holds it exclusively (pgtest.HoldStandby): other packages' tests that need
// it streaming hold it shared.

// standbyURL returns the package database on the test standby.
func standbyURL(t *testing.T) string {
	t.Helper()
	return pgtest.StandbyURL(t, pgtest.URL(t))
}

// standby controls the test standby as its superuser.
type standby struct {
	t   *testing.T
	url string
}

func (s standby) exec(sql string) {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, s.url)
	require.NoError(s.t, err, "connect to the standby")
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, sql)
	require.NoError(s.t, err, sql)
}

func (s standby) pauseState() string {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, s.url)
	if err != nil {
		return err.Error()
	}
	defer conn.Close(ctx)
	var st string
	if err := conn.QueryRow(ctx, `SELECT pg_get_wal_replay_pause_state()`).Scan(&st); err != nil {
		return err.Error()
	}
	return st
}

// disrupt holds the standby exclusively for the rest of the test: it may be paused or stopped.
func (s standby) disrupt() {
	s.t.Helper()
	pgtest.HoldStandby(s.t, true)
}

// pause stops WAL replay (the standby keeps receiving) until resume or the end of the test.
func (s standby) pause() {
	s.t.Helper()
	s.disrupt()
	s.exec(`SELECT pg_wal_replay_pause()`)
	s.t.Cleanup(func() { _ = s.tryResume() })
	waitUntil(s.t, 30*time.Second, "replay paused", func() bool { return s.pauseState() == "paused" })
}

// waitReplayed waits until the standby has replayed pos: on a busy server its replay can trail the primary by more
// than REPLICA_MAX_WAIT, and a test that means the standby to answer must not race that.
func (s standby) waitReplayed(pos string) {
	s.t.Helper()
	_, err := replica.ParsePosition(pos)
	require.NoError(s.t, err)
	pgtest.WaitReplayed(s.t, s.url, pos, 2*time.Minute)
}

func (s standby) tryResume() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, s.url)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, `SELECT pg_wal_replay_resume()`)
	return err
}

func (s standby) resume() {
	s.t.Helper()
	require.NoError(s.t, s.tryResume())
}

// script runs scripts/ensure_replica.sh with args against the standby on TEST_REPLICA_URL's port.
func (s standby) script(args ...string) {
	s.t.Helper()
	u, err := url.Parse(os.Getenv("TEST_REPLICA_URL"))
	require.NoError(s.t, err)
	cmd := exec.Command("../../scripts/ensure_replica.sh", args...)
	cmd.Env = append(os.Environ(), "REPLICA_PORT="+u.Port())
	out, err := cmd.CombinedOutput()
	require.NoError(s.t, err, "scripts/ensure_replica.sh %v: %s", args, out)
}

func waitUntil(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
