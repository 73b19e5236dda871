package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/agentic-commerce/wallet-ledger/eventstore"
	"github.com/agentic-commerce/wallet-ledger/internal/config"
	"github.com/agentic-commerce/wallet-ledger/internal/telemetry"
	"github.com/agentic-commerce/wallet-ledger/projector"
	"github.com/agentic-commerce/wallet-ledger/relay"
)

// readSideOptions adds the read side to the relay: the continuous audit (incremental every AUDIT_INTERVAL, full
// sweep every AUDIT_FULL_INTERVAL; findings to the audit.* gauges and one log line each) and the history
// projector (HISTORY_INTERVAL). Both run on the leader only: their checkpoints are locked, so a second replica
// would only repeat the work. With READ_DATABASE_URL the full sweeps read that standby (projector.Auditor.Replica);
// standby is its pool, nil without one.
func readSideOptions(pool, standby *pgxpool.Pool) ([]relay.Option, error) {
	store, err := eventstore.NewStore(pool)
	if err != nil {
		return nil, err
	}
	rs, err := projector.NewReadSide(store, os.Getenv, slog.Default(), telemetry.SetAuditResult)
	if err != nil {
		return nil, err
	}
	if standby != nil {
		if rs.Auditor.Replica, err = eventstore.NewStore(standby); err != nil {
			return nil, err
		}
	}
	return []relay.Option{
		relay.WithWorker(relay.Worker{Name: "audit", LeaderOnly: true, Run: rs.RunAudit}),
		relay.WithWorker(relay.Worker{Name: "history-projector", LeaderOnly: true, Run: rs.RunHistory}),
	}, nil
}

// standbyPool connects READ_DATABASE_URL for the full sweeps, nil when it is empty. The pool does not wait for the
// server: a standby that does not answer makes the sweep read the primary.
func standbyPool(ctx context.Context, cfg config.Config) (*pgxpool.Pool, error) {
	if cfg.ReadDatabaseURL == "" {
		return nil, nil
	}
	poolCfg, err := eventstore.NewPoolConfig(cfg.ReadDatabaseURL, 2, cfg.StatementTimeout, cfg.LockTimeout)
	if err != nil {
		return nil, fmt.Errorf("READ_DATABASE_URL: %w", err)
	}
	telemetry.InstrumentPgx(poolCfg)
	standby, err := pgxpool.NewWithConfig(ctx, poolCfg)
	if err != nil {
		return nil, fmt.Errorf("create read replica pool: %w", err)
	}
	return standby, nil
}
