package client

import (
	"context"
	"net/url"
	"time"
)

// HistoryEntry is one journal entry of a wallet with the balance right after it.
type HistoryEntry struct {
	EntryID       int64     `json:"entry_id"`
	TransactionID string    `json:"transaction_id"`
	Position      int64     `json:"position"`
	Kind          string    `json:"kind"`
	Bucket        string    `json:"bucket"`
	Amount        int64     `json:"amount"`
	BalanceAfter  int64     `json:"balance_after"`
	HeldAfter     int64     `json:"held_after"`
	CreatedAt     time.Time `json:"created_at"`
}

// ReadModel says how far the history read model is behind the journal for the wallet.
type ReadModel struct {
	Position       int64 `json:"position"`
	JournalHead    int64 `json:"journal_head"`
	PendingEntries int64 `json:"pending_entries"`
}

// WalletHistory is one page of a wallet's history, newest first. It is eventually consistent.
type WalletHistory struct {
	Data        []HistoryEntry `json:"data"`
	HasMore     bool           `json:"has_more"`
	NextCursor  *string        `json:"next_cursor"`
	WalletID    string         `json:"wallet_id"`
	Asset       string         `json:"asset"`
	Consistency string         `json:"consistency"`
	ReadModel   ReadModel      `json:"read_model"`
	// Deprecated: Entries is the same as Data; the server stops sending it in the next release.
	Entries []HistoryEntry `json:"entries"`
}

// ListHistory reads one page of a wallet's history (GET /v1/wallets/{id}/transactions): its entries with the
// balance after each, for the wallet's owner or an admin.
func (c *Client) ListHistory(ctx context.Context, walletID string, opts PageOptions, call ...CallOption) (*WalletHistory, *Response, error) {
	var h WalletHistory
	resp, err := c.read(ctx, withQuery("/v1/wallets/"+url.PathEscape(walletID)+"/transactions", opts.values()), &h, call...)
	if err != nil {
		return nil, resp, err
	}
	return &h, resp, nil
}
