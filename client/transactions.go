package client

import (
	"context"
	"encoding/json"
	"net/url"
	"time"
)

// Entry is one signed line of a transaction: debit negative, credit positive.
type Entry struct {
	WalletID string `json:"wallet_id"`
	Asset    string `json:"asset"`
	Amount   int64  `json:"amount"`
	Bucket   string `json:"bucket,omitempty"`
}

// Transaction is a balanced journal transaction.
type Transaction struct {
	TransactionID  string          `json:"transaction_id"`
	Kind           string          `json:"kind"`
	Position       int64           `json:"position"`
	Sub            string          `json:"sub"`
	Actor          *string         `json:"actor"` // the agent that acted for Sub (a delegated token), nil when none
	IdempotencyKey string          `json:"idempotency_key"`
	Asset          string          `json:"asset"`
	Amount         int64           `json:"amount"`
	FromWalletID   string          `json:"from_wallet_id,omitempty"`
	ToWalletID     string          `json:"to_wallet_id,omitempty"`
	WalletID       string          `json:"wallet_id,omitempty"`
	Description    string          `json:"description,omitempty"`
	Reason         string          `json:"reason,omitempty"`
	MandateID      string          `json:"mandate_id,omitempty"`
	HoldID         string          `json:"hold_id,omitempty"`
	RefundOf       string          `json:"refund_of,omitempty"`
	Metadata       json.RawMessage `json:"metadata"`
	Entries        []Entry         `json:"entries"`
	CreatedAt      time.Time       `json:"created_at"`
}

// TransferRequest moves Amount minor units of Asset between two wallets.
type TransferRequest struct {
	FromWalletID string          `json:"from_wallet_id"`
	ToWalletID   string          `json:"to_wallet_id"`
	Amount       int64           `json:"amount"`
	Asset        string          `json:"asset"`
	Description  string          `json:"description,omitempty"`
	Metadata     json.RawMessage `json:"metadata,omitempty"`
	// MandateID names the mandate an agent spends under; omit to use the agent's only active one on the wallet.
	MandateID string `json:"mandate_id,omitempty"`
}

// AdjustmentRequest credits (positive) or debits (negative) a wallet against its asset's system wallet.
type AdjustmentRequest struct {
	WalletID string          `json:"wallet_id"`
	Amount   int64           `json:"amount"`
	Asset    string          `json:"asset"`
	Reason   string          `json:"reason"`
	Metadata json.RawMessage `json:"metadata,omitempty"`
}

// Transfer moves money (POST /v1/transfers). On any error the Response still carries the IdempotencyKey: retry
// with WithIdempotencyKey(resp.IdempotencyKey) and the transfer happens at most once.
func (c *Client) Transfer(ctx context.Context, req TransferRequest, opts ...CallOption) (*Transaction, *Response, error) {
	var t Transaction
	resp, err := c.write(ctx, "/v1/transfers", req, &t, opts)
	if err != nil {
		return nil, resp, err
	}
	return &t, resp, nil
}

// Adjust credits or debits a wallet (POST /v1/adjustments; wallet:admin).
func (c *Client) Adjust(ctx context.Context, req AdjustmentRequest, opts ...CallOption) (*Transaction, *Response, error) {
	var t Transaction
	resp, err := c.write(ctx, "/v1/adjustments", req, &t, opts)
	if err != nil {
		return nil, resp, err
	}
	return &t, resp, nil
}

// GetTransaction reads a transaction (GET /v1/transactions/{id}).
func (c *Client) GetTransaction(ctx context.Context, transactionID string, opts ...CallOption) (*Transaction, *Response, error) {
	var t Transaction
	resp, err := c.read(ctx, "/v1/transactions/"+url.PathEscape(transactionID), &t, opts...)
	if err != nil {
		return nil, resp, err
	}
	return &t, resp, nil
}

// RefundRequest moves money back along a transfer or capture; Amount 0 refunds what is not refunded yet.
type RefundRequest struct {
	Amount int64  `json:"amount,omitempty"`
	Reason string `json:"reason"`
}

// Refund refunds a transaction (POST /v1/transactions/{id}/refunds) and returns the refund's transaction.
func (c *Client) Refund(ctx context.Context, transactionID string, req RefundRequest, opts ...CallOption) (*Transaction, *Response, error) {
	var t Transaction
	resp, err := c.write(ctx, "/v1/transactions/"+url.PathEscape(transactionID)+"/refunds", req, &t, opts)
	if err != nil {
		return nil, resp, err
	}
	return &t, resp, nil
}
