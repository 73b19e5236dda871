// Package relay is the library of the relay process: it reads the outbox_events table with Watermill's SQL
// subscriber (pgx adapter, consumer group "relay") and publishes every event downstream, to NATS JetStream or to a
// Watermill SQL topic, at least once and in outbox order.
//
// # Guarantees
//
//   - Nothing is lost: the subscriber advances its offset (watermill_offsets_outbox_events) only in the same
//     transaction as the acks of the messages it covers, and a message is acked only after the downstream publish
//     returned (or the event was quarantined). A crash or a cancelled context re-delivers the unacked rest.
//   - At least once: a crash between publish and offset commit re-publishes; every message carries the event_id
//     as its UUID (and, on NATS, as Nats-Msg-Id, so JetStream itself drops repeats inside its 2-minute window).
//     Subscribers deduplicate by event_id.
//   - Order: one relay is active at a time (see Leader election) and it publishes one event at a time in outbox
//     offset order, which is journal order per wallet (ordering.go says why Watermill's default order is not).
//   - Retention: the leader deletes outbox rows older than Config.OutboxRetention that every consumer is done
//     with (PruneOutbox); quarantined rows stay until released (ReleaseQuarantined appends them to the outbox
//     again, same event id, so the relay publishes them through its usual path).
//   - Poison events: a publish failure that is the event's own (malformed envelope, a broker refusing it) is
//     counted in relay_failures; after MaxAttempts the event is written to relay_quarantine, counted in
//     relay.events.quarantined and acked. A broker outage (ErrUnavailable) is retried with exponential backoff
//     forever and never counts toward quarantine.
//
// # Leader election
//
// Replicas campaign for a PostgreSQL session advisory lock (Config.LockKey) on a dedicated connection, outside the
// pool. The holder runs the Watermill router; the others wait and take over within about a second of the holder's
// session ending. The holder pings its lock connection every second and stops its router when the ping fails.
// A single active publisher is what keeps per-wallet order with several replicas. Should two routers ever overlap
// (the old holder has not yet noticed its session is gone), Watermill's offsets row, read FOR UPDATE in every
// batch, still serialises them: they may re-publish a batch (at least once), never skip or reorder one.
//
// # Extending the relay process
//
// Other background work of the relay process (the continuous audit, projectors, sweepers) plugs in through
// options of New, without touching the relay's loop:
//
//   - WithWorker(Worker{Name, Run, LeaderOnly}): Run(ctx) is started when the relay runs (LeaderOnly: only while
//     this replica holds the lock, and cancelled when it loses it). It should return when ctx ends; a non-nil
//     error before that is logged and the worker restarted after a backoff, so one failing worker never stops
//     the relay.
//   - WithHandler(Handler{Name, ConsumerGroup, Handle}): another consumer of outbox_events on the same router,
//     with its own Watermill consumer group (its own offsets row), run under the leader lock. Return nil to ack,
//     an error to have the message re-delivered.
package relay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	watermillsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/agentic-commerce/wallet-ledger/eventstore"
)

// Worker is a background loop of the relay process.
type Worker struct {
	Name       string
	Run        func(ctx context.Context) error
	LeaderOnly bool
}

// Handler is an extra consumer of the outbox topic, run on the relay's router under the leader lock.
type Handler struct {
	Name          string
	ConsumerGroup string
	Handle        message.NoPublishHandlerFunc
}

// Option configures a Relay.
type Option func(*Relay)

// WithWorker adds a background worker.
func WithWorker(w Worker) Option { return func(r *Relay) { r.workers = append(r.workers, w) } }

// WithHandler adds an outbox consumer.
func WithHandler(h Handler) Option { return func(r *Relay) { r.handlers = append(r.handlers, h) } }

// WithLogger sets the logger (default slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(r *Relay) { r.log = l } }

// Relay moves outbox events downstream.
type Relay struct {
	cfg      Config
	pool     *pgxpool.Pool
	down     Downstream
	log      *slog.Logger
	workers  []Worker
	handlers []Handler
	pagers   []*pager // other page-at-a-time consumers of the outbox (the webhook fan-out), run with the forwarder

	leader atomic.Bool
	lagMu  sync.Mutex
	lag    Lag
}

// New returns a relay. pool is the ledger database; down is where events go (see NewDownstream).
func New(cfg Config, pool *pgxpool.Pool, down Downstream, opts ...Option) (*Relay, error) {
	if pool == nil || down == nil {
		return nil, errors.New("relay: nil pool or downstream")
	}
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	r := &Relay{cfg: cfg, pool: pool, down: down, log: slog.Default()}
	for _, o := range opts {
		o(r)
	}
	if cfg.OutboxRetention > 0 {
		r.workers = append(r.workers, Worker{Name: "outbox-prune", LeaderOnly: true, Run: r.pruneOutbox})
	}
	if cfg.Publisher == PublisherSQL && cfg.TopicRetention > 0 {
		r.workers = append(r.workers, Worker{Name: "sql-topic-prune", LeaderOnly: true, Run: r.pruneSQLTopic})
	}
	for _, w := range r.workers {
		if w.Name == "" || w.Run == nil {
			return nil, errors.New("relay: a worker needs a name and a Run function")
		}
	}
	for _, h := range r.handlers {
		if h.Name == "" || h.ConsumerGroup == "" || h.Handle == nil || h.ConsumerGroup == cfg.ConsumerGroup {
			return nil, fmt.Errorf("relay: handler %q needs a name, a Handle function and its own consumer group", h.Name)
		}
	}
	return r, nil
}

// IsLeader reports whether this replica holds the lock and runs the router.
func (r *Relay) IsLeader() bool { return r.leader.Load() }

// Run relays until ctx ends. It returns nil on a clean stop.
func (r *Relay) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	start := func(name string, fn func(context.Context) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			supervise(ctx, r.log, name, fn)
		}()
	}
	start("outbox-lag", r.measureLag)
	for _, w := range r.workers {
		if !w.LeaderOnly {
			start(w.Name, w.Run)
		}
	}
	start("leader", r.campaign)
	wg.Wait()
	return nil
}

// supervise runs fn until ctx ends, restarting it after a backoff when it fails.
func supervise(ctx context.Context, log *slog.Logger, name string, fn func(context.Context) error) {
	delay := 500 * time.Millisecond
	for ctx.Err() == nil {
		err := fn(ctx)
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			return
		}
		log.ErrorContext(ctx, "relay worker failed; restarting", "worker", name, "error", err, "in", delay)
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		}
		delay = min(2*delay, 30*time.Second)
	}
}

// lead runs everything a leader runs until ctx ends or the router fails.
func (r *Relay) lead(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()
	for _, w := range r.workers {
		if w.LeaderOnly {
			wg.Add(1)
			go func() {
				defer wg.Done()
				supervise(ctx, r.log, w.Name, w.Run)
			}()
		}
	}
	return r.route(ctx)
}

// route relays the outbox a page at a time (pageForwarder) and runs every extra handler on a Watermill router,
// until ctx ends or one of them fails.
func (r *Relay) route(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	fwd := &forwarder{pool: r.pool, down: r.down, maxAttempts: r.cfg.MaxAttempts, retryMin: r.cfg.RetryMin,
		retryMax: r.cfg.RetryMax, ackDeadline: r.cfg.AckDeadline, log: r.log}
	pagers := append([]*pager{newPager(r.pool, r.cfg.ConsumerGroup, r.cfg.BatchSize, r.cfg.PollInterval, r.cfg.PageGather, r.log, fwd.forwardPage)},
		r.pagers...)
	done := make(chan error, len(pagers))
	for _, p := range pagers {
		go func() { done <- p.run(ctx) }()
	}
	var err error
	if len(r.handlers) > 0 {
		err = r.routeHandlers(ctx)
	} else {
		<-ctx.Done()
	}
	cancel()
	for range pagers {
		err = errors.Join(err, <-done)
	}
	return err
}

// routeHandlers runs the Watermill router of the extra handlers, each on its own consumer group.
func (r *Relay) routeHandlers(ctx context.Context) error {
	wmLog := watermill.NewSlogLoggerWithLevelMapping(r.log, map[slog.Level]slog.Level{
		slog.LevelInfo: slog.LevelDebug, // Watermill's per-subscription chatter
	})
	router, err := message.NewRouter(message.RouterConfig{CloseTimeout: r.cfg.ShutdownTimeout}, wmLog)
	if err != nil {
		return fmt.Errorf("router: %w", err)
	}
	for _, h := range r.handlers {
		s, err := r.subscriber(h.ConsumerGroup, wmLog)
		if err != nil {
			return err
		}
		router.AddConsumerHandler(h.Name, eventstore.OutboxTopic, s, h.Handle)
	}
	if err := router.Run(ctx); err != nil {
		return fmt.Errorf("router: %w", err)
	}
	return nil
}

// subscriber reads outbox_events for one consumer group. InitializeSchema is off: the tables come from the
// migrations. The subscriber's INSERT of its zero offsets row (ON CONFLICT DO NOTHING) is data, not schema.
func (r *Relay) subscriber(group string, wmLog watermill.LoggerAdapter) (*watermillsql.Subscriber, error) {
	deadline := r.cfg.AckDeadline
	sub, err := watermillsql.NewSubscriber(watermillsql.BeginnerFromPgx(r.pool), watermillsql.SubscriberConfig{
		ConsumerGroup:  group,
		PollInterval:   r.cfg.PollInterval,
		ResendInterval: r.cfg.RetryMin,
		RetryInterval:  time.Second,
		AckDeadline:    &deadline,
		// Offset order up to a safe horizon, not Watermill's default xid order: see ordering.go.
		SchemaAdapter:    newOffsetOrderSchema(r.pool, r.cfg.BatchSize),
		OffsetsAdapter:   watermillsql.DefaultPostgreSQLOffsetsAdapter{},
		InitializeSchema: false,
	}, wmLog)
	if err != nil {
		return nil, fmt.Errorf("outbox subscriber %s: %w", group, err)
	}
	return sub, nil
}
