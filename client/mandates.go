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

// MandateList is a wallet's mandates.
type MandateList struct {
	WalletID string    `json:"wallet_id"`
	Mandates []Mandate `json:"mandates"`
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

// ListMandates lists a wallet's mandates (GET /v1/wallets/{id}/mandates).
func (c *Client) ListMandates(ctx context.Context, walletID string, opts ...CallOption) (*MandateList, *Response, error) {
	var l MandateList
	resp, err := c.read(ctx, "/v1/wallets/"+url.PathEscape(walletID)+"/mandates", &l, opts)
	if err != nil {
		return nil, resp, err
	}
	return &l, resp, nil
}

// GetMandate reads a mandate (GET /v1/mandates/{id}).
func (c *Client) GetMandate(ctx context.Context, mandateID string, opts ...CallOption) (*Mandate, *Response, error) {
	var m Mandate
	resp, err := c.read(ctx, "/v1/mandates/"+url.PathEscape(mandateID), &m, opts)
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
