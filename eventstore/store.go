// Package eventstore is the journal: wallets, append-only journal transactions with their entries, and the outbox
// events that commit with them. It owns BEGIN and COMMIT; use cases pass a function that decides inside one
// pgx.Tx. It knows nothing of HTTP.
package eventstore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	pgxuuid "github.com/vgarvardt/pgx-google-uuid/v5"
)

// Querier is what reads need: a pool, a connection or a transaction.
type Querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
}

// Store runs the ledger's database transactions.
type Store struct {
	pool           *pgxpool.Pool
	acquireTimeout time.Duration
}

// DefaultAcquireTimeout bounds the wait for a pooled connection. Past the machine's capacity, requests would
// otherwise queue until the request timeout; shedding them sooner with a 503 keeps the latency of what is
// accepted bounded, and clients retry with the same key. It stays above the time a burst on one hot wallet
// legitimately queues (writers serialise on its row lock while holding their connections).
const DefaultAcquireTimeout = 2 * time.Second

// NewStore returns a Store on pool.
func NewStore(pool *pgxpool.Pool) (*Store, error) {
	if pool == nil {
		return nil, errors.New("eventstore: nil pool")
	}
	return &Store{pool: pool, acquireTimeout: DefaultAcquireTimeout}, nil
}

// SetAcquireTimeout changes how long a transaction waits for a pooled connection before answering ErrUnavailable.
func (s *Store) SetAcquireTimeout(d time.Duration) {
	if d > 0 {
		s.acquireTimeout = d
	}
}

// AcquireTimeout is how long a write may wait for capacity (a connection, a place in the write queue) before it
// answers ErrUnavailable.
func (s *Store) AcquireTimeout() time.Duration { return s.acquireTimeout }

// acquire takes a pooled connection, waiting at most acquireTimeout (and never past ctx).
func (s *Store) acquire(ctx context.Context) (*pgxpool.Conn, error) {
	actx, cancel := context.WithTimeout(ctx, s.acquireTimeout)
	defer cancel()
	conn, err := s.pool.Acquire(actx)
	if err != nil {
		if ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
			return nil, &Error{Code: ErrUnavailable.Code, Detail: "the ledger is at capacity; nothing was committed, retry with the same Idempotency-Key", err: err}
		}
		return nil, classify(fmt.Errorf("acquire connection: %w", err))
	}
	return conn, nil
}

// Pool returns the pool for reads.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// InTx runs fn in one READ COMMITTED transaction and commits when it returns nil. Any error rolls everything
// back; database errors come back classified (domain errors, or ErrUnavailable when the outcome could not be
// committed), so a lost connection during COMMIT is never reported as a success.
func (s *Store) InTx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	conn, err := s.acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	tx, err := conn.Begin(ctx)
	if err != nil {
		return classify(fmt.Errorf("begin: %w", err))
	}
	if err := fn(tx); err != nil {
		// Rollback on a fresh context: the request's may already be done, and the connection must go back clean.
		rbCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		_ = tx.Rollback(rbCtx)
		return classify(err)
	}
	if err := tx.Commit(ctx); err != nil {
		return classify(fmt.Errorf("commit: %w", err))
	}
	return nil
}

// Classify exposes the error mapping for reads done outside InTx.
func Classify(err error) error { return classify(err) }

// NewPoolConfig parses connString and applies the ledger's session settings: bounded statement and lock waits,
// so a slow or partitioned database yields an error (and a 503) instead of a hang.
func NewPoolConfig(connString string, maxConns int32, statementTimeout, lockTimeout time.Duration) (*pgxpool.Config, error) {
	cfg, err := pgxpool.ParseConfig(connString)
	if err != nil {
		return nil, fmt.Errorf("parse DATABASE_URL: %w", err)
	}
	cfg.MaxConns = maxConns
	cfg.MinConns = 1
	cfg.MaxConnIdleTime = 5 * time.Minute
	cfg.HealthCheckPeriod = 5 * time.Second
	if cfg.ConnConfig.ConnectTimeout == 0 || cfg.ConnConfig.ConnectTimeout > 3*time.Second {
		cfg.ConnConfig.ConnectTimeout = 3 * time.Second
	}
	rp := cfg.ConnConfig.RuntimeParams
	rp["statement_timeout"] = fmt.Sprint(statementTimeout.Milliseconds())
	rp["lock_timeout"] = fmt.Sprint(lockTimeout.Milliseconds())
	rp["idle_in_transaction_session_timeout"] = fmt.Sprint((statementTimeout * 3).Milliseconds())
	if rp["application_name"] == "" {
		// pg_stat_activity then tells the processes apart (wallet-ledger/wallet-api, wallet-ledger/relay, ...);
		// an application_name in DATABASE_URL wins.
		rp["application_name"] = "wallet-ledger/" + filepath.Base(os.Args[0])
	}
	rp["timezone"] = "UTC"
	// google/uuid values otherwise reach pgx as driver.Valuers: formatted to text and parsed back for every
	// parameter and scan, a measurable share of the write path's CPU. The codec encodes their 16 bytes directly.
	cfg.AfterConnect = func(_ context.Context, conn *pgx.Conn) error {
		pgxuuid.Register(conn.TypeMap())
		return nil
	}
	return cfg, nil
}

// InSnapshot runs read-only fn in one REPEATABLE READ transaction: all its reads see the same committed state.
func (s *Store) InSnapshot(ctx context.Context, fn func(q Querier) error) error {
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return classify(fmt.Errorf("begin snapshot: %w", err))
	}
	defer func() {
		rbCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		_ = tx.Rollback(rbCtx)
	}()
	return classify(fn(tx))
}
