package relay

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/agentic-commerce/wallet-ledger/eventstore"
	"github.com/agentic-commerce/wallet-ledger/internal/telemetry"
)

var tracer = otel.Tracer("github.com/agentic-commerce/wallet-ledger/relay")

// forwarder is the router handler that publishes one outbox message downstream. It returns only when the event
// is published or quarantined (the message is then acked), or when its context ends (nacked: the subscriber
// reads it again). It never drops an event.
type forwarder struct {
	pool        *pgxpool.Pool
	down        Downstream
	maxAttempts int
	retryMin    time.Duration
	retryMax    time.Duration
	// ackDeadline bounds the one-event path inside a page, as Watermill's AckDeadline did.
	ackDeadline time.Duration
	log         *slog.Logger
}

// envelope is the part of an event the relay checks before publishing it.
type envelope struct {
	EventID string `json:"event_id"`
	Type    string `json:"type"`
	Version int    `json:"version"`
}

// prepare checks that msg is an event the relay can route, and builds the downstream message: same UUID (the
// event_id), same payload, the outbox metadata (event type, partition key, trace context).
func prepare(msg *message.Message) (*message.Message, string, error) {
	var env envelope
	if err := json.Unmarshal(msg.Payload, &env); err != nil {
		return nil, "", fmt.Errorf("event %s: payload is not an event envelope: %w", msg.UUID, err)
	}
	if env.EventID != msg.UUID {
		return nil, "", fmt.Errorf("event %s: payload event_id %q differs from the message UUID", msg.UUID, env.EventID)
	}
	eventType := msg.Metadata.Get(eventstore.MetadataEventType)
	if eventType == "" {
		eventType = env.Type
	}
	if eventType != env.Type || !subjectToken.MatchString(eventType) {
		return nil, "", fmt.Errorf("event %s: unroutable event type %q (payload type %q)", msg.UUID, eventType, env.Type)
	}
	if env.Version < 1 {
		return nil, "", fmt.Errorf("event %s: schema version %d", msg.UUID, env.Version)
	}
	out := message.NewMessage(msg.UUID, msg.Payload)
	for k, v := range msg.Metadata {
		out.Metadata.Set(k, v)
	}
	out.Metadata.Set(eventstore.MetadataEventType, eventType)
	return out, eventType, nil
}

// Handle is the Watermill handler function.
func (f *forwarder) Handle(msg *message.Message) error {
	// Continue the trace of the request that wrote the event, and hand the relay's span on downstream.
	ctx := telemetry.ExtractMap(msg.Context(), msg.Metadata)
	ctx, span := tracer.Start(ctx, "relay publish", trace.WithSpanKind(trace.SpanKindProducer),
		trace.WithAttributes(attribute.String("messaging.message.id", msg.UUID),
			attribute.String("event.type", msg.Metadata.Get(eventstore.MetadataEventType))))
	defer span.End()

	out, eventType, invalid := prepare(msg)
	if out != nil {
		for k, v := range telemetry.InjectMap(ctx) {
			out.Metadata.Set(k, v)
		}
	}
	delay := f.retryMin
	failed := false
	for attempt := 1; ; attempt++ {
		err := invalid
		if err == nil {
			err = f.down.Publish(ctx, eventType, out)
		}
		if err == nil {
			if failed {
				f.clearFailures(ctx, msg.UUID)
			}
			telemetry.RecordRelayed(ctx, 1)
			return nil
		}
		telemetry.RecordPublishError(ctx)
		if !errors.Is(err, ErrUnavailable) {
			failed = true
			attempts, dbErr := f.recordFailure(ctx, msg.UUID, err)
			switch {
			case dbErr != nil:
				f.log.WarnContext(ctx, "relay cannot record a failed attempt", "event_id", msg.UUID, "error", dbErr)
			case attempts >= f.maxAttempts:
				if qErr := f.quarantine(ctx, msg, eventType, attempts, err); qErr != nil {
					f.log.ErrorContext(ctx, "relay cannot quarantine an event; will retry", "event_id", msg.UUID, "error", qErr)
					break
				}
				telemetry.RecordQuarantined(ctx)
				span.SetStatus(codes.Error, "quarantined")
				f.log.ErrorContext(ctx, "relay quarantined an event", "event_id", msg.UUID, "event_type", msg.Metadata.Get(eventstore.MetadataEventType),
					"attempts", attempts, "error", err)
				return nil
			}
		}
		// One line per outage or poison event, not one per retry.
		if attempt == 1 || attempt%20 == 0 {
			f.log.WarnContext(ctx, "relay publish failed; retrying", "event_id", msg.UUID, "attempt", attempt, "error", err)
		}
		select {
		case <-ctx.Done():
			span.SetStatus(codes.Error, "abandoned")
			return fmt.Errorf("event %s abandoned for now after %d attempts: %w", msg.UUID, attempt, context.Cause(ctx))
		case <-time.After(delay):
		}
		delay = min(2*delay, f.retryMax)
	}
}

// bookkeeping runs the relay's own writes on a context that outlives the message's ack deadline a little, so a
// decision reached just before the deadline is still recorded.
func bookkeeping(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
}

// recordFailure counts one failed attempt that is the event's own fault and returns the total so far (across
// restarts and replicas).
func (f *forwarder) recordFailure(ctx context.Context, eventID string, cause error) (int, error) {
	ctx, cancel := bookkeeping(ctx)
	defer cancel()
	var attempts int
	err := f.pool.QueryRow(ctx, `INSERT INTO relay_failures (event_id, attempts, last_error) VALUES ($1, 1, $2)
		ON CONFLICT (event_id) DO UPDATE SET attempts = relay_failures.attempts + 1, last_error = excluded.last_error,
			last_failed_at = now()
		RETURNING attempts`, eventID, truncate(cause.Error(), 2000)).Scan(&attempts)
	if err != nil {
		return 0, fmt.Errorf("record failure of %s: %w", eventID, err)
	}
	return attempts, nil
}

func (f *forwarder) clearFailures(ctx context.Context, eventID string) {
	ctx, cancel := bookkeeping(ctx)
	defer cancel()
	if _, err := f.pool.Exec(ctx, `DELETE FROM relay_failures WHERE event_id = $1`, eventID); err != nil {
		f.log.WarnContext(ctx, "relay cannot clear failure count", "event_id", eventID, "error", err)
	}
}

// quarantine sets the event aside durably before its message is acked. A crash in between re-delivers the event,
// which fails again and is quarantined again (the upsert keeps one row).
func (f *forwarder) quarantine(ctx context.Context, msg *message.Message, eventType string, attempts int, cause error) error {
	ctx, cancel := bookkeeping(ctx)
	defer cancel()
	metadata, err := json.Marshal(msg.Metadata)
	if err != nil {
		return fmt.Errorf("encode metadata: %w", err)
	}
	var payload any
	if json.Valid(msg.Payload) {
		payload = string(msg.Payload)
	} else {
		// Keep even an undecodable payload, as a JSON string, so nothing is lost.
		raw, _ := json.Marshal(string(msg.Payload))
		payload = string(raw)
	}
	if eventType == "" {
		eventType = msg.Metadata.Get(eventstore.MetadataEventType)
	}
	return pgx.BeginFunc(ctx, f.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO relay_quarantine (event_id, event_type, payload, metadata, attempts, last_error)
			VALUES ($1, $2, $3::json, $4::json, $5, $6)
			ON CONFLICT (event_id) DO UPDATE SET attempts = excluded.attempts, last_error = excluded.last_error,
				quarantined_at = now()`,
			msg.UUID, eventType, payload, string(metadata), attempts, truncate(cause.Error(), 2000)); err != nil {
			return fmt.Errorf("quarantine %s: %w", msg.UUID, err)
		}
		if _, err := tx.Exec(ctx, `DELETE FROM relay_failures WHERE event_id = $1`, msg.UUID); err != nil {
			return fmt.Errorf("clear failures of %s: %w", msg.UUID, err)
		}
		return nil
	})
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
