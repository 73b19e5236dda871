package eventstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// feedLockKey is the transaction-level advisory lock QueueRecordFeedEvent takes before it draws a seq. With one
// writer at a time, a seq commits only after every lower one did: a reader that pages by seq never steps over an
// event that commits later, so it sees each one exactly once and in order.
const feedLockKey int64 = 0x6576656e7473 // "events"

// feedEnvelope is what the feed reads of an event's payload.
type feedEnvelope struct {
	EventID    uuid.UUID   `json:"event_id"`
	Type       string      `json:"type"`
	OccurredAt time.Time   `json:"occurred_at"`
	Owner      string      `json:"owner"`
	WalletID   *uuid.UUID  `json:"wallet_id"`
	WalletIDs  []uuid.UUID `json:"wallet_ids"`
}

// ErrNotAnEvent is returned by ParseFeedEvent for a payload that is not an event the feed can record.
var ErrNotAnEvent = errors.New("not an event")

// FeedEvent is what the feed records of one outbox event.
type FeedEvent struct {
	ID         uuid.UUID
	Type       string
	OccurredAt time.Time
	Owner      string      // an owner the event names besides its wallets' (a webhook endpoint's); "" for none
	WalletIDs  []uuid.UUID // every wallet the event names
	Payload    []byte
}

// ParseFeedEvent reads the feed's part of an outbox payload.
func ParseFeedEvent(payload []byte) (FeedEvent, error) {
	var env feedEnvelope
	if err := json.Unmarshal(payload, &env); err != nil || env.EventID == uuid.Nil || env.Type == "" || env.OccurredAt.IsZero() {
		return FeedEvent{}, fmt.Errorf("%w: event_id, type and occurred_at are required", ErrNotAnEvent)
	}
	wallets := append([]uuid.UUID{}, env.WalletIDs...)
	if env.WalletID != nil && !containsID(wallets, *env.WalletID) {
		wallets = append(wallets, *env.WalletID)
	}
	owner := env.Owner
	if owner == SystemOwner {
		owner = ""
	}
	return FeedEvent{ID: env.EventID, Type: env.Type, OccurredAt: env.OccurredAt, Owner: owner, WalletIDs: wallets, Payload: payload}, nil
}

// QueueRecordFeedEvents queues appending events to the feed, in order, in one statement after taking the feed's
// lock: their seqs follow the order given (the outbox's). Run it in the transaction that commits the consumer's
// offset past them, so each is recorded once. An event already in the feed is left as it is. An event's audience
// is the owners of the user wallets it names, and its Owner (an endpoint's owner for webhook_endpoint.* events).
func QueueRecordFeedEvents(b *pgx.Batch, events []FeedEvent) {
	if len(events) == 0 {
		return
	}
	n := len(events)
	ids, types, owners, payloads := make([]uuid.UUID, n), make([]string, n), make([]string, n), make([]string, n)
	occurred := make([]time.Time, n)
	var pairEvent []int32
	var pairWallet []uuid.UUID
	for i, e := range events {
		ids[i], types[i], owners[i], payloads[i], occurred[i] = e.ID, e.Type, e.Owner, string(e.Payload), e.OccurredAt
		for _, w := range e.WalletIDs {
			pairEvent, pairWallet = append(pairEvent, int32(i+1)), append(pairWallet, w)
		}
	}
	b.Queue(`SELECT pg_advisory_xact_lock($1)`, feedLockKey)
	b.Queue(`INSERT INTO events (event_id, type, audience, wallet_ids, occurred_at, payload)
		SELECT r.id, r.type,
			ARRAY(SELECT a FROM (
				SELECT w.owner FROM wallets w WHERE w.kind = 'user' AND w.wallet_id IN (
					SELECT p.w FROM unnest($6::int[], $7::uuid[]) AS p(e, w) WHERE p.e = r.i)
				UNION SELECT r.owner WHERE r.owner <> '') x(a) ORDER BY a),
			ARRAY(SELECT p.w FROM unnest($6::int[], $7::uuid[]) WITH ORDINALITY AS p(e, w, o) WHERE p.e = r.i ORDER BY p.o),
			r.occurred, r.payload::json
		FROM unnest($1::uuid[], $2::text[], $3::text[], $4::timestamptz[], $5::text[]) WITH ORDINALITY
			AS r(id, type, owner, occurred, payload, i)
		ORDER BY r.i
		ON CONFLICT (event_id) DO NOTHING`, ids, types, owners, occurred, payloads, pairEvent, pairWallet)
}

func containsID(ids []uuid.UUID, id uuid.UUID) bool {
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	return false
}

// FeedQuery selects a page of the feed.
type FeedQuery struct {
	After    int64      // the seq of the last event already seen; 0 from the start
	Limit    int        // events per page
	Type     string     // only this type ("" any)
	WalletID *uuid.UUID // only events naming this wallet
	Audience string     // only events this sub may see ("": every event, for an admin)
}

// FeedPage is one page of the feed.
type FeedPage struct {
	Events  []json.RawMessage
	Next    int64 // where the next page starts: pass it as After
	HasMore bool  // more matching events were already there
}

// ReadFeed returns the events after q.After that match q, in seq order. Next is the last event's seq while more
// follow; on the last page it is the highest seq committed when the page was read, so filtered-out events are not
// scanned again by the next poll (every seq up to it is settled: see feedLockKey).
func ReadFeed(ctx context.Context, db Querier, q FeedQuery) (FeedPage, error) {
	where := `seq > $1`
	args := []any{q.After, q.Limit + 1}
	if q.Type != "" {
		args = append(args, q.Type)
		where += ` AND type = $` + strconv.Itoa(len(args))
	}
	if q.WalletID != nil {
		args = append(args, []uuid.UUID{*q.WalletID})
		where += ` AND wallet_ids @> $` + strconv.Itoa(len(args))
	}
	if q.Audience != "" {
		args = append(args, []string{q.Audience})
		where += ` AND audience @> $` + strconv.Itoa(len(args))
	}
	// One statement, so the head and the page come from the same snapshot.
	rows, err := db.Query(ctx, `SELECT h.head, p.seq, p.payload::text
		FROM (SELECT COALESCE(max(seq), 0) AS head FROM events) h
		LEFT JOIN LATERAL (SELECT seq, payload FROM events WHERE `+where+` ORDER BY seq LIMIT $2) p ON true
		ORDER BY p.seq`, args...)
	if err != nil {
		return FeedPage{}, classify(fmt.Errorf("read the events feed: %w", err))
	}
	defer rows.Close()
	page := FeedPage{Events: []json.RawMessage{}, Next: q.After}
	var head, last int64
	for rows.Next() {
		var seq *int64
		var payload *string
		if err := rows.Scan(&head, &seq, &payload); err != nil {
			return FeedPage{}, classify(fmt.Errorf("read the events feed: %w", err))
		}
		if seq == nil {
			continue
		}
		if len(page.Events) == q.Limit {
			page.HasMore = true
			break
		}
		page.Events = append(page.Events, json.RawMessage(*payload))
		last = *seq
	}
	if err := rows.Err(); err != nil {
		return FeedPage{}, classify(fmt.Errorf("read the events feed: %w", err))
	}
	switch {
	case page.HasMore:
		page.Next = last
	case head > page.Next:
		page.Next = head
	}
	return page, nil
}
