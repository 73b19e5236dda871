package client

import (
	"context"
	"net/url"
	"strconv"
	"time"
)

// MandateLimit caps what an agent spends per period: day, week, month (UTC calendar) or total.
type MandateLimit struct {
	Amount int64  `json:"amount"`
	Period string `json:"period"`
}

// MandateCountLimit caps the number of spends (transfers and holds) per period.
type MandateCountLimit struct {
	Count  int64  `json:"count"`
	Period string `json:"period"`
}

// Mandate is the right an agent (a JWT sub, or the act.sub of a delegated token) holds to spend from a wallet.
// Status is active, suspended, revoked, expired or consumed; only an active mandate spends. Version grows with
// every change, each spend included: ReplaceMandate names it.
type Mandate struct {
	MandateID             string             `json:"mandate_id"`
	WalletID              string             `json:"wallet_id"`
	Asset                 string             `json:"asset"`
	Agent                 string             `json:"agent"`
	GrantedBy             string             `json:"granted_by"`
	Status                string             `json:"status"`
	DeactivatedReason     string             `json:"deactivated_reason,omitempty"`
	Version               int64              `json:"version"`
	SingleUse             bool               `json:"single_use"`
	MaxPerTransaction     int64              `json:"max_per_transaction,omitempty"`
	Limit                 *MandateLimit      `json:"limit,omitempty"`
	MaxTransactions       *MandateCountLimit `json:"max_transactions,omitempty"`
	AllowedDestinations   []string           `json:"allowed_destinations,omitempty"`
	Description           string             `json:"description,omitempty"`
	SpentInPeriod         int64              `json:"spent_in_period"`
	Remaining             *int64             `json:"remaining,omitempty"`
	PeriodStart           time.Time          `json:"period_start"`
	TransactionsInPeriod  int64              `json:"transactions_in_period"`
	TransactionsRemaining *int64             `json:"transactions_remaining,omitempty"`
	Replaces              string             `json:"replaces,omitempty"`
	ExpiresAt             time.Time          `json:"expires_at"`
	CreatedAt             time.Time          `json:"created_at"`
	RevokedAt             *time.Time         `json:"revoked_at,omitempty"`
	RevokedBy             string             `json:"revoked_by,omitempty"`
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

// ListMandatesOptions filter GET /v1/wallets/{id}/mandates. Status is one of the mandate statuses; Agent an
// agent's sub (an agent may only name itself).
type ListMandatesOptions struct {
	PageOptions
	Status string
	Agent  string
}

// GrantMandateRequest lets Agent spend from a wallet within limits until ExpiresAt; it is also the whole new
// mandate of ReplaceMandate. SingleUse: the first spend consumes the mandate.
type GrantMandateRequest struct {
	Agent               string             `json:"agent"`
	MaxPerTransaction   int64              `json:"max_per_transaction,omitempty"`
	Limit               *MandateLimit      `json:"limit,omitempty"`
	MaxTransactions     *MandateCountLimit `json:"max_transactions,omitempty"`
	SingleUse           bool               `json:"single_use,omitempty"`
	AllowedDestinations []string           `json:"allowed_destinations,omitempty"`
	ExpiresAt           time.Time          `json:"expires_at"`
	Description         string             `json:"description,omitempty"`
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
func (c *Client) ListMandates(ctx context.Context, walletID string, opts ListMandatesOptions, call ...CallOption) (*MandateList, *Response, error) {
	q := opts.values()
	setIf(q, "status", opts.Status)
	setIf(q, "agent", opts.Agent)
	var l MandateList
	resp, err := c.read(ctx, withQuery("/v1/wallets/"+url.PathEscape(walletID)+"/mandates", q), &l, call...)
	if err != nil {
		return nil, resp, err
	}
	return &l, resp, nil
}

// GetMandate reads a mandate (GET /v1/mandates/{id}); Response.ETag carries its version.
func (c *Client) GetMandate(ctx context.Context, mandateID string, opts ...CallOption) (*Mandate, *Response, error) {
	var m Mandate
	resp, err := c.read(ctx, "/v1/mandates/"+url.PathEscape(mandateID), &m, opts...)
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

// SuspendMandate stops a mandate until it is resumed (POST /v1/mandates/{id}/suspend; its owner, an admin or its
// own agent). Its room and counts are kept.
func (c *Client) SuspendMandate(ctx context.Context, mandateID string, opts ...CallOption) (*Mandate, *Response, error) {
	return c.mandateStep(ctx, mandateID, "suspend", opts)
}

// ResumeMandate lets a suspended mandate spend again (POST /v1/mandates/{id}/resume; its owner or an admin).
func (c *Client) ResumeMandate(ctx context.Context, mandateID string, opts ...CallOption) (*Mandate, *Response, error) {
	return c.mandateStep(ctx, mandateID, "resume", opts)
}

func (c *Client) mandateStep(ctx context.Context, mandateID, step string, opts []CallOption) (*Mandate, *Response, error) {
	var m Mandate
	resp, err := c.write(ctx, "/v1/mandates/"+url.PathEscape(mandateID)+"/"+step, struct{}{}, &m, opts)
	if err != nil {
		return nil, resp, err
	}
	return &m, resp, nil
}

// ReplaceMandate replaces a mandate with req in one step (POST /v1/mandates/{id}/replace, If-Match: "version"):
// the old one is revoked and the returned one carries what it spent and counted this period. version is the
// Version the caller read; a mandate that changed since answers CodeVersionMismatch (read it again and decide
// anew). A retry with the same key sends the same If-Match.
func (c *Client) ReplaceMandate(ctx context.Context, mandateID string, version int64, req GrantMandateRequest, opts ...CallOption) (*Mandate, *Response, error) {
	var m Mandate
	opts = append(opts, func(cl *call) { cl.ifMatch = `"` + strconv.FormatInt(version, 10) + `"` })
	resp, err := c.write(ctx, "/v1/mandates/"+url.PathEscape(mandateID)+"/replace", req, &m, opts)
	if err != nil {
		return nil, resp, err
	}
	return &m, resp, nil
}
