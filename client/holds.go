package client

import (
	"context"
	"encoding/json"
	"net/url"
	"time"
)

// Hold reserves part of a wallet's available balance until it is captured, voided or expires.
type Hold struct {
	HoldID               string          `json:"hold_id"`
	WalletID             string          `json:"wallet_id"`
	ToWalletID           string          `json:"to_wallet_id,omitempty"`
	Asset                string          `json:"asset"`
	Amount               int64           `json:"amount"`
	CapturedAmount       int64           `json:"captured_amount"`
	Status               string          `json:"status"`
	ExpiresAt            time.Time       `json:"expires_at"`
	Sub                  string          `json:"sub"`
	Actor                *string         `json:"actor"` // the agent that acted for Sub (a delegated token), nil when none
	MandateID            string          `json:"mandate_id,omitempty"`
	Description          string          `json:"description,omitempty"`
	Metadata             json.RawMessage `json:"metadata"`
	TransactionID        string          `json:"transaction_id"`
	ReleaseTransactionID string          `json:"release_transaction_id,omitempty"`
	CreatedAt            time.Time       `json:"created_at"`
	UpdatedAt            time.Time       `json:"updated_at"`
}

// CreateHoldRequest holds Amount of Asset on WalletID. ExpiresAt zero means the server's default (7 days).
type CreateHoldRequest struct {
	WalletID    string          `json:"wallet_id"`
	Amount      int64           `json:"amount"`
	Asset       string          `json:"asset"`
	ToWalletID  string          `json:"to_wallet_id,omitempty"`
	ExpiresAt   *time.Time      `json:"expires_at,omitempty"`
	Description string          `json:"description,omitempty"`
	Metadata    json.RawMessage `json:"metadata,omitempty"`
	MandateID   string          `json:"mandate_id,omitempty"`
}

// CaptureHoldRequest captures a hold: Amount nil captures all of it (a zero is sent, and refused, as zero),
// ToWalletID empty pays the hold's destination.
type CaptureHoldRequest struct {
	Amount     *int64 `json:"amount,omitempty"`
	ToWalletID string `json:"to_wallet_id,omitempty"`
}

// CreateHold reserves funds (POST /v1/holds).
func (c *Client) CreateHold(ctx context.Context, req CreateHoldRequest, opts ...CallOption) (*Hold, *Response, error) {
	var h Hold
	resp, err := c.write(ctx, "/v1/holds", req, &h, opts)
	if err != nil {
		return nil, resp, err
	}
	return &h, resp, nil
}

// CaptureHold captures a hold once (POST /v1/holds/{id}/capture); what is not captured is released.
func (c *Client) CaptureHold(ctx context.Context, holdID string, req CaptureHoldRequest, opts ...CallOption) (*Hold, *Response, error) {
	var h Hold
	resp, err := c.write(ctx, "/v1/holds/"+url.PathEscape(holdID)+"/capture", req, &h, opts)
	if err != nil {
		return nil, resp, err
	}
	return &h, resp, nil
}

// VoidHold releases an active hold (POST /v1/holds/{id}/void).
func (c *Client) VoidHold(ctx context.Context, holdID string, opts ...CallOption) (*Hold, *Response, error) {
	var h Hold
	resp, err := c.write(ctx, "/v1/holds/"+url.PathEscape(holdID)+"/void", struct{}{}, &h, opts)
	if err != nil {
		return nil, resp, err
	}
	return &h, resp, nil
}

// GetHold reads a hold (GET /v1/holds/{id}).
func (c *Client) GetHold(ctx context.Context, holdID string, opts ...CallOption) (*Hold, *Response, error) {
	var h Hold
	resp, err := c.read(ctx, "/v1/holds/"+url.PathEscape(holdID), &h, opts...)
	if err != nil {
		return nil, resp, err
	}
	return &h, resp, nil
}
