package telemetry

import (
	"fmt"

	"github.com/exaring/otelpgx"
	"github.com/jackc/pgx/v5/multitracer"
	"github.com/jackc/pgx/v5/pgxpool"
)

// InstrumentPgx makes every query, batch, prepare, connect and pool acquire on pools built from cfg a child span of
// the span in the query's context, and records db.client.operation.duration. Call it on the config before
// pgxpool.NewWithConfig, after Setup. Statement text is recorded (it is parameterised); argument values never are.
// A tracer already set on cfg keeps running alongside.
func InstrumentPgx(cfg *pgxpool.Config) {
	// The operation name (SELECT, INSERT, ...) on the duration metric is low-cardinality; the default leaves it off.
	t := otelpgx.NewTracer(otelpgx.WithMetricOperationName(otelpgx.SQLOperationName))
	if prev := cfg.ConnConfig.Tracer; prev != nil {
		cfg.ConnConfig.Tracer = multitracer.New(prev, t)
		return
	}
	cfg.ConnConfig.Tracer = t
}

// RegisterPoolMetrics reports the pool's usage (pgxpool.acquired_connections, pgxpool.idle_connections,
// pgxpool.max_connections, pgxpool.acquire_duration, ...) on every metric collection.
func RegisterPoolMetrics(pool *pgxpool.Pool) error {
	if err := otelpgx.RecordStats(pool); err != nil {
		return fmt.Errorf("register pgx pool metrics: %w", err)
	}
	return nil
}
