package load

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// StreamReport compares the events of a ledger's outbox with the messages of the JetStream stream its relay
// publishes to: every event must be in the stream exactly once (its Nats-Msg-Id is the event's ID).
type StreamReport struct {
	Events     int `json:"events"`     // outbox events in the database
	Messages   int `json:"messages"`   // messages in the stream
	Missing    int `json:"missing"`    // events with no message
	Duplicates int `json:"duplicates"` // events with more than one message
	Unknown    int `json:"unknown"`    // messages that are no event of the database (or carry no Nats-Msg-Id)
}

// OK reports whether every event was delivered exactly once, and nothing else.
func (r StreamReport) OK() bool { return r.Missing == 0 && r.Duplicates == 0 && r.Unknown == 0 }

func (r StreamReport) String() string {
	return fmt.Sprintf("%d outbox events, %d stream messages: %d missing, %d duplicated, %d unknown",
		r.Events, r.Messages, r.Missing, r.Duplicates, r.Unknown)
}

// CheckStream reads every event ID of the outbox at databaseURL and every message of stream at natsURL, and
// reports how the two differ. It reads the stream up to its last message when the check began; run it once the
// relay has drained the outbox. The stream must hold only this database's events: purge it (PurgeStream) before
// the relay starts on a fresh database.
func CheckStream(ctx context.Context, databaseURL, natsURL, stream string) (StreamReport, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	events, err := outboxEventIDs(ctx, databaseURL)
	if err != nil {
		return StreamReport{}, err
	}
	seen, messages, err := streamMessageIDs(ctx, natsURL, stream)
	if err != nil {
		return StreamReport{}, err
	}
	r := StreamReport{Events: len(events), Messages: messages}
	for id := range events {
		switch n := seen[id]; {
		case n == 0:
			r.Missing++
		case n > 1:
			r.Duplicates++
		}
	}
	for id, n := range seen {
		if !events[id] {
			r.Unknown += n
		}
	}
	return r, nil
}

func outboxEventIDs(ctx context.Context, databaseURL string) (map[string]bool, error) {
	conn, err := pgx.Connect(ctx, databaseURL)
	if err != nil {
		return nil, fmt.Errorf("connect for the stream check: %w", err)
	}
	defer conn.Close(context.Background())
	rows, err := conn.Query(ctx, `SELECT uuid FROM outbox_events`)
	if err != nil {
		return nil, fmt.Errorf("read the outbox: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("read the outbox: %w", err)
	}
	out := make(map[string]bool, len(ids))
	for _, id := range ids {
		out[id] = true
	}
	return out, nil
}

// streamMessageIDs counts the stream's messages by Nats-Msg-Id ("" for a message without one), up to the last
// message it held when the read began.
func streamMessageIDs(ctx context.Context, natsURL, stream string) (map[string]int, int, error) {
	nc, err := nats.Connect(natsURL, nats.Name("loadgen-stream-check"), nats.Timeout(3*time.Second))
	if err != nil {
		return nil, 0, fmt.Errorf("connect to NATS %s: %w", natsURL, err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, 0, fmt.Errorf("jetstream: %w", err)
	}
	s, err := js.Stream(ctx, stream)
	if err != nil {
		return nil, 0, fmt.Errorf("stream %s: %w", stream, err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		return nil, 0, fmt.Errorf("stream %s: %w", stream, err)
	}
	seen := map[string]int{}
	if info.State.Msgs == 0 {
		return seen, 0, nil
	}
	last := info.State.LastSeq
	// An ordered consumer is ephemeral, acknowledges nothing and leaves the stream as it was.
	c, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		return nil, 0, fmt.Errorf("read stream %s: %w", stream, err)
	}
	messages := 0
	for {
		batch, err := c.Fetch(1000, jetstream.FetchMaxWait(2*time.Second))
		if err != nil {
			return nil, 0, fmt.Errorf("read stream %s: %w", stream, err)
		}
		got := 0
		for m := range batch.Messages() {
			got++
			meta, err := m.Metadata()
			if err != nil {
				return nil, 0, fmt.Errorf("read stream %s: %w", stream, err)
			}
			if meta.Sequence.Stream > last {
				continue // published after the check began
			}
			messages++
			seen[m.Headers().Get(nats.MsgIdHdr)]++
			if meta.Sequence.Stream == last {
				return seen, messages, nil
			}
		}
		if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) {
			return nil, 0, fmt.Errorf("read stream %s: %w", stream, err)
		}
		if got == 0 {
			// The messages up to last were removed while being read (max age, a purge): what was read is all.
			return seen, messages, nil
		}
	}
}

// PurgeStream removes every message of stream at natsURL; a stream that does not exist yet is left so.
func PurgeStream(ctx context.Context, natsURL, stream string) error {
	nc, err := nats.Connect(natsURL, nats.Name("loadgen-stream-purge"), nats.Timeout(3*time.Second))
	if err != nil {
		return fmt.Errorf("connect to NATS %s: %w", natsURL, err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("jetstream: %w", err)
	}
	s, err := js.Stream(ctx, stream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("stream %s: %w", stream, err)
	}
	if err := s.Purge(ctx); err != nil {
		return fmt.Errorf("purge stream %s: %w", stream, err)
	}
	return nil
}
