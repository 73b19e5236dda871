package query

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"

	"github.com/agentic-commerce/wallet-ledger/eventstore"
	"github.com/agentic-commerce/wallet-ledger/internal/auth"
	"github.com/agentic-commerce/wallet-ledger/internal/httpapi"
	"github.com/agentic-commerce/wallet-ledger/internal/replica"
)

// Events feed page sizes.
const (
	DefaultEventsLimit = 100
	MaxEventsLimit     = 500
)

// EventPage is the body of GET /v1/events.
type EventPage struct {
	Data       []json.RawMessage `json:"data"`
	NextCursor string            `json:"next_cursor"`
	HasMore    bool              `json:"has_more"`
}

// Events serves one page of the events feed: the events the caller may see (those naming a wallet it owns; every
// event for an admin), in the order the relay recorded them, after the cursor. next_cursor is always set: passing
// it back returns what came after this page, so a client polls with it. The feed is filled by the relay, a moment
// after each commit.
func (q *Queries) Events(w http.ResponseWriter, r *http.Request) {
	caller, _ := auth.CallerFrom(r.Context())
	fq, err := parseEventsQuery(r)
	if err != nil {
		httpapi.WriteProblem(w, r, err)
		return
	}
	if !caller.IsAdmin() {
		fq.Audience = caller.Sub
	}
	atLeast, err := minPosition(r)
	if err != nil {
		httpapi.WriteProblem(w, r, err)
		return
	}
	// A replica may answer: the relay records the feed under one lock, so its seqs commit in order and a replica
	// holds a prefix of them; and a cursor never moves back (ReadFeed), so a consumer whose polls land on the
	// primary and the replica in turn still gets every event once.
	page, err := readFrom(r.Context(), q, replica.Bounded, atLeast, func(on *Queries) (eventstore.FeedPage, error) {
		return eventstore.ReadFeed(r.Context(), on.store.Pool(), fq)
	})
	if err != nil {
		httpapi.WriteProblem(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, EventPage{Data: page.Events, NextCursor: encodeSeqCursor(eventCursorPrefix, page.Next),
		HasMore: page.HasMore})
}

// parseEventsQuery reads after (a cursor), limit (1-500, default 100), type (an event type) and wallet_id.
func parseEventsQuery(r *http.Request) (eventstore.FeedQuery, error) {
	qs, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return eventstore.FeedQuery{}, httpapi.Errorf("invalid_query", "the query string is malformed")
	}
	var fq eventstore.FeedQuery
	if fq.Limit, err = parseLimit(qs, DefaultEventsLimit, MaxEventsLimit); err != nil {
		return eventstore.FeedQuery{}, err
	}
	if vs, ok := qs["after"]; ok {
		n, valid := decodeSeqCursor(eventCursorPrefix, vs)
		if !valid {
			return eventstore.FeedQuery{}, httpapi.Errorf("invalid_query", "after is not a cursor this API returned; pass next_cursor as it came")
		}
		fq.After = n
	}
	if vs, ok := qs["type"]; ok {
		if len(vs) != 1 || !slices.Contains(eventstore.EventTypes, vs[0]) {
			return eventstore.FeedQuery{}, httpapi.Errorf("invalid_query", "type must be one event type of %v", eventstore.EventTypes)
		}
		fq.Type = vs[0]
	}
	if vs, ok := qs["wallet_id"]; ok {
		if len(vs) != 1 {
			return eventstore.FeedQuery{}, httpapi.Errorf("invalid_query", "give at most one wallet_id")
		}
		id, err := httpapi.ParseID(vs[0])
		if err != nil {
			return eventstore.FeedQuery{}, httpapi.Errorf("invalid_query", "wallet_id must be a UUID")
		}
		fq.WalletID = &id
	}
	return fq, nil
}
