// Package telemetry is the OpenTelemetry wiring every process shares: Setup (traces, metrics and logs over
// OTLP/HTTP, slog to JSON on stderr and to OTLP), the HTTP middleware, pgx tracing and pool metrics, the metric
// recorders of the ledger, the relay and the audit, and trace-context helpers for outbox metadata.
//
// # Wiring a process
//
//	tel, err := telemetry.Setup(ctx, "relay")           // never waits for the collector
//	defer tel.Shutdown(ctxWithDeadline)                  // flushes; bounded by the deadline
//	telemetry.InstrumentPgx(poolCfg)                     // before pgxpool.NewWithConfig
//	telemetry.RegisterPoolMetrics(pool)
//	srv.Handler = telemetry.Middleware(router)(router)   // outside the router, not router.Use
//	authn.RecordSub = telemetry.SetSub                   // the caller's sub for the access log
//
// In the write transaction, put telemetry.InjectMap(ctx) into the outbox message metadata. In the relay, wrap the
// handling of each event in StartConsume (its parent is the trace in the metadata) and the downstream publish in
// StartPublish (which writes its own context into the outgoing headers), so one trace runs from the HTTP request
// to the broker's subscribers. The relay records RecordRelayed, RecordPublishError, RecordQuarantined and
// SetOutboxLag, and for webhooks InitWebhookMetrics (every counter at zero from the start), RecordWebhookAttempt,
// RecordWebhookFailed, RecordWebhookEndpointDisabled and SetWebhookBacklog; whoever audits records SetAuditResult.
//
// # Metric names
//
// OTel name (unit) and the Prometheus series after Alloy's otelcol.exporter.prometheus (dots become underscores,
// the unit is appended as a word, {annotations} are dropped, monotonic counters get _total, histograms give
// _bucket/_sum/_count). Resource service.name becomes the job label, service.instance.id the instance label;
// attribute dots become underscores (http.route -> http_route).
//
//	http.server.request.duration (s, histogram)   http_server_request_duration_seconds_bucket|_sum|_count
//	                                              {http_route, http_request_method, http_response_status_code}
//	ledger.transactions.committed ({transaction}) ledger_transactions_committed_total{kind}
//	ledger.idempotency.replays ({request})        ledger_idempotency_replays_total
//	ledger.idempotency.conflicts ({request})      ledger_idempotency_conflicts_total{code}
//	ledger.rejections ({request})                 ledger_rejections_total{code}
//	ledger.db.ready (gauge, 0/1)                  ledger_db_ready
//	relay.events.relayed ({event})                relay_events_relayed_total
//	relay.publish.errors ({error})                relay_publish_errors_total
//	relay.events.quarantined ({event})            relay_events_quarantined_total
//	relay.outbox.lag (s, gauge)                   relay_outbox_lag_seconds
//	relay.outbox.backlog ({event}, gauge)         relay_outbox_backlog
//	relay.webhook.attempts ({attempt})            relay_webhook_attempts_total{outcome} (delivered, failed)
//	relay.webhook.attempt.duration (s, histogram) relay_webhook_attempt_duration_seconds_bucket|_sum|_count{outcome}
//	relay.webhook.deliveries.failed ({delivery})  relay_webhook_deliveries_failed_total
//	relay.webhook.endpoints.disabled ({endpoint}) relay_webhook_endpoints_disabled_total
//	relay.webhook.lag (s, gauge)                  relay_webhook_lag_seconds
//	relay.webhook.backlog ({delivery}, gauge)     relay_webhook_backlog
//	audit.discrepancies (gauge)                   audit_discrepancies
//	audit.last_clean.timestamp (s, gauge)         audit_last_clean_timestamp_seconds
//	telemetry.dropped ({item})                    telemetry_dropped_total{signal, reason}
//	db.client.operation.duration (s, histogram)   db_client_operation_duration_seconds_bucket|_sum|_count
//	                                              {db_operation_name, pgx_operation_type, db_system_name}
//	pgxpool.acquired_connections, idle_connections, total_connections, constructing_connections (up/down)
//	                                              pgxpool_acquired_connections, ... (no suffix)
//	pgxpool.max_connections (gauge)               pgxpool_max_connections
//	pgxpool.acquires, new_connections, canceled_acquires, empty_acquire, max_idle_destroys, max_lifetime_destroys
//	                                              pgxpool_acquires_total, ...
//	pgxpool.acquire_duration, empty_acquire_wait_time (ns)
//	                                              pgxpool_acquire_duration_nanoseconds_total, ...
//
// The tests derive these names from a real export (internal/telemetry/otlptest translates with the Prometheus
// project's own translator) and fail when a dashboard or alert names anything else.
package telemetry
