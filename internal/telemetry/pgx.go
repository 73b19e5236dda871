package telemetry

import (
	"fmt"

	"github.com/exaring/otelpgx"
	"github.com/jackc/pgx/v5/multitracer"
	"github.com/jackc/pgx/v5/pgxpool"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
)

// InstrumentPgx makes every query, batch, prepare, connect and pool acquire on pools built from cfg a child span of
// the span in the query's context, and records db.client.operation.duration. Call it on the config before
// pgxpool.NewWithConfig, after Setup. Statement text is recorded (it is parameterised); argument values never are.
// A tracer already set on cfg keeps running alongside.
func InstrumentPgx(cfg *pgxpool.Config) {
	// The connection's attributes are the same for every span of a pool, so they are set once on the tracer:
	// otelpgx's default copies the whole connection config for every statement, which on the write path (nine
	// pipelined statements a transfer) cost more CPU than encoding the statements themselves.
	cc := cfg.ConnConfig
	t := otelpgx.NewTracer(
		// The operation name (SELECT, INSERT, ...) on the duration metric is low-cardinality; the default leaves it off.
		otelpgx.WithMetricOperationName(otelpgx.SQLOperationName),
		otelpgx.WithDisableConnectionDetailsInAttributes(),
		otelpgx.WithTracerAttributes(semconv.DBSystemNamePostgreSQL, semconv.ServerAddress(cc.Host),
			semconv.ServerPort(int(cc.Port)), semconv.UserName(cc.User), semconv.DBNamespace(cc.Database)),
	)
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
