package relay

import (
	"context"
	"fmt"
	"sync"
	"time"

	watermillsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/agentic-commerce/wallet-ledger/eventstore"
)

// Why the relay does not read the outbox in Watermill's default order.
//
// Watermill's PostgreSQL schema reads rows in (transaction_id, offset) order, transaction_id being the writer's
// xid. PostgreSQL assigns an xid when a transaction first writes or row-locks, and the write path locks a
// transfer's wallets one by one: a transfer that locked its first wallet early, then waited for a second, holds
// an older xid than the transfer it waited for, which committed first. Watermill then delivers the later
// transaction first, and a subscriber would see a wallet's journal out of order (the relay's tests caught this
// under four concurrent writers).
//
// The outbox row's "offset", in contrast, is drawn by the INSERT, which every use case runs after it holds its
// wallets' locks: of two transactions sharing a wallet, the second draws its offset after the first committed.
// Offset order is therefore journal order per wallet. Offsets are not committed in order, though, so reading by
// offset needs a horizon below which no row can still appear. horizon computes one: it reads the sequence's
// last value L, then the transactions that hold a write lock on outbox_events. Every row with offset <= L was
// inserted by a transaction that had taken that lock before drawing its offset, so once those transactions have
// ended, every row up to L is either visible or never will be. Rows are delivered in offset order up to the
// horizon, and the cursor is the offset alone.

// horizon tracks the safe offset for one subscriber. The subscriber calls SelectQuery from one goroutine; the
// mutex only guards against misuse.
type horizon struct {
	pool *pgxpool.Pool

	mu      sync.Mutex
	safe    int64
	pending *candidate
}

type candidate struct {
	last    int64
	writers []string // pg_locks.virtualtransaction of the transactions writing outbox_events
}

// writersQuery lists the transactions of this database holding a write lock on outbox_events.
const writersQuery = `SELECT DISTINCT virtualtransaction FROM pg_locks
	WHERE locktype = 'relation' AND relation = 'outbox_events'::regclass AND mode = 'RowExclusiveLock'
	  AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`

const lastOffsetQuery = `SELECT COALESCE(pg_sequence_last_value(pg_get_serial_sequence('outbox_events', 'offset')::regclass), 0)`

// advance returns the current safe offset, moving it forward when the writers of the last candidate have ended.
func (h *horizon) advance(ctx context.Context) (int64, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.pending != nil {
		var still int
		err := h.pool.QueryRow(ctx, `SELECT count(*) FROM pg_locks WHERE locktype = 'relation'
			AND relation = 'outbox_events'::regclass AND virtualtransaction = ANY($1)`, h.pending.writers).Scan(&still)
		if err != nil {
			return h.safe, fmt.Errorf("outbox horizon: %w", err)
		}
		if still > 0 {
			return h.safe, nil
		}
		h.safe = max(h.safe, h.pending.last)
		h.pending = nil
	}
	// The order matters: the last offset first, then the writers (see above).
	var c candidate
	if err := h.pool.QueryRow(ctx, lastOffsetQuery).Scan(&c.last); err != nil {
		return h.safe, fmt.Errorf("outbox horizon: %w", err)
	}
	if c.last <= h.safe {
		return h.safe, nil
	}
	rows, err := h.pool.Query(ctx, writersQuery)
	if err != nil {
		return h.safe, fmt.Errorf("outbox horizon: %w", err)
	}
	for rows.Next() {
		var w string
		if err := rows.Scan(&w); err != nil {
			rows.Close()
			return h.safe, fmt.Errorf("outbox horizon: %w", err)
		}
		c.writers = append(c.writers, w)
	}
	if err := rows.Err(); err != nil {
		return h.safe, fmt.Errorf("outbox horizon: %w", err)
	}
	if len(c.writers) == 0 {
		h.safe = c.last
		return h.safe, nil
	}
	h.pending = &c
	return h.safe, nil
}

// offsetOrderSchema is Watermill's PostgreSQL schema for outbox_events, read in offset order up to the horizon.
type offsetOrderSchema struct {
	watermillsql.DefaultPostgreSQLSchema
	horizon *horizon
	batch   int
}

func newOffsetOrderSchema(pool *pgxpool.Pool, batch int) offsetOrderSchema {
	return offsetOrderSchema{
		DefaultPostgreSQLSchema: watermillsql.DefaultPostgreSQLSchema{
			GenerateMessagesTableName: func(string) string { return eventstore.OutboxTopic },
			SubscribeBatchSize:        batch,
		},
		horizon: &horizon{pool: pool},
		batch:   batch,
	}
}

// SelectQuery reads the next rows after the group's acked offset. The offsets row is still read FOR UPDATE, so
// two subscribers of one group never hold the same batch at once.
func (s offsetOrderSchema) SelectQuery(params watermillsql.SelectQueryParams) (watermillsql.Query, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	safe, err := s.horizon.advance(ctx)
	if err != nil {
		return watermillsql.Query{}, err
	}
	next, err := params.OffsetsAdapter.NextOffsetQuery(watermillsql.NextOffsetQueryParams{
		Topic: params.Topic, ConsumerGroup: params.ConsumerGroup,
	})
	if err != nil {
		return watermillsql.Query{}, err
	}
	q := `
	SELECT * FROM (
		WITH last_processed AS (` + next.Query + `)
		SELECT "offset", transaction_id, uuid, payload, metadata FROM ` + s.MessagesTable(params.Topic) + `
		WHERE "offset" > (SELECT offset_acked FROM last_processed) AND "offset" <= $2
	) AS messages
	ORDER BY "offset" ASC
	LIMIT ` + fmt.Sprint(s.batch)
	return watermillsql.Query{Query: q, Args: append(append([]any(nil), next.Args...), safe)}, nil
}
