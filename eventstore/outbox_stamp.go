package eventstore

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
)

// StampOutbox adds extra to the metadata of every outbox message queued in b, without replacing keys the event
// already set. The write path calls it once per request with the trace context, so every use case's events carry
// it downstream without each having to pass it along.
func StampOutbox(b *pgx.Batch, extra map[string]string) error {
	if len(extra) == 0 {
		return nil
	}
	for _, q := range b.QueuedQueries {
		if !strings.HasPrefix(q.SQL, "INSERT INTO "+OutboxTopic+" ") {
			continue
		}
		// Watermill's insert takes (uuid, payload, metadata) per message.
		for i := 2; i < len(q.Arguments); i += 3 {
			raw, ok := q.Arguments[i].([]byte)
			if !ok {
				return fmt.Errorf("stamp outbox: metadata argument %d is %T, not JSON bytes", i, q.Arguments[i])
			}
			meta := map[string]string{}
			if len(raw) > 0 && string(raw) != "null" {
				if err := json.Unmarshal(raw, &meta); err != nil {
					return fmt.Errorf("stamp outbox: decode metadata: %w", err)
				}
			}
			for k, v := range extra {
				if _, set := meta[k]; !set {
					meta[k] = v
				}
			}
			stamped, err := json.Marshal(meta)
			if err != nil {
				return fmt.Errorf("stamp outbox: encode metadata: %w", err)
			}
			q.Arguments[i] = stamped
		}
	}
	return nil
}
