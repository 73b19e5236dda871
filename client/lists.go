package client

import (
	"context"
	"net/url"
	"strconv"
	"time"
)

// Every list answers one page, newest first, in the same envelope: Data, HasMore, and NextCursor to pass back as
// PageOptions.Cursor (with the same filters) for the next page. A walk down the pages sees every item that
// existed when it began exactly once, whatever is written meanwhile.

// PageOptions cut a list into pages. Limit 0 uses the server's default (50); the server takes 1 to 200. Cursor is
// the previous page's NextCursor, empty for the first page.
type PageOptions struct {
	Limit  int
	Cursor string
}

func (p PageOptions) values() url.Values {
	q := url.Values{}
	if p.Limit != 0 {
		q.Set("limit", strconv.Itoa(p.Limit))
	}
	if p.Cursor != "" {
		q.Set("cursor", p.Cursor)
	}
	return q
}

func setIf(q url.Values, name, v string) {
	if v != "" {
		q.Set(name, v)
	}
}

func withQuery(path string, q url.Values) string {
	if len(q) == 0 {
		return path
	}
	return path + "?" + q.Encode()
}

// WalletPage is one page of wallets.
type WalletPage struct {
	Data       []Wallet `json:"data"`
	HasMore    bool     `json:"has_more"`
	NextCursor *string  `json:"next_cursor"`
}

// ListWalletsOptions filter GET /v1/wallets. Owner is an owner's sub; Asset an asset code.
type ListWalletsOptions struct {
	PageOptions
	Owner string
	Asset string
}

// ListWallets reads one page of the wallets the caller may read (GET /v1/wallets): its own and those it holds an
// active mandate on; an admin's, every wallet.
func (c *Client) ListWallets(ctx context.Context, opts ListWalletsOptions, call ...CallOption) (*WalletPage, *Response, error) {
	q := opts.values()
	setIf(q, "owner", opts.Owner)
	setIf(q, "asset", opts.Asset)
	var p WalletPage
	resp, err := c.read(ctx, withQuery("/v1/wallets", q), &p, call...)
	if err != nil {
		return nil, resp, err
	}
	return &p, resp, nil
}

// HoldPage is one page of holds.
type HoldPage struct {
	Data       []Hold  `json:"data"`
	HasMore    bool    `json:"has_more"`
	NextCursor *string `json:"next_cursor"`
}

// ListHoldsOptions filter GET /v1/wallets/{id}/holds. Status is active, captured, voided or expired.
type ListHoldsOptions struct {
	PageOptions
	Status string
}

// ListHolds reads one page of a wallet's holds (GET /v1/wallets/{id}/holds).
func (c *Client) ListHolds(ctx context.Context, walletID string, opts ListHoldsOptions, call ...CallOption) (*HoldPage, *Response, error) {
	q := opts.values()
	setIf(q, "status", opts.Status)
	var p HoldPage
	resp, err := c.read(ctx, withQuery("/v1/wallets/"+url.PathEscape(walletID)+"/holds", q), &p, call...)
	if err != nil {
		return nil, resp, err
	}
	return &p, resp, nil
}

// TransactionPage is one page of journal transactions.
type TransactionPage struct {
	Data       []Transaction `json:"data"`
	HasMore    bool          `json:"has_more"`
	NextCursor *string       `json:"next_cursor"`
}

// ListTransactionsOptions filter GET /v1/transactions. Zero fields filter nothing; CreatedAfter and
// CreatedBefore are exclusive bounds.
type ListTransactionsOptions struct {
	PageOptions
	WalletID      string
	MandateID     string
	Kind          string
	CreatedAfter  time.Time
	CreatedBefore time.Time
}

// ListTransactions reads one page of the journal transactions the caller may read (GET /v1/transactions): those
// of its own wallets, of one wallet (WalletID), or made under one mandate (MandateID); an admin's, all of them.
func (c *Client) ListTransactions(ctx context.Context, opts ListTransactionsOptions, call ...CallOption) (*TransactionPage, *Response, error) {
	q := opts.values()
	setIf(q, "wallet_id", opts.WalletID)
	setIf(q, "mandate_id", opts.MandateID)
	setIf(q, "kind", opts.Kind)
	if !opts.CreatedAfter.IsZero() {
		q.Set("created_after", opts.CreatedAfter.UTC().Format(time.RFC3339Nano))
	}
	if !opts.CreatedBefore.IsZero() {
		q.Set("created_before", opts.CreatedBefore.UTC().Format(time.RFC3339Nano))
	}
	var p TransactionPage
	resp, err := c.read(ctx, withQuery("/v1/transactions", q), &p, call...)
	if err != nil {
		return nil, resp, err
	}
	return &p, resp, nil
}
