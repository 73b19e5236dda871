package client

import (
	"context"
	"encoding/json"
	"net/url"
	"time"
)

// Wallet is a wallet with its balance.
type Wallet struct {
	WalletID  string          `json:"wallet_id"`
	Asset     string          `json:"asset"`
	Owner     string          `json:"owner"`
	Kind      string          `json:"kind"`
	Balance   int64           `json:"balance"`
	Available int64           `json:"available"`
	Held      int64           `json:"held"`
	Metadata  json.RawMessage `json:"metadata"`
	CreatedAt time.Time       `json:"created_at"`
	// Status is active or frozen; a frozen wallet lets no money out. The frozen_* fields are nil while active.
	Status        string     `json:"status"`
	FrozenReason  *string    `json:"frozen_reason"`
	FrozenBy      *string    `json:"frozen_by"`
	FrozenAt      *time.Time `json:"frozen_at"`
	FrozenByAdmin bool       `json:"frozen_by_admin"`
}

// FreezeWalletRequest says why a wallet is frozen.
type FreezeWalletRequest struct {
	Reason string `json:"reason"`
}

// CreateWalletRequest opens a wallet. WalletID and Owner are optional (Owner: admins only).
type CreateWalletRequest struct {
	WalletID string          `json:"wallet_id,omitempty"`
	Asset    string          `json:"asset"`
	Owner    string          `json:"owner,omitempty"`
	Metadata json.RawMessage `json:"metadata,omitempty"`
}

// Balance is a wallet's balance; Available = Balance - Held is what it may spend.
type Balance struct {
	WalletID  string    `json:"wallet_id"`
	Asset     string    `json:"asset"`
	Balance   int64     `json:"balance"`
	Available int64     `json:"available"`
	Held      int64     `json:"held"`
	Version   int64     `json:"version"`
	UpdatedAt time.Time `json:"updated_at"`
}

// BalanceAudit compares a wallet's projected balance with the sum of its journal entries.
type BalanceAudit struct {
	WalletID         string    `json:"wallet_id"`
	Asset            string    `json:"asset"`
	ProjectedBalance int64     `json:"projected_balance"`
	JournalBalance   int64     `json:"journal_balance"`
	ProjectedHeld    int64     `json:"projected_held"`
	JournalHeld      int64     `json:"journal_held"`
	Consistent       bool      `json:"consistent"`
	EntryCount       int64     `json:"entry_count"`
	CheckedAt        time.Time `json:"checked_at"`
}

// CreateWallet opens a wallet (POST /v1/wallets).
func (c *Client) CreateWallet(ctx context.Context, req CreateWalletRequest, opts ...CallOption) (*Wallet, *Response, error) {
	var w Wallet
	resp, err := c.write(ctx, "/v1/wallets", req, &w, opts)
	if err != nil {
		return nil, resp, err
	}
	return &w, resp, nil
}

// GetWallet reads a wallet (GET /v1/wallets/{id}).
func (c *Client) GetWallet(ctx context.Context, walletID string, opts ...CallOption) (*Wallet, *Response, error) {
	var w Wallet
	resp, err := c.read(ctx, "/v1/wallets/"+url.PathEscape(walletID), &w, opts...)
	if err != nil {
		return nil, resp, err
	}
	return &w, resp, nil
}

// GetBalance reads a wallet's balance (GET /v1/wallets/{id}/balance); it reflects every committed write.
func (c *Client) GetBalance(ctx context.Context, walletID string, opts ...CallOption) (*Balance, *Response, error) {
	var b Balance
	resp, err := c.read(ctx, "/v1/wallets/"+url.PathEscape(walletID)+"/balance", &b, opts...)
	if err != nil {
		return nil, resp, err
	}
	return &b, resp, nil
}

// AuditBalance recomputes a wallet's balance from the journal (GET /v1/wallets/{id}/balance/audit).
func (c *Client) AuditBalance(ctx context.Context, walletID string, opts ...CallOption) (*BalanceAudit, *Response, error) {
	var a BalanceAudit
	resp, err := c.read(ctx, "/v1/wallets/"+url.PathEscape(walletID)+"/balance/audit", &a, opts...)
	if err != nil {
		return nil, resp, err
	}
	return &a, resp, nil
}

// FreezeWallet freezes a wallet so that no money leaves it (POST /v1/wallets/{id}/freeze; its owner, an agent
// acting for the owner, or an admin). Freezing a frozen wallet changes nothing (an admin's freeze over the
// owner's makes it an admin's).
func (c *Client) FreezeWallet(ctx context.Context, walletID, reason string, opts ...CallOption) (*Wallet, *Response, error) {
	var w Wallet
	resp, err := c.write(ctx, "/v1/wallets/"+url.PathEscape(walletID)+"/freeze", FreezeWalletRequest{Reason: reason}, &w, opts)
	if err != nil {
		return nil, resp, err
	}
	return &w, resp, nil
}

// UnfreezeWallet lifts a freeze (POST /v1/wallets/{id}/unfreeze): the owner lifts its own, only an admin an
// admin's.
func (c *Client) UnfreezeWallet(ctx context.Context, walletID string, opts ...CallOption) (*Wallet, *Response, error) {
	var w Wallet
	resp, err := c.write(ctx, "/v1/wallets/"+url.PathEscape(walletID)+"/unfreeze", struct{}{}, &w, opts)
	if err != nil {
		return nil, resp, err
	}
	return &w, resp, nil
}
