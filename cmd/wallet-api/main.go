// Command wallet-api serves the ledger's HTTP API: the command routes (POST) and the query routes (GET).
package main

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/agentic-commerce/wallet-ledger/internal/config"
	"github.com/agentic-commerce/wallet-ledger/internal/profiler"
	"github.com/agentic-commerce/wallet-ledger/internal/telemetry"
)

func main() {
	os.Exit(run())
}

func run() int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	defer telemetry.Start(ctx, "wallet-api")()
	primeCounters()

	cfg, err := config.Load()
	if err != nil {
		slog.Error("wallet-api cannot start", "error", err)
		return 2
	}
	if cfg.UsingDefaultSecret {
		slog.Warn("JWT_SECRET is the public development default: anyone can mint tokens. Set JWT_SECRET before exposing this service.")
	}
	a, err := newApp(ctx, cfg)
	if err != nil {
		slog.Error("wallet-api cannot start", "error", err)
		return 2
	}
	// After the server has drained: the writes in flight are answered, then the batcher and the pools stop.
	defer a.close()
	go a.purgeKeys(ctx, 10*time.Minute)
	go a.reads.Run(ctx)
	profiler.Start(os.Getenv("DEBUG_ADDR"))

	srv := &http.Server{
		Addr:              cfg.HTTPAddr,
		Handler:           a.handler(),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      cfg.RequestTimeout + 5*time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.ListenAndServe() }()
	slog.Info("wallet-api listening", "addr", cfg.HTTPAddr, "routes", cfg.Routes)

	select {
	case err := <-serveErr:
		slog.Error("wallet-api stopped", "error", err)
		return 1
	case <-ctx.Done():
	}
	// Report not ready first so load balancers stop sending, then drain what is in flight.
	a.draining.Store(true)
	slog.Info("wallet-api draining", "timeout", cfg.ShutdownTimeout)
	shutdownCtx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		slog.Error("wallet-api drain incomplete", "error", err)
		return 1
	}
	slog.Info("wallet-api stopped")
	return 0
}
