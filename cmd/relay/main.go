// Command relay publishes the outbox's domain events downstream (RELAY_PUBLISHER=sql|nats) and serves
// /v1/health and /v1/ready on RELAY_HTTP_ADDR. See package relay for its guarantees.
//
// Other background work of the relay process is added where the relay is built below, as relay.WithWorker(...) or
// relay.WithHandler(...) options; main stays wiring only.
package main

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/agentic-commerce/wallet-ledger/command"
	"github.com/agentic-commerce/wallet-ledger/eventstore"
	"github.com/agentic-commerce/wallet-ledger/internal/config"
	"github.com/agentic-commerce/wallet-ledger/internal/profiler"
	"github.com/agentic-commerce/wallet-ledger/internal/telemetry"
	"github.com/agentic-commerce/wallet-ledger/relay"
)

func main() {
	os.Exit(run())
}

func run() int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	defer telemetry.Start(ctx, "wallet-relay")()
	telemetry.PrimeRelayCounters()

	cfg, err := config.Load()
	if err != nil {
		slog.Error("relay cannot start", "error", err)
		return 2
	}
	rcfg, err := relay.LoadConfig()
	if err != nil {
		slog.Error("relay cannot start", "error", err)
		return 2
	}
	poolCfg, err := eventstore.NewPoolConfig(cfg.DatabaseURL, cfg.DBMaxConns, cfg.StatementTimeout, cfg.LockTimeout)
	if err != nil {
		slog.Error("relay cannot start", "error", err)
		return 2
	}
	telemetry.InstrumentPgx(poolCfg)
	pool, err := pgxpool.NewWithConfig(ctx, poolCfg)
	if err != nil {
		slog.Error("relay cannot start", "error", err)
		return 2
	}
	defer pool.Close()
	// The same pool gauges as wallet-api's (pgxpool.acquired_connections, ...): the relay's workers share this pool.
	if err := telemetry.RegisterPoolMetrics(pool); err != nil {
		slog.Warn("no DB pool metrics", "error", err)
	}
	down, err := relay.NewDownstream(rcfg, pool, watermill.NewSlogLogger(slog.Default()))
	if err != nil {
		slog.Error("relay cannot start", "error", err)
		return 2
	}
	defer down.Close()
	// Issue 4 (audit loop, history projector) and issue 5 (hold-expiry sweeper) add their options here.
	standby, err := standbyPool(ctx, cfg)
	if err != nil {
		slog.Error("relay cannot start", "error", err)
		return 2
	}
	if standby != nil {
		defer standby.Close()
	}
	readSide, err := readSideOptions(pool, standby)
	if err != nil {
		slog.Error("relay cannot start", "error", err)
		return 2
	}
	sweeper, err := holdSweeper(pool, cfg)
	if err != nil {
		slog.Error("relay cannot start", "error", err)
		return 2
	}
	hooks, err := webhookOption(ctx, pool)
	if err != nil {
		slog.Error("relay cannot start", "error", err)
		return 2
	}
	rl, err := relay.New(rcfg, pool, down, append(readSide, sweeper, hooks)...)
	if err != nil {
		slog.Error("relay cannot start", "error", err)
		return 2
	}

	var draining atomic.Bool
	srv := &http.Server{Addr: rcfg.HTTPAddr, Handler: rl.HealthHandler(&draining), ReadHeaderTimeout: 5 * time.Second}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.ListenAndServe() }()
	slog.Info("relay starting", "addr", rcfg.HTTPAddr, "publisher", rcfg.Publisher)
	profiler.Start(os.Getenv("DEBUG_ADDR"))

	relayDone := make(chan error, 1)
	runCtx, cancelRun := context.WithCancel(context.Background())
	defer cancelRun()
	go func() { relayDone <- rl.Run(runCtx) }()

	code := 0
	select {
	case err := <-serveErr:
		slog.Error("relay health server stopped", "error", err)
		code = 1
	case <-ctx.Done():
	}
	// Not ready first, then stop the router: in-flight messages are finished or abandoned unacked (re-delivered).
	draining.Store(true)
	cancelRun()
	select {
	case <-relayDone:
	case <-time.After(rcfg.ShutdownTimeout):
		slog.Error("relay did not stop within SHUTDOWN_TIMEOUT; unacked events will be re-delivered")
		code = 1
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		slog.Warn("relay health server shutdown", "error", err)
	}
	slog.Info("relay stopped")
	return code
}

// holdSweeper is the worker that releases expired holds (issue 5). Several replicas may run it: each hold is
// released once, under its row lock.
func holdSweeper(pool *pgxpool.Pool, cfg config.Config) (relay.Option, error) {
	store, err := eventstore.NewStore(pool)
	if err != nil {
		return nil, err
	}
	return relay.WithWorker(relay.Worker{Name: "hold-expiry", Run: func(ctx context.Context) error {
		commands, err := command.New(store, cfg.SystemWalletID, cfg.IdempotencyTTL)
		if err != nil {
			return err
		}
		defer commands.Close()
		return commands.RunHoldSweeper(ctx, command.HoldSweepInterval)
	}}), nil
}
