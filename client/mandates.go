package client

import (
	"context"
	"net/url"
	"time"
)

// MandateLimit caps what an agent spends per period: day, week, month (UTC calendar) or total.
type MandateLimit struct {
	Amount int64  `json:"amount"`
	Period string `json:"period"`
}

// Mandate is the right an agent (a JWT sub) holds to spend from a wallet.
type Mandate struct {
	MandateID           string        `json:"mandate_id"`
	WalletID            string        `json:"wallet_id"`
	Asset               string        `json:"asset"`
	Agent               string        `json:"agent"`
	GrantedBy           string        `json:"granted_by"`
	Status              string        `json:"status"`
	MaxPerTransaction   int64         `json:"max_per_transaction,omitempty"`
	Limit               *MandateLimit `json:"limit,omitempty"`
	AllowedDestinations []string      `json:"allowed_destinations,omitempty"`
	Description         string        `json:"description,omitempty"`
	SpentInPeriod       int64         `json:"spent_in_period"`
	Remaining           *int64        `json:"remaining,omitempty"`
	PeriodStart         time.Time     `json:"period_start"`
	ExpiresAt           time.Time     `json:"expires_at"`
	CreatedAt           time.Time     `json:"created_at"`
	RevokedAt           *time.Time    `json:"revoked_at,omitempty"`
	RevokedBy           string        `json:"revoked_by,omitempty"`
}

// MandateList is one page of a wallet's mandates.
type MandateList struct {
	Data       []Mandate `json:"data"`
	HasMore    bool      `json:"has_more"`
	NextCursor *string   `json:"next_cursor"`
	// Deprecated: WalletID is the wallet asked for; the server stops sending it in the next release.
	WalletID string `json:"wallet_id"`
	// Deprecated: Mandates is the same as Data; the server stops sending it in the next release.
	Mandates []Mandate `json:"mandates"`
}

// ListMandatesOptions filter GET /v1/wallets/{id}/mandates. Status is active, revoked or expired; Agent an
// agent's sub (an agent may only name itself).
type ListMandatesOptions struct {
	PageOptions
	Status string
	Agent  string
}

// GrantMandateRequest lets Agent spend from a wallet within limits until ExpiresAt.
type GrantMandateRequest struct {
	Agent               string        `json:"agent"`
	MaxPerTransaction   int64         `json:"max_per_transaction,omitempty"`
	Limit               *MandateLimit `json:"limit,omitempty"`
	AllowedDestinations []string      `json:"allowed_destinations,omitempty"`
	ExpiresAt           time.Time     `json:"expires_at"`
	Description         string        `json:"description,omitempty"`
}

// GrantMandate grants an agent a mandate on a wallet (POST /v1/wallets/{id}/mandates; owner or admin).
func (c *Client) GrantMandate(ctx context.Context, walletID string, req GrantMandateRequest, opts ...CallOption) (*Mandate, *Response, error) {
	var m Mandate
	resp, err := c.write(ctx, "/v1/wallets/"+url.PathEscape(walletID)+"/mandates", req, &m, opts)
	if err != nil {
		return nil, resp, err
	}
	return &m, resp, nil
}

// ListMandates reads one page of a wallet's mandates (GET /v1/wallets/{id}/mandates): all of them for the
// wallet's owner or an admin, an agent's own for the agent.
func (c *Client) ListMandates(ctx context.Context, walletID string, opts ListMandatesOptions) (*MandateList, *Response, error) {
	q := opts.values()
	setIf(q, "status", opts.Status)
	setIf(q, "agent", opts.Agent)
	var l MandateList
	resp, err := c.read(ctx, withQuery("/v1/wallets/"+url.PathEscape(walletID)+"/mandates", q), &l)
	if err != nil {
		return nil, resp, err
	}
	return &l, resp, nil
}

// GetMandate reads a mandate (GET /v1/mandates/{id}).
func (c *Client) GetMandate(ctx context.Context, mandateID string) (*Mandate, *Response, error) {
	var m Mandate
	resp, err := c.read(ctx, "/v1/mandates/"+url.PathEscape(mandateID), &m)
	if err != nil {
		return nil, resp, err
	}
	return &m, resp, nil
}

// RevokeMandate ends a mandate (POST /v1/mandates/{id}/revoke).
func (c *Client) RevokeMandate(ctx context.Context, mandateID string, opts ...CallOption) (*Mandate, *Response, error) {
	var m Mandate
	resp, err := c.write(ctx, "/v1/mandates/"+url.PathEscape(mandateID)+"/revoke", struct{}{}, &m, opts)
	if err != nil {
		return nil, resp, err
	}
	return &m, resp, nil
}
