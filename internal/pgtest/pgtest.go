// Package pgtest gives each test package its own freshly created and migrated PostgreSQL database.
//
// The server is found in this order: TEST_DATABASE_URL, DATABASE_URL, the local default
// (postgres://postgres@127.0.0.1:5432/postgres). When none answers and a Docker engine is reachable, a throwaway
// PostgreSQL container is started with dockertest. Otherwise the tests fail with a message that says how to get a
// server (scripts/bootstrap_db.sh); they never skip.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/ory/dockertest/v3"

	"github.com/agentic-commerce/wallet-ledger/internal/leaktest"
)

const defaultURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// Prepare readies a new database, typically by applying the migrations.
type Prepare func(ctx context.Context, connString string) error

var (
	serverOnce sync.Once
	serverURL  string
	serverErr  error
	container  *dockertest.Resource

	pkgURL  string
	pkgPool *pgxpool.Pool
)

// ServerURL returns a URL of a PostgreSQL server that answers, starting one in Docker if it must.
func ServerURL() (string, error) {
	serverOnce.Do(func() { serverURL, serverErr = findServer() })
	return serverURL, serverErr
}

func findServer() (string, error) {
	var tried []string
	for _, name := range []string{"TEST_DATABASE_URL", "DATABASE_URL"} {
		if v := os.Getenv(name); v != "" {
			if err := ping(v); err == nil {
				return v, nil
			} else {
				tried = append(tried, fmt.Sprintf("%s: %v", name, err))
			}
		}
	}
	if err := ping(defaultURL); err == nil {
		return defaultURL, nil
	} else {
		tried = append(tried, fmt.Sprintf("%s: %v", redact(defaultURL), err))
	}
	u, err := startContainer()
	if err == nil {
		return u, nil
	}
	tried = append(tried, "dockertest: "+err.Error())
	return "", fmt.Errorf("no PostgreSQL server for the tests; run scripts/bootstrap_db.sh (make test does) "+
		"or set TEST_DATABASE_URL. Tried: %s", strings.Join(tried, "; "))
}

func ping(connString string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, connString)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	return conn.Ping(ctx)
}

func startContainer() (string, error) {
	pool, err := dockertest.NewPool("")
	if err != nil {
		return "", fmt.Errorf("no Docker engine: %w", err)
	}
	if err := pool.Client.Ping(); err != nil {
		return "", fmt.Errorf("no Docker engine: %w", err)
	}
	res, err := pool.Run("postgres", "16-alpine", []string{"POSTGRES_HOST_AUTH_METHOD=trust"})
	if err != nil {
		return "", fmt.Errorf("start postgres container: %w", err)
	}
	_ = res.Expire(600)
	container = res
	u := fmt.Sprintf("postgres://postgres@localhost:%s/postgres?sslmode=disable", res.GetPort("5432/tcp"))
	pool.MaxWait = 60 * time.Second
	if err := pool.Retry(func() error { return ping(u) }); err != nil {
		return "", fmt.Errorf("postgres container never answered: %w", err)
	}
	return u, nil
}

// NewDatabase creates a database with a unique name, prepares it, and drops it when tb ends.
func NewDatabase(tb testing.TB, prepare Prepare) string {
	tb.Helper()
	u, drop, err := createDatabase(prepare)
	if err != nil {
		tb.Fatalf("pgtest: %v", err)
	}
	tb.Cleanup(drop)
	return u
}

func createDatabase(prepare Prepare) (string, func(), error) {
	server, err := ServerURL()
	if err != nil {
		return "", nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	suffix := make([]byte, 6)
	_, _ = rand.Read(suffix)
	name := "wallet_test_" + hex.EncodeToString(suffix)
	admin, err := pgx.Connect(ctx, server)
	if err != nil {
		return "", nil, fmt.Errorf("connect to %s: %w", redact(server), err)
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		return "", nil, fmt.Errorf("create database %s: %w", name, err)
	}
	dbURL, err := withDatabase(server, name)
	if err != nil {
		return "", nil, err
	}
	drop := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, server)
		if err != nil {
			return
		}
		defer conn.Close(ctx)
		_, _ = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
	}
	if prepare != nil {
		if err := prepare(ctx, dbURL); err != nil {
			drop()
			return "", nil, fmt.Errorf("prepare database %s: %w", name, err)
		}
	}
	return dbURL, drop, nil
}

func withDatabase(server, name string) (string, error) {
	u, err := url.Parse(server)
	if err != nil {
		return "", fmt.Errorf("parse server URL: %w", err)
	}
	u.Path = "/" + name
	return u.String(), nil
}

// Main runs a test package's tests against one fresh database made by prepare, then drops it and fails the binary
// if the tests left goroutines running (leaktest.Check); use it from TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(pgtest.Main(m, migrations.Apply)) }
func Main(m *testing.M, prepare Prepare) int {
	u, drop, err := createDatabase(prepare)
	if err != nil {
		fmt.Fprintln(os.Stderr, "pgtest:", err)
		return 1
	}
	pkgURL = u
	code := m.Run()
	if pkgPool != nil {
		pkgPool.Close()
	}
	drop()
	if container != nil {
		_ = container.Close()
	}
	return leaktest.Check(code)
}

// URL returns the package database's URL (set up by Main).
func URL(tb testing.TB) string {
	tb.Helper()
	if pkgURL == "" {
		tb.Fatal("pgtest: no package database; call pgtest.Main from TestMain")
	}
	return pkgURL
}

var poolMu sync.Mutex

// Pool returns a pool on the package database, shared by the package's tests.
func Pool(tb testing.TB) *pgxpool.Pool {
	tb.Helper()
	poolMu.Lock()
	defer poolMu.Unlock()
	if pkgPool == nil {
		p, err := pgxpool.New(context.Background(), URL(tb))
		if err != nil {
			tb.Fatalf("pgtest: pool: %v", err)
		}
		pkgPool = p
	}
	return pkgPool
}

// WaitOrTimeout fails tb if done is not closed within d, so a test never hangs.
func WaitOrTimeout(tb testing.TB, done <-chan struct{}, d time.Duration) {
	tb.Helper()
	select {
	case <-done:
	case <-time.After(d):
		tb.Fatalf("timed out after %s", d)
	}
}

func redact(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "(unparseable URL)"
	}
	return p.Redacted()
}
