package main

import (
	"log/slog"
	"os"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/agentic-commerce/wallet-ledger/eventstore"
	"github.com/agentic-commerce/wallet-ledger/internal/telemetry"
	"github.com/agentic-commerce/wallet-ledger/projector"
	"github.com/agentic-commerce/wallet-ledger/relay"
)

// readSideOptions adds the read side to the relay: the continuous audit (incremental every AUDIT_INTERVAL, full
// sweep every AUDIT_FULL_INTERVAL; findings to the audit.* gauges and one log line each) and the history
// projector (HISTORY_INTERVAL). Both run on the leader only: their checkpoints are locked, so a second replica
// would only repeat the work.
func readSideOptions(pool *pgxpool.Pool) ([]relay.Option, error) {
	store, err := eventstore.NewStore(pool)
	if err != nil {
		return nil, err
	}
	rs, err := projector.NewReadSide(store, os.Getenv, slog.Default(), telemetry.SetAuditResult)
	if err != nil {
		return nil, err
	}
	return []relay.Option{
		relay.WithWorker(relay.Worker{Name: "audit", LeaderOnly: true, Run: rs.RunAudit}),
		relay.WithWorker(relay.Worker{Name: "history-projector", LeaderOnly: true, Run: rs.RunHistory}),
	}, nil
}
