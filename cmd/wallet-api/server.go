package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"sort"
	"sync/atomic"
	"time"

	"github.com/gorilla/mux"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/agentic-commerce/wallet-ledger/api"
	"github.com/agentic-commerce/wallet-ledger/command"
	"github.com/agentic-commerce/wallet-ledger/eventstore"
	"github.com/agentic-commerce/wallet-ledger/internal/auth"
	"github.com/agentic-commerce/wallet-ledger/internal/config"
	"github.com/agentic-commerce/wallet-ledger/internal/httpapi"
	"github.com/agentic-commerce/wallet-ledger/internal/replica"
	"github.com/agentic-commerce/wallet-ledger/internal/telemetry"
	"github.com/agentic-commerce/wallet-ledger/migrations"
	"github.com/agentic-commerce/wallet-ledger/query"
	"github.com/agentic-commerce/wallet-ledger/webhook"
)

// app is the wallet-api's dependency graph.
type app struct {
	cfg      config.Config
	pool     *pgxpool.Pool
	commands *command.Commands
	queries  *query.Queries
	limiter  *httpapi.RateLimiter
	draining atomic.Bool
	// readPool is the streaming standby's pool (READ_DATABASE_URL), nil without one; reads decides per read
	// whether it or the primary answers, and its health check (reads.Run) must run beside the server.
	readPool *pgxpool.Pool
	reads    *replica.Router
}

// newApp builds the graph. It does not wait for the database: the process starts, answers /v1/health, and reports
// not ready (and 503 on every route that needs the database) until PostgreSQL answers.
func newApp(ctx context.Context, cfg config.Config) (*app, error) {
	poolCfg, err := eventstore.NewPoolConfig(cfg.DatabaseURL, cfg.DBMaxConns, cfg.StatementTimeout, cfg.LockTimeout)
	if err != nil {
		return nil, err
	}
	telemetry.InstrumentPgx(poolCfg)
	pool, err := pgxpool.NewWithConfig(ctx, poolCfg)
	if err != nil {
		return nil, fmt.Errorf("create pool: %w", err)
	}
	a, err := assemble(cfg, pool)
	if err != nil {
		pool.Close()
		return nil, err
	}
	if err := a.useReplica(ctx); err != nil {
		a.close()
		return nil, err
	}
	return a, nil
}

// assemble builds the graph on pool; on an error it stops what it started (the caller closes the pool).
func assemble(cfg config.Config, pool *pgxpool.Pool) (*app, error) {
	if err := telemetry.RegisterPoolMetrics(pool); err != nil {
		slog.Warn("no DB pool metrics", "error", err)
	}
	store, err := eventstore.NewStore(pool)
	if err != nil {
		return nil, err
	}
	store.SetAcquireTimeout(cfg.AcquireTimeout)
	hooks, err := webhook.LoadSettings(os.Getenv)
	if err != nil {
		return nil, err
	}
	if hooks.Keyring == nil {
		slog.Warn("WEBHOOK_SECRET_KEY is not set: creating webhook endpoints answers 503 webhooks_not_configured")
	}
	queries, err := query.New(store, cfg.CursorSecret)
	if err != nil {
		return nil, err
	}
	limiter, err := httpapi.NewRateLimiter(cfg.RateLimit, 0, nil)
	if err != nil {
		return nil, err
	}
	commands, err := command.New(store, cfg.SystemWalletID, cfg.IdempotencyTTL)
	if err != nil {
		return nil, err
	}
	commands.SetWebhooks(hooks)
	err = commands.SetHoldMaxTTL(cfg.HoldMaxTTL)
	if err == nil {
		err = commands.SetBatching(command.BatchConfig{Max: cfg.WriteBatchMax, Wait: cfg.WriteBatchWait,
			Workers: cfg.WriteBatchWorkers, Timeout: cfg.StatementTimeout + cfg.LockTimeout})
	}
	if err != nil {
		commands.Close()
		return nil, err
	}
	a := &app{cfg: cfg, pool: pool, commands: commands, queries: queries, limiter: limiter}
	return a, nil
}

// useReplica connects the read replica when READ_DATABASE_URL names one. Like the primary's, its pool does not wait
// for the server: a replica that does not answer is out of use until it does.
func (a *app) useReplica(ctx context.Context) error {
	var standby *pgxpool.Pool
	if a.cfg.ReadDatabaseURL != "" {
		poolCfg, err := eventstore.NewPoolConfig(a.cfg.ReadDatabaseURL, a.cfg.DBMaxConns, a.cfg.StatementTimeout, a.cfg.LockTimeout)
		if err != nil {
			return fmt.Errorf("READ_DATABASE_URL: %w", err)
		}
		telemetry.InstrumentPgx(poolCfg)
		if standby, err = pgxpool.NewWithConfig(ctx, poolCfg); err != nil {
			return fmt.Errorf("create read replica pool: %w", err)
		}
	}
	router, err := replica.New(a.pool, standby, replica.Config{MaxWait: a.cfg.ReplicaMaxWait,
		MaxLag: a.cfg.ReplicaMaxLag, CheckInterval: a.cfg.ReplicaCheckInterval})
	if err != nil {
		if standby != nil {
			standby.Close()
		}
		return err
	}
	a.reads = router
	if standby == nil {
		return a.queries.Route(router, nil)
	}
	a.readPool = standby
	store, err := eventstore.NewStore(standby)
	if err != nil {
		return err
	}
	return a.queries.Route(router, store)
}

// close stops the batcher (the writes in flight are answered first), then releases the pools.
func (a *app) close() {
	a.commands.Close()
	a.pool.Close()
	if a.readPool != nil {
		a.readPool.Close()
	}
}

// handler is the whole HTTP surface: the routes and what wraps them.
func (a *app) handler() http.Handler {
	r := a.router()
	// Outside the router, so 404s and 405s get a request id, a span, a duration and an access line too; the
	// request id outermost, so the span and the access line carry it.
	return httpapi.RequestID(telemetry.Middleware(r)(r))
}

// router assembles the routes the configuration asks for. The contract test walks it against api/openapi.yaml.
func (a *app) router() *mux.Router {
	r := httpapi.NewRouter()
	// Health and readiness are never rate limited: probes must see the process as it is.
	httpapi.RegisterHealth(r, a.ready, telemetry.SetDBReady)
	api.Register(r, a.limiter.ByClient)
	authn := &httpapi.Authenticator{Verifier: auth.NewVerifier(a.cfg.JWTSecret, a.cfg.JWTAudience),
		RecordSub: telemetry.SetSub, Limiter: a.limiter}
	if a.cfg.Routes == "all" || a.cfg.Routes == "command" {
		command.Routes(r, a.commands, authn)
	}
	if a.cfg.Routes == "all" || a.cfg.Routes == "query" {
		query.Routes(r, a.queries, authn)
	}
	r.Use(httpapi.Recover, httpapi.Timeout(a.cfg.RequestTimeout))
	return r
}

// ready: the database answers and its schema is at least the one this binary was built for; and we are not
// draining. A newer schema is served: migrate runs before a rollout (the chart's pre-upgrade hook), and every
// migration keeps the previous release's binaries working, so the pods still running it must stay in service
// until their successors are ready. An older schema is refused: this binary would use what is not there yet.
// The read replica's state is reported beside, never a reason to be unready: reads fall back to the primary.
func (a *app) ready(ctx context.Context) (httpapi.Readiness, error) {
	if a.draining.Load() {
		return httpapi.Readiness{}, errors.New("shutting down")
	}
	var version int32
	if err := a.pool.QueryRow(ctx, `SELECT version FROM `+migrations.VersionTable).Scan(&version); err != nil {
		return httpapi.Readiness{}, errors.New("the database does not answer or has no schema")
	}
	st := httpapi.Readiness{SchemaVersion: version}
	if want := migrations.Expected(); version < want {
		return st, fmt.Errorf("schema is at version %d, this binary needs %d: run migrate", version, want)
	}
	if a.reads.Configured() {
		st.Replica = a.reads.Status().View()
	}
	return st, nil
}

// purgeKeys deletes expired idempotency keys every interval until ctx ends.
func (a *app) purgeKeys(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			n, err := a.commands.PurgeExpiredKeys(ctx)
			if err != nil {
				slog.WarnContext(ctx, "purge idempotency keys", "error", err)
				continue
			}
			if n > 0 {
				slog.InfoContext(ctx, "purged expired idempotency keys", "count", n)
			}
		}
	}
}

// primeCounters has every ledger counter a dashboard or an alert names exported at zero from the start: each
// transaction kind, each idempotency conflict, and each refusal a write can store under its key (the 403, 404,
// 409 and 422 codes).
func primeCounters() {
	kinds := []string{eventstore.KindTransfer, eventstore.KindAdjustment, eventstore.KindHold, eventstore.KindCapture,
		eventstore.KindVoid, eventstore.KindExpire, eventstore.KindRefund}
	conflicts := []string{eventstore.ErrIdempotencyKeyReuse.Code, eventstore.ErrIdempotencyKeyInUse.Code}
	var refusals []string
	for code, status := range httpapi.Codes() {
		switch status {
		case http.StatusForbidden, http.StatusNotFound, http.StatusConflict, http.StatusUnprocessableEntity:
			refusals = append(refusals, code)
		}
	}
	sort.Strings(refusals)
	telemetry.PrimeLedgerCounters(kinds, conflicts, refusals)
	var reads [][2]string
	for _, r := range replica.Routes() {
		reads = append(reads, [2]string{string(r.Source), r.Reason})
	}
	telemetry.PrimeReadCounters(reads)
}
