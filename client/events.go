package client

import (
	"context"
	"net/url"
	"strconv"
	"time"
)

// Event is a domain event, as in the events feed, on NATS and in every webhook. Fields that do not apply to its
// Type are empty. Deduplicate by EventID: delivery is at least once.
type Event struct {
	EventID       string             `json:"event_id"`
	Type          string             `json:"type"`
	Version       int                `json:"version"`
	OccurredAt    time.Time          `json:"occurred_at"`
	Sub           string             `json:"sub"`
	Actor         *string            `json:"actor"` // the agent acting for Sub with a delegated token; nil when none
	TransactionID string             `json:"transaction_id,omitempty"`
	Kind          string             `json:"kind,omitempty"`
	Position      int64              `json:"position,omitempty"`
	WalletID      string             `json:"wallet_id,omitempty"`
	Owner         string             `json:"owner,omitempty"`
	WalletKind    string             `json:"wallet_kind,omitempty"`
	Asset         string             `json:"asset,omitempty"`
	Amount        *int64             `json:"amount,omitempty"`
	WalletIDs     []string           `json:"wallet_ids"`
	Entries       []Entry            `json:"entries,omitempty"`
	MandateID     string             `json:"mandate_id,omitempty"`
	HoldID        string             `json:"hold_id,omitempty"`
	RefundOf      string             `json:"refund_of,omitempty"`
	Hold          *Hold              `json:"hold,omitempty"`
	Mandate       *Mandate           `json:"mandate,omitempty"`
	EndpointID    string             `json:"endpoint_id,omitempty"`
	Reason        string             `json:"reason,omitempty"`
	ReplacedBy    string             `json:"replaced_by,omitempty"` // mandate.replaced: the replacement
	Wallet        *EventWalletStatus `json:"wallet,omitempty"`      // wallet.frozen and wallet.unfrozen
}

// EventWalletStatus is a wallet's freeze status after a wallet.frozen or wallet.unfrozen event.
type EventWalletStatus struct {
	Status        string     `json:"status"`
	FrozenReason  *string    `json:"frozen_reason"`
	FrozenBy      *string    `json:"frozen_by"`
	FrozenAt      *time.Time `json:"frozen_at"`
	FrozenByAdmin bool       `json:"frozen_by_admin"`
}

// EventPage is one page of the events feed.
type EventPage struct {
	Data       []Event `json:"data"`
	NextCursor string  `json:"next_cursor"`
	HasMore    bool    `json:"has_more"`
}

// EventsQuery selects a page of the feed; zero fields are left out.
type EventsQuery struct {
	After    string // a NextCursor; empty from the first event
	Limit    int    // 1 to 500; 0 for the server's default (100)
	Type     string // one event type
	WalletID string // only events naming this wallet
}

// ListEvents reads one page of the events feed (GET /v1/events): the events the caller may see, in commit order.
// Pass NextCursor back as After for the next page, and to poll once HasMore is false.
func (c *Client) ListEvents(ctx context.Context, q EventsQuery, opts ...CallOption) (*EventPage, *Response, error) {
	v := url.Values{}
	if q.After != "" {
		v.Set("after", q.After)
	}
	if q.Limit != 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	if q.Type != "" {
		v.Set("type", q.Type)
	}
	if q.WalletID != "" {
		v.Set("wallet_id", q.WalletID)
	}
	path := "/v1/events"
	if len(v) > 0 {
		path += "?" + v.Encode()
	}
	var p EventPage
	resp, err := c.read(ctx, path, &p, opts...)
	if err != nil {
		return nil, resp, err
	}
	return &p, resp, nil
}
