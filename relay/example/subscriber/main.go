// Command subscriber is the reference consumer of the ledger's events: the thing a downstream team copies to
// start. It subscribes with Watermill, deduplicates by event_id (delivery is at least once), and prints every
// event it sees for the first time as one JSON line on stdout.
//
//	go run ./relay/example/subscriber                       # SQL topic wallet_events in DATABASE_URL
//	SUBSCRIBE_FROM=nats go run ./relay/example/subscriber   # JetStream stream NATS_STREAM at NATS_URL
//
// Settings: SUBSCRIBE_FROM (sql|nats, default RELAY_PUBLISHER or sql), DATABASE_URL, RELAY_SQL_TOPIC
// (wallet_events), NATS_URL, NATS_STREAM (WALLET_EVENTS), NATS_SUBJECT_PREFIX (wallet.events), CONSUMER_NAME
// (example-subscriber: the SQL consumer group or the durable JetStream consumer, so a restart resumes).
//
// Dedup here is an in-memory set, enough for printing. A real consumer records the event_id in the same database
// transaction as the effect it applies (INSERT INTO seen(event_id) ... ON CONFLICT DO NOTHING; skip when no row
// was inserted), so a re-delivered event is never applied twice, even across restarts.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	wmjetstream "github.com/ThreeDotsLabs/watermill-nats/v2/pkg/jetstream"
	watermillsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := run(ctx, log); err != nil {
		log.Error("subscriber stopped", "error", err)
		os.Exit(1)
	}
}

func env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func run(ctx context.Context, log *slog.Logger) error {
	from := env("SUBSCRIBE_FROM", env("RELAY_PUBLISHER", "sql"))
	name := env("CONSUMER_NAME", "example-subscriber")
	wmLog := watermill.NewSlogLogger(log)
	var msgs <-chan *message.Message
	var err error
	switch from {
	case "sql":
		msgs, err = subscribeSQL(ctx, name, wmLog)
	case "nats":
		msgs, err = subscribeNATS(ctx, name, wmLog)
	default:
		return fmt.Errorf("SUBSCRIBE_FROM %q is not sql or nats", from)
	}
	if err != nil {
		return err
	}
	seen := map[string]bool{}
	out := json.NewEncoder(os.Stdout)
	for msg := range msgs {
		if seen[msg.UUID] { // msg.UUID is the event_id
			log.Info("duplicate delivery skipped", "event_id", msg.UUID)
			msg.Ack()
			continue
		}
		var event map[string]any
		if err := json.Unmarshal(msg.Payload, &event); err != nil {
			// Not an event of ours: ack it so it does not block the stream, and say so loudly.
			log.Error("undecodable event", "event_id", msg.UUID, "error", err)
			msg.Ack()
			continue
		}
		if err := out.Encode(map[string]any{"event": event, "metadata": msg.Metadata}); err != nil {
			msg.Nack() // stdout is gone: let the broker deliver it again
			return fmt.Errorf("print event: %w", err)
		}
		seen[msg.UUID] = true
		msg.Ack()
	}
	return nil
}

// subscribeSQL reads the relay's SQL topic with a Watermill consumer group of its own. The topic and offsets
// tables come from the ledger's migrations.
func subscribeSQL(ctx context.Context, group string, wmLog watermill.LoggerAdapter) (<-chan *message.Message, error) {
	pool, err := pgxpool.New(ctx, env("DATABASE_URL", "postgres://postgres@localhost:5432/wallet_service?sslmode=disable"))
	if err != nil {
		return nil, fmt.Errorf("database: %w", err)
	}
	sub, err := watermillsql.NewSubscriber(watermillsql.BeginnerFromPgx(pool), watermillsql.SubscriberConfig{
		ConsumerGroup: group, PollInterval: 200 * time.Millisecond,
		SchemaAdapter: watermillsql.DefaultPostgreSQLSchema{}, OffsetsAdapter: watermillsql.DefaultPostgreSQLOffsetsAdapter{},
	}, wmLog)
	if err != nil {
		return nil, fmt.Errorf("sql subscriber: %w", err)
	}
	return sub.Subscribe(ctx, env("RELAY_SQL_TOPIC", "wallet_events"))
}

// subscribeNATS reads every subject under the prefix through a durable JetStream consumer (created here if
// absent), so a restarted subscriber resumes where it acked.
func subscribeNATS(ctx context.Context, durable string, wmLog watermill.LoggerAdapter) (<-chan *message.Message, error) {
	nc, err := nats.Connect(env("NATS_URL", "nats://127.0.0.1:4222"), nats.MaxReconnects(-1))
	if err != nil {
		return nil, fmt.Errorf("nats: %w", err)
	}
	stream := env("NATS_STREAM", "WALLET_EVENTS")
	prefix := env("NATS_SUBJECT_PREFIX", "wallet.events")
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := js.CreateOrUpdateConsumer(cctx, stream, jetstream.ConsumerConfig{
		Durable: durable, FilterSubject: prefix + ".>", AckPolicy: jetstream.AckExplicitPolicy,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		MaxAckPending: 1, // one at a time: events arrive in stream order
	}); err != nil {
		return nil, fmt.Errorf("consumer %s on stream %s (is the relay running with RELAY_PUBLISHER=nats?): %w", durable, stream, err)
	}
	sub, err := wmjetstream.NewSubscriber(wmjetstream.SubscriberConfig{
		Conn: nc, Logger: wmLog,
		ResourceInitializer: wmjetstream.ExistingConsumer(func(string, string) jetstream.ConsumerConfig {
			return jetstream.ConsumerConfig{Name: durable}
		}, durable),
	})
	if err != nil {
		return nil, fmt.Errorf("jetstream subscriber: %w", err)
	}
	return sub.Subscribe(ctx, stream)
}
