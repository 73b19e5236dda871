package relay

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	wmjetstream "github.com/ThreeDotsLabs/watermill-nats/v2/pkg/jetstream"
	wmnats "github.com/ThreeDotsLabs/watermill-nats/v2/pkg/nats"
	watermillsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Downstream is where the relay publishes events. A failure of the broker itself (unreachable, timing out) is
// wrapped with ErrUnavailable so it is retried without counting toward quarantine.
type Downstream interface {
	// Publish delivers one message and returns once the broker has it.
	Publish(ctx context.Context, eventType string, msg *message.Message) error
	// PublishBatch delivers msgs in order and returns how many of them, from the first, the broker has confirmed,
	// with the error of the first that it has not. The relay reads the outbox a page at a time and publishes the
	// page as one batch: one window of acknowledgements instead of one round trip per event.
	PublishBatch(ctx context.Context, msgs []Outgoing) (int, error)
	Ready(ctx context.Context) error
	Close() error
}

// Outgoing is one message of a batch and the event type it is routed by.
type Outgoing struct {
	EventType string
	Msg       *message.Message
}

// ErrUnavailable marks a publish failure that is the broker's, not the event's.
var ErrUnavailable = errors.New("downstream unavailable")

func unavailable(err error) error { return fmt.Errorf("%w: %w", ErrUnavailable, err) }

// NewDownstream builds the publisher RELAY_PUBLISHER names. The NATS connection retries in the background, so the
// relay starts (and reports the broker in /v1/ready) while NATS is down.
func NewDownstream(cfg Config, pool *pgxpool.Pool, logger watermill.LoggerAdapter) (Downstream, error) {
	cfg = cfg.withDefaults()
	switch cfg.Publisher {
	case PublisherSQL:
		return newSQLDownstream(pool, cfg.SQLTopic, logger)
	case PublisherNATS:
		return newNATSDownstream(cfg.NATSURL, cfg.SubjectPrefix, cfg.NATSStream, cfg.StreamMaxAge, logger)
	default:
		return nil, fmt.Errorf("unknown publisher %q", cfg.Publisher)
	}
}

// sqlDownstream appends to a Watermill SQL topic table in the ledger's PostgreSQL. The table comes from the
// migrations (AutoInitializeSchema false): migrate is the only process that changes the schema.
type sqlDownstream struct {
	pool  *pgxpool.Pool
	pub   *watermillsql.Publisher
	topic string
}

func newSQLDownstream(pool *pgxpool.Pool, topic string, logger watermill.LoggerAdapter) (*sqlDownstream, error) {
	pub, err := watermillsql.NewPublisher(watermillsql.BeginnerFromPgx(pool), watermillsql.PublisherConfig{
		SchemaAdapter: watermillsql.DefaultPostgreSQLSchema{}, AutoInitializeSchema: false,
	}, logger)
	if err != nil {
		return nil, fmt.Errorf("sql publisher: %w", err)
	}
	return &sqlDownstream{pool: pool, pub: pub, topic: topic}, nil
}

func (d *sqlDownstream) Publish(ctx context.Context, _ string, msg *message.Message) error {
	msg.SetContext(ctx)
	if err := d.pub.Publish(d.topic, msg); err != nil {
		return sqlPublishError(d.topic, err)
	}
	return nil
}

// sqlPublishError classifies a failed SQL publish: data and integrity errors are the event's; anything else
// (connection lost, timeout, shutdown) is the database's and is retried without counting.
func sqlPublishError(topic string, err error) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && (pgErr.Code[:2] == "22" || pgErr.Code[:2] == "23") {
		return fmt.Errorf("publish to sql topic %s: %w", topic, err)
	}
	return unavailable(fmt.Errorf("publish to sql topic %s: %w", topic, err))
}

// PublishBatch appends msgs with one INSERT: all of them or none.
func (d *sqlDownstream) PublishBatch(ctx context.Context, msgs []Outgoing) (int, error) {
	if len(msgs) == 0 {
		return 0, nil
	}
	batch := make([]*message.Message, len(msgs))
	for i, o := range msgs {
		o.Msg.SetContext(ctx)
		batch[i] = o.Msg
	}
	if err := d.pub.Publish(d.topic, batch...); err != nil {
		return 0, sqlPublishError(d.topic, err)
	}
	return len(msgs), nil
}

func (d *sqlDownstream) Ready(ctx context.Context) error { return d.pool.Ping(ctx) }

func (d *sqlDownstream) Close() error { return d.pub.Close() }

// natsDownstream publishes to JetStream with Watermill's JetStream publisher, one subject per event type under a
// prefix, into one stream (so a consumer of prefix.> sees every event in relay order). Each message carries
// Nats-Msg-Id = event_id: JetStream drops a re-publish of the same event within the stream's duplicate window.
type natsDownstream struct {
	nc          *nats.Conn
	js          jetstream.JetStream
	pub         *wmjetstream.Publisher
	marshal     wmnats.NATSMarshaler // the Watermill publisher's own wire format, for the batches
	prefix      string
	stream      string
	maxAge      time.Duration
	streamReady atomic.Bool
}

func newNATSDownstream(url, prefix, stream string, maxAge time.Duration, logger watermill.LoggerAdapter) (*natsDownstream, error) {
	nc, err := nats.Connect(url,
		nats.Name("wallet-relay"),
		nats.RetryOnFailedConnect(true),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250*time.Millisecond),
		// No buffering while disconnected: a publish then fails at once and is retried by the relay, instead of
		// sitting in a client buffer the relay cannot see.
		nats.ReconnectBufSize(-1),
		nats.Timeout(2*time.Second),
	)
	if err != nil {
		return nil, fmt.Errorf("connect to NATS %s: %w", url, err)
	}
	// The async window of a batch publish; a page of the outbox never exceeds it, so publishing never stalls.
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(4096))
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	// The Watermill publisher uses the stream configurator only to name the subject; the stream itself (one for
	// every subject under the prefix) is created by ensureStream.
	pub, err := wmjetstream.NewPublisher(wmjetstream.PublisherConfig{
		Conn: nc, Logger: logger,
		ConfigureStream: func(subject string) jetstream.StreamConfig {
			return jetstream.StreamConfig{Name: subject, Subjects: []string{subject}}
		},
	})
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("jetstream publisher: %w", err)
	}
	return &natsDownstream{nc: nc, js: js, pub: pub, prefix: prefix, stream: stream, maxAge: maxAge}, nil
}

// Subject returns the NATS subject of an event type under prefix.
func Subject(prefix, eventType string) string { return prefix + "." + eventType }

func (d *natsDownstream) ensureStream(ctx context.Context) error {
	if d.streamReady.Load() {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_, err := d.js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name: d.stream, Subjects: []string{d.prefix + ".>"}, Storage: jetstream.FileStorage,
		Duplicates: 2 * time.Minute, MaxAge: d.maxAge,
	})
	if err != nil {
		return fmt.Errorf("ensure stream %s: %w", d.stream, err)
	}
	d.streamReady.Store(true)
	return nil
}

func (d *natsDownstream) Publish(ctx context.Context, eventType string, msg *message.Message) error {
	if !d.nc.IsConnected() {
		return unavailable(fmt.Errorf("nats connection %s", d.nc.Status()))
	}
	if err := d.ensureStream(ctx); err != nil {
		return unavailable(err)
	}
	msg.Metadata.Set(nats.MsgIdHdr, msg.UUID)
	err := d.pub.Publish(Subject(d.prefix, eventType), msg)
	if err == nil {
		return nil
	}
	return d.classify(eventType, err)
}

// PublishBatch publishes msgs asynchronously, in order, on the relay's one connection, then waits for every
// acknowledgement. JetStream stores what one connection publishes in the order it arrives, so when a window fails
// part-way (a lost connection, a timeout) what the stream holds is a prefix of it; the relay publishes the rest
// again in order, with the same Nats-Msg-Id, and the stream drops whatever it already had. Order per wallet and
// one copy per event both hold.
func (d *natsDownstream) PublishBatch(ctx context.Context, msgs []Outgoing) (int, error) {
	if len(msgs) == 0 {
		return 0, nil
	}
	if !d.nc.IsConnected() {
		return 0, unavailable(fmt.Errorf("nats connection %s", d.nc.Status()))
	}
	if err := d.ensureStream(ctx); err != nil {
		return 0, unavailable(err)
	}
	futures := make([]jetstream.PubAckFuture, 0, len(msgs))
	var sendErr error
	for _, o := range msgs {
		o.Msg.Metadata.Set(nats.MsgIdHdr, o.Msg.UUID)
		nm, err := d.marshal.Marshal(Subject(d.prefix, o.EventType), o.Msg)
		if err != nil {
			sendErr = fmt.Errorf("marshal event %s: %w", o.Msg.UUID, err)
			break
		}
		f, err := d.js.PublishMsgAsync(nm)
		if err != nil {
			sendErr = d.classify(o.EventType, err)
			break
		}
		futures = append(futures, f)
	}
	timeout := time.NewTimer(publishAckWait)
	defer timeout.Stop()
	for i, f := range futures {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			return i, d.classify(msgs[i].EventType, err)
		case <-timeout.C:
			return i, unavailable(fmt.Errorf("publish %s to NATS: no acknowledgement within %s", msgs[i].EventType, publishAckWait))
		case <-ctx.Done():
			return i, unavailable(ctx.Err())
		}
	}
	return len(futures), sendErr
}

// publishAckWait bounds the wait for a batch's acknowledgements.
const publishAckWait = 5 * time.Second

// classify tells a failed publish that is the broker's (retried without counting) from one that is the event's.
func (d *natsDownstream) classify(eventType string, err error) error {
	err = fmt.Errorf("publish %s to NATS: %w", eventType, err)
	switch {
	case errors.Is(err, jetstream.ErrNoStreamResponse), errors.Is(err, nats.ErrNoResponders):
		// The stream vanished (a restarted server without its store, an operator): create it again.
		d.streamReady.Store(false)
		return unavailable(err)
	case !d.nc.IsConnected(), errors.Is(err, nats.ErrTimeout), errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, nats.ErrConnectionClosed), errors.Is(err, nats.ErrConnectionReconnecting),
		errors.Is(err, nats.ErrReconnectBufExceeded):
		return unavailable(err)
	default:
		return err
	}
}

func (d *natsDownstream) Ready(ctx context.Context) error {
	if !d.nc.IsConnected() {
		return fmt.Errorf("nats connection %s", d.nc.Status())
	}
	return d.ensureStream(ctx)
}

func (d *natsDownstream) Close() error {
	d.nc.Close()
	return nil
}
