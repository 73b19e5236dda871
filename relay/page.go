package relay

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	watermillsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/agentic-commerce/wallet-ledger/eventstore"
	"github.com/agentic-commerce/wallet-ledger/internal/telemetry"
)

// pager consumes the outbox a page at a time for one consumer group: it reads up to a page of rows in offset order
// (the schema of ordering.go, with the group's offsets row locked FOR UPDATE), hands them to handle, and commits
// the group's offset past the rows handle says it is done with, in the same transaction as whatever handle wrote
// in it. A crash before that COMMIT leaves both as they were, and the page is read again.
type pager struct {
	pool    *pgxpool.Pool
	schema  offsetOrderSchema
	offsets watermillsql.DefaultPostgreSQLOffsetsAdapter
	group   string
	poll    time.Duration
	gather  time.Duration // the wait after a page that was not full (Config.PageGather)
	size    int
	log     *slog.Logger
	// handle processes rows and returns how many of them, from the first, are done.
	handle func(ctx context.Context, tx pgx.Tx, rows []watermillsql.Row) (int, error)
}

// newPager reads outbox_events for group, pageSize rows at a time.
func newPager(pool *pgxpool.Pool, group string, pageSize int, poll, gather time.Duration, log *slog.Logger,
	handle func(context.Context, pgx.Tx, []watermillsql.Row) (int, error)) *pager {
	return &pager{pool: pool, schema: newOffsetOrderSchema(pool, pageSize), group: group, poll: poll, gather: gather,
		size: pageSize, log: log, handle: handle}
}

// run consumes pages until ctx ends.
func (p *pager) run(ctx context.Context) error {
	if _, err := p.pool.Exec(ctx, `INSERT INTO watermill_offsets_`+eventstore.OutboxTopic+` (consumer_group, offset_acked, last_processed_transaction_id)
		VALUES ($1, 0, '0') ON CONFLICT DO NOTHING`, p.group); err != nil {
		return fmt.Errorf("offsets row of %s: %w", p.group, err)
	}
	for ctx.Err() == nil {
		n, err := p.page(ctx)
		if err != nil && ctx.Err() == nil {
			p.log.WarnContext(ctx, "relay page failed; retrying", "consumer_group", p.group, "error", err)
		}
		wait := time.Duration(0)
		switch {
		case n == 0 || err != nil:
			wait = p.poll
		case n < p.size:
			wait = p.gather // caught up: let the next events gather into one page
		}
		if wait > 0 {
			select {
			case <-ctx.Done():
			case <-time.After(wait):
			}
		}
	}
	return nil
}

// page consumes one page and returns how many events it acked.
func (p *pager) page(ctx context.Context) (acked int, err error) {
	tx, err := p.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.ReadCommitted})
	if err != nil {
		return 0, fmt.Errorf("begin page: %w", err)
	}
	defer func() {
		if err != nil || acked == 0 {
			rbCtx, cancel := bookkeeping(ctx)
			defer cancel()
			_ = tx.Rollback(rbCtx)
		}
	}()
	q, err := p.schema.SelectQuery(watermillsql.SelectQueryParams{Topic: eventstore.OutboxTopic, ConsumerGroup: p.group, OffsetsAdapter: p.offsets})
	if err != nil {
		return 0, err
	}
	rows, err := p.readPage(ctx, tx, q)
	if err != nil || len(rows) == 0 {
		return 0, err
	}
	if acked, err = p.handle(ctx, tx, rows); err != nil || acked == 0 {
		return 0, err
	}
	ack, err := p.offsets.AckMessageQuery(watermillsql.AckMessageQueryParams{Topic: eventstore.OutboxTopic,
		LastRow: rows[acked-1], Rows: rows, ConsumerGroup: p.group})
	if err != nil {
		return 0, err
	}
	commitCtx, cancel := bookkeeping(ctx)
	defer cancel()
	if _, err := tx.Exec(commitCtx, ack.Query, ack.Args...); err != nil {
		return 0, fmt.Errorf("ack page: %w", err)
	}
	if err := tx.Commit(commitCtx); err != nil {
		return 0, fmt.Errorf("commit page: %w", err)
	}
	return acked, nil
}

func (p *pager) readPage(ctx context.Context, tx pgx.Tx, q watermillsql.Query) ([]watermillsql.Row, error) {
	rows, err := tx.Query(ctx, q.Query, q.Args...)
	if err != nil {
		return nil, fmt.Errorf("read page: %w", err)
	}
	defer rows.Close()
	var out []watermillsql.Row
	for rows.Next() {
		row, err := p.schema.UnmarshalMessage(watermillsql.UnmarshalMessageParams{Row: rows})
		if err != nil {
			return nil, fmt.Errorf("read page: %w", err)
		}
		out = append(out, row)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read page: %w", err)
	}
	return out, nil
}

// forwardPage publishes rows downstream as one batch and returns how many are done. An event that fails, and
// every event after it, goes through the one-event path (forwarder.Handle: retries, failure counts, quarantine),
// so a poison event or an outage is handled exactly as before, and nothing is acked that the broker does not have.
func (f *forwarder) forwardPage(ctx context.Context, _ pgx.Tx, rows []watermillsql.Row) (int, error) {
	acked := 0
	for acked < len(rows) {
		acked += f.publish(ctx, rows[acked:])
		if acked == len(rows) {
			break
		}
		// The first event the batch could not publish takes the one-event path; the rest follow in the next batch.
		row := rows[acked]
		msgCtx, cancel := context.WithTimeout(ctx, f.ackDeadline)
		row.Msg.SetContext(msgCtx)
		err := f.Handle(row.Msg)
		cancel()
		if err != nil {
			break // abandoned for now (deadline, shutdown): commit what is done, read the rest again
		}
		acked++
	}
	return acked, nil
}

// publish sends the leading events of rows that can be routed as one batch, and returns how many the broker
// confirmed. Each event keeps its own trace: its publish span continues the request that wrote it.
func (f *forwarder) publish(ctx context.Context, rows []watermillsql.Row) int {
	batch := make([]Outgoing, 0, len(rows))
	spans := make([]trace.Span, 0, len(rows))
	for _, row := range rows {
		out, eventType, invalid := prepare(row.Msg)
		if invalid != nil {
			break
		}
		msgCtx := telemetry.ExtractMap(ctx, row.Msg.Metadata)
		msgCtx, span := tracer.Start(msgCtx, "relay publish", trace.WithSpanKind(trace.SpanKindProducer),
			trace.WithAttributes(attribute.String("messaging.message.id", row.Msg.UUID), attribute.String("event.type", eventType)))
		for k, v := range telemetry.InjectMap(msgCtx) {
			out.Metadata.Set(k, v)
		}
		batch = append(batch, Outgoing{EventType: eventType, Msg: out})
		spans = append(spans, span)
	}
	n, err := f.down.PublishBatch(ctx, batch)
	for i, span := range spans {
		if i >= n && err != nil {
			span.RecordError(err)
		}
		span.End()
	}
	if n > 0 {
		telemetry.RecordRelayed(ctx, n)
	}
	if err != nil {
		telemetry.RecordPublishError(ctx)
	}
	return n
}
