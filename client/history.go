package client

import (
	"context"
	"net/url"
	"strconv"
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
	WalletID    string         `json:"wallet_id"`
	Asset       string         `json:"asset"`
	Entries     []HistoryEntry `json:"entries"`
	NextCursor  *string        `json:"next_cursor"`
	Consistency string         `json:"consistency"`
	ReadModel   ReadModel      `json:"read_model"`
}

// ListTransactions reads one page of a wallet's history (GET /v1/wallets/{id}/transactions). limit 0 uses the
// server's default (50), any other value is sent as given (the server takes 1 to 200); cursor is the previous
// page's NextCursor, empty for the newest page.
func (c *Client) ListTransactions(ctx context.Context, walletID string, limit int, cursor string, opts ...CallOption) (*WalletHistory, *Response, error) {
	q := url.Values{}
	if limit != 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	if cursor != "" {
		q.Set("cursor", cursor)
	}
	path := "/v1/wallets/" + url.PathEscape(walletID) + "/transactions"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	var h WalletHistory
	resp, err := c.read(ctx, path, &h, opts)
	if err != nil {
		return nil, resp, err
	}
	return &h, resp, nil
}
