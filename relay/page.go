package relay

import (
	"context"
	"fmt"
	"time"

	watermillsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/agentic-commerce/wallet-ledger/eventstore"
	"github.com/agentic-commerce/wallet-ledger/internal/telemetry"
)

// pageForwarder relays the outbox a page at a time: it reads up to BatchSize rows in offset order (the schema of
// ordering.go, with the consumer group's offsets row locked FOR UPDATE), publishes them downstream as one batch,
// and commits the group's offset past what the broker confirmed, all in one transaction. An event that fails,
// and every event after it, goes through the one-event path (forwarder.Handle: retries, failure counts,
// quarantine), so a poison event or an outage is handled exactly as before, and nothing is acked that the broker
// does not have.
type pageForwarder struct {
	pool    *pgxpool.Pool
	fwd     *forwarder
	schema  offsetOrderSchema
	offsets watermillsql.DefaultPostgreSQLOffsetsAdapter
	group   string
	poll    time.Duration
	// ackDeadline bounds the one-event path inside a page, as Watermill's AckDeadline did.
	ackDeadline time.Duration
}

// run relays pages until ctx ends.
func (p *pageForwarder) run(ctx context.Context) error {
	if _, err := p.pool.Exec(ctx, `INSERT INTO watermill_offsets_`+eventstore.OutboxTopic+` (consumer_group, offset_acked, last_processed_transaction_id)
		VALUES ($1, 0, '0') ON CONFLICT DO NOTHING`, p.group); err != nil {
		return fmt.Errorf("offsets row of %s: %w", p.group, err)
	}
	for ctx.Err() == nil {
		n, err := p.page(ctx)
		if err != nil && ctx.Err() == nil {
			p.fwd.log.WarnContext(ctx, "relay page failed; retrying", "error", err)
		}
		if n == 0 || err != nil {
			select {
			case <-ctx.Done():
			case <-time.After(p.poll):
			}
		}
	}
	return nil
}

// page relays one page and returns how many events it acked.
func (p *pageForwarder) page(ctx context.Context) (acked int, err error) {
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
	for acked < len(rows) {
		n := p.publish(ctx, rows[acked:])
		acked += n
		if acked == len(rows) {
			break
		}
		// The first event the batch could not publish takes the one-event path; the rest follow in the next batch.
		row := rows[acked]
		msgCtx, cancel := context.WithTimeout(ctx, p.ackDeadline)
		row.Msg.SetContext(msgCtx)
		err := p.fwd.Handle(row.Msg)
		cancel()
		if err != nil {
			break // abandoned for now (deadline, shutdown): commit what is done, read the rest again
		}
		acked++
	}
	if acked == 0 {
		return 0, nil
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

func (p *pageForwarder) readPage(ctx context.Context, tx pgx.Tx, q watermillsql.Query) ([]watermillsql.Row, error) {
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

// publish sends the leading events of rows that can be routed as one batch, and returns how many the broker
// confirmed. Each event keeps its own trace: its publish span continues the request that wrote it.
func (p *pageForwarder) publish(ctx context.Context, rows []watermillsql.Row) int {
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
	n, err := p.fwd.down.PublishBatch(ctx, batch)
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
