package main

import (
	"context"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/agentic-commerce/wallet-ledger/client"
)

// addCommerceTools registers the list, holds and mandates tools.
func addCommerceTools(s *mcp.Server, t *tools) {
	addTool(s, &mcp.Tool{Name: "list_wallets", Title: "List wallets",
		Description: "The wallets you may use, newest first: your own and those you hold an active mandate on, with " +
			"their balances. " + minorUnits + " Pass next_cursor back as cursor for more.",
		Annotations: &mcp.ToolAnnotations{ReadOnlyHint: true}}, t.listWallets)
	addTool(s, &mcp.Tool{Name: "list_transactions", Title: "List wallet transactions",
		Description: "A wallet's entries, newest first, each with the balance after it (for the wallet's owner or an admin; " +
			"an agent spending under a mandate sees the balance with get_balance instead). " + minorUnits +
			" Eventually consistent: read_model.pending_entries says how many recent entries are not listed yet " +
			"(get_balance is always current). Pass next_cursor back as cursor for older entries.",
		Annotations: &mcp.ToolAnnotations{ReadOnlyHint: true}}, t.listTransactions)
	addTool(s, &mcp.Tool{Name: "create_hold", Title: "Hold funds",
		Description: "Reserve amount on a wallet before a purchase: it leaves available but stays in balance until " +
			"captured, voided or expired. " + minorUnits + " Returns the hold and the idempotency_key. " + retrySameKey,
		Annotations: &mcp.ToolAnnotations{IdempotentHint: true, DestructiveHint: ptr(false)}}, t.createHold)
	addTool(s, &mcp.Tool{Name: "capture_hold", Title: "Capture a hold",
		Description: "Pay from an active hold (once): amount defaults to the whole hold, to_wallet_id to the hold's " +
			"destination; the rest is released. " + minorUnits + " " + retrySameKey,
		Annotations: &mcp.ToolAnnotations{IdempotentHint: true, DestructiveHint: ptr(false)}}, t.captureHold)
	addTool(s, &mcp.Tool{Name: "void_hold", Title: "Void a hold",
		Description: "Release everything an active hold reserves. " + minorUnits + " " + retrySameKey,
		Annotations: &mcp.ToolAnnotations{IdempotentHint: true, DestructiveHint: ptr(false)}}, t.voidHold)
	addTool(s, &mcp.Tool{Name: "list_mandates", Title: "List mandates",
		Description: "The spending mandates on a wallet, newest first (all of them for its owner or an admin, your own " +
			"for an agent): which agent may spend, limits, what is spent and remaining in the period, allowed " +
			"destinations, expiry. " + minorUnits + " Pass next_cursor back as cursor for more.",
		Annotations: &mcp.ToolAnnotations{ReadOnlyHint: true}}, t.listMandates)
}

// PageInput pages through a list. Pointers tell a field left out from a zero one (a limit of 0 is refused, not
// read as the default); the schema still says plain "integer" (addTool).
type PageInput struct {
	Limit  *int   `json:"limit,omitempty" jsonschema:"items per page, 1 to 200; leave out for 50"`
	Cursor string `json:"cursor,omitempty" jsonschema:"next_cursor of the previous page; leave out for the newest items"`
}

func (p PageInput) options(tool string) (client.PageOptions, error) {
	if p.Limit == nil {
		return client.PageOptions{Cursor: p.Cursor}, nil // the server's default
	}
	if *p.Limit < 1 || *p.Limit > 200 {
		return client.PageOptions{}, explainInput(tool, "limit must be from 1 to 200, or left out for 50")
	}
	return client.PageOptions{Limit: *p.Limit, Cursor: p.Cursor}, nil
}

// HistoryInput pages through a wallet's history.
type HistoryInput struct {
	WalletID string `json:"wallet_id" jsonschema:"the wallet's UUID"`
	PageInput
}

// HistoryOutput is one page of history.
type HistoryOutput struct {
	WalletID   string               `json:"wallet_id"`
	Asset      string               `json:"asset"`
	Entries    []HistoryEntryOutput `json:"entries"`
	NextCursor string               `json:"next_cursor,omitempty" jsonschema:"pass as cursor for older entries; absent on the last page"`
	ReadModel  client.ReadModel     `json:"read_model"`
}

// WalletsInput pages through the wallets the agent may use.
type WalletsInput struct {
	Asset string `json:"asset,omitempty" jsonschema:"only wallets of this asset code, such as USD"`
	PageInput
}

// WalletsOutput is one page of wallets.
type WalletsOutput struct {
	Wallets    []WalletOutput `json:"wallets"`
	NextCursor string         `json:"next_cursor,omitempty" jsonschema:"pass as cursor for more; absent on the last page"`
}

// MandatesInput pages through a wallet's mandates.
type MandatesInput struct {
	WalletID string `json:"wallet_id" jsonschema:"the wallet's UUID"`
	Status   string `json:"status,omitempty" jsonschema:"only mandates in this status: active, suspended, revoked, expired or consumed"`
	PageInput
}

// HistoryEntryOutput is one entry with the balance after it.
type HistoryEntryOutput struct {
	TransactionID string `json:"transaction_id"`
	Kind          string `json:"kind"`
	Bucket        string `json:"bucket"`
	Amount        int64  `json:"amount"`
	BalanceAfter  int64  `json:"balance_after"`
	HeldAfter     int64  `json:"held_after"`
	CreatedAt     string `json:"created_at"`
}

// CreateHoldInput is a hold the model asks for.
type CreateHoldInput struct {
	WalletID       string `json:"wallet_id" jsonschema:"UUID of the wallet to hold funds on"`
	Amount         int64  `json:"amount" jsonschema:"amount in minor units, at least 1"`
	Asset          string `json:"asset" jsonschema:"asset code, such as USD"`
	ToWalletID     string `json:"to_wallet_id,omitempty" jsonschema:"UUID of the wallet a capture will pay"`
	ExpiresAt      string `json:"expires_at,omitempty" jsonschema:"RFC 3339 time the hold lapses; default 7 days"`
	Description    string `json:"description,omitempty"`
	MandateID      string `json:"mandate_id,omitempty" jsonschema:"the mandate to spend under, when you hold several on the wallet"`
	IdempotencyKey string `json:"idempotency_key,omitempty" jsonschema:"omit on the first try; to retry, pass the key a previous call returned"`
}

// CaptureHoldInput captures a hold.
type CaptureHoldInput struct {
	HoldID         string `json:"hold_id" jsonschema:"the hold's UUID"`
	Amount         *int64 `json:"amount,omitempty" jsonschema:"minor units to capture, at least 1; leave out for the whole hold"`
	ToWalletID     string `json:"to_wallet_id,omitempty" jsonschema:"destination; omit for the hold's own"`
	IdempotencyKey string `json:"idempotency_key,omitempty" jsonschema:"omit on the first try; to retry, pass the key a previous call returned"`
}

// VoidHoldInput voids a hold.
type VoidHoldInput struct {
	HoldID         string `json:"hold_id" jsonschema:"the hold's UUID"`
	IdempotencyKey string `json:"idempotency_key,omitempty" jsonschema:"omit on the first try; to retry, pass the key a previous call returned"`
}

// HoldOutput is a hold and the key it was changed under.
type HoldOutput struct {
	HoldID         string `json:"hold_id"`
	WalletID       string `json:"wallet_id"`
	ToWalletID     string `json:"to_wallet_id,omitempty"`
	Asset          string `json:"asset"`
	Amount         int64  `json:"amount"`
	CapturedAmount int64  `json:"captured_amount"`
	Status         string `json:"status" jsonschema:"active, captured, voided or expired"`
	ExpiresAt      string `json:"expires_at"`
	MandateID      string `json:"mandate_id,omitempty" jsonschema:"the mandate the hold spends under"`
	TransactionID  string `json:"transaction_id" jsonschema:"the transaction that moved the amount from available to held"`
	// ReleaseTransactionID lets an agent read what its capture paid (get_transaction), which names the hold.
	ReleaseTransactionID string `json:"release_transaction_id,omitempty" jsonschema:"the capture, void or expiry transaction, once the hold is no longer active"`
	IdempotencyKey       string `json:"idempotency_key" jsonschema:"the key of this call; reuse it to retry"`
	Replayed             bool   `json:"replayed" jsonschema:"true when this key had already done it: nothing new happened"`
}

// MandatesOutput lists a wallet's mandates.
type MandatesOutput struct {
	WalletID   string          `json:"wallet_id"`
	Mandates   []MandateOutput `json:"mandates"`
	NextCursor string          `json:"next_cursor,omitempty" jsonschema:"pass as cursor for more; absent on the last page"`
}

// MandateOutput is one mandate.
type MandateOutput struct {
	MandateID             string   `json:"mandate_id"`
	WalletID              string   `json:"wallet_id"`
	Agent                 string   `json:"agent"`
	Status                string   `json:"status" jsonschema:"active, suspended, revoked, expired or consumed; only active spends"`
	DeactivatedReason     string   `json:"deactivated_reason,omitempty" jsonschema:"why it no longer spends: suspended, revoked, renounced, replaced, consumed or expired"`
	Version               int64    `json:"version"`
	Asset                 string   `json:"asset"`
	SingleUse             bool     `json:"single_use" jsonschema:"the first spend consumes it"`
	MaxPerTransaction     int64    `json:"max_per_transaction,omitempty"`
	LimitAmount           int64    `json:"limit_amount,omitempty"`
	LimitPeriod           string   `json:"limit_period,omitempty" jsonschema:"day, week, month or total"`
	SpentInPeriod         int64    `json:"spent_in_period"`
	Remaining             *int64   `json:"remaining,omitempty" jsonschema:"what the limit still allows this period"`
	MaxTransactions       int64    `json:"max_transactions,omitempty" jsonschema:"the most spends per max_transactions_period"`
	MaxTransactionsPeriod string   `json:"max_transactions_period,omitempty" jsonschema:"day, week, month or total"`
	TransactionsInPeriod  int64    `json:"transactions_in_period"`
	TransactionsRemaining *int64   `json:"transactions_remaining,omitempty" jsonschema:"how many more spends max_transactions allows this period"`
	Replaces              string   `json:"replaces,omitempty" jsonschema:"the mandate this one replaced"`
	AllowedDestinations   []string `json:"allowed_destinations,omitempty"`
	ExpiresAt             string   `json:"expires_at"`
}

func keyOption(key string) []client.CallOption {
	if key == "" {
		return nil
	}
	return []client.CallOption{client.WithIdempotencyKey(key)}
}

func holdOutput(h *client.Hold, resp *client.Response) HoldOutput {
	return HoldOutput{HoldID: h.HoldID, WalletID: h.WalletID, ToWalletID: h.ToWalletID, Asset: h.Asset, Amount: h.Amount,
		CapturedAmount: h.CapturedAmount, Status: h.Status, ExpiresAt: stamp(h.ExpiresAt), MandateID: h.MandateID,
		TransactionID: h.TransactionID, ReleaseTransactionID: h.ReleaseTransactionID,
		IdempotencyKey: resp.IdempotencyKey, Replayed: resp.Replayed}
}

func (t *tools) listTransactions(ctx context.Context, req *mcp.CallToolRequest, in HistoryInput) (*mcp.CallToolResult, HistoryOutput, error) {
	c, err := t.as(req)
	if err != nil {
		return nil, HistoryOutput{}, err
	}
	page, err := in.options("list_transactions")
	if err != nil {
		return nil, HistoryOutput{}, err
	}
	h, _, err := c.ListHistory(ctx, in.WalletID, page)
	if err != nil {
		return nil, HistoryOutput{}, explain("list_transactions", err, "")
	}
	out := HistoryOutput{WalletID: h.WalletID, Asset: h.Asset, ReadModel: h.ReadModel, Entries: make([]HistoryEntryOutput, 0, len(h.Data))}
	if h.NextCursor != nil {
		out.NextCursor = *h.NextCursor
	}
	for _, e := range h.Data {
		out.Entries = append(out.Entries, HistoryEntryOutput{TransactionID: e.TransactionID, Kind: e.Kind, Bucket: e.Bucket,
			Amount: e.Amount, BalanceAfter: e.BalanceAfter, HeldAfter: e.HeldAfter, CreatedAt: stamp(e.CreatedAt)})
	}
	return nil, out, nil
}

func (t *tools) createHold(ctx context.Context, req *mcp.CallToolRequest, in CreateHoldInput) (*mcp.CallToolResult, HoldOutput, error) {
	c, err := t.as(req)
	if err != nil {
		return nil, HoldOutput{}, err
	}
	r := client.CreateHoldRequest{WalletID: in.WalletID, Amount: in.Amount, Asset: in.Asset, ToWalletID: in.ToWalletID,
		Description: in.Description, MandateID: in.MandateID}
	if in.ExpiresAt != "" {
		at, err := time.Parse(time.RFC3339, in.ExpiresAt)
		if err != nil {
			return nil, HoldOutput{}, explainInput("create_hold", "expires_at must be an RFC 3339 time such as 2026-12-31T23:59:00Z")
		}
		r.ExpiresAt = &at
	}
	h, resp, err := c.CreateHold(ctx, r, keyOption(in.IdempotencyKey)...)
	if err != nil {
		return nil, HoldOutput{}, explain("create_hold", err, resp.IdempotencyKey)
	}
	return nil, holdOutput(h, resp), nil
}

func (t *tools) captureHold(ctx context.Context, req *mcp.CallToolRequest, in CaptureHoldInput) (*mcp.CallToolResult, HoldOutput, error) {
	c, err := t.as(req)
	if err != nil {
		return nil, HoldOutput{}, err
	}
	h, resp, err := c.CaptureHold(ctx, in.HoldID, client.CaptureHoldRequest{Amount: in.Amount, ToWalletID: in.ToWalletID},
		keyOption(in.IdempotencyKey)...)
	if err != nil {
		return nil, HoldOutput{}, explain("capture_hold", err, resp.IdempotencyKey)
	}
	return nil, holdOutput(h, resp), nil
}

func (t *tools) voidHold(ctx context.Context, req *mcp.CallToolRequest, in VoidHoldInput) (*mcp.CallToolResult, HoldOutput, error) {
	c, err := t.as(req)
	if err != nil {
		return nil, HoldOutput{}, err
	}
	h, resp, err := c.VoidHold(ctx, in.HoldID, keyOption(in.IdempotencyKey)...)
	if err != nil {
		return nil, HoldOutput{}, explain("void_hold", err, resp.IdempotencyKey)
	}
	return nil, holdOutput(h, resp), nil
}

func (t *tools) listMandates(ctx context.Context, req *mcp.CallToolRequest, in MandatesInput) (*mcp.CallToolResult, MandatesOutput, error) {
	c, err := t.as(req)
	if err != nil {
		return nil, MandatesOutput{}, err
	}
	page, err := in.options("list_mandates")
	if err != nil {
		return nil, MandatesOutput{}, err
	}
	l, _, err := c.ListMandates(ctx, in.WalletID, client.ListMandatesOptions{PageOptions: page, Status: in.Status})
	if err != nil {
		return nil, MandatesOutput{}, explain("list_mandates", err, "")
	}
	out := MandatesOutput{WalletID: in.WalletID, Mandates: make([]MandateOutput, 0, len(l.Data))}
	if l.NextCursor != nil {
		out.NextCursor = *l.NextCursor
	}
	for i := range l.Data {
		out.Mandates = append(out.Mandates, mandateOutput(&l.Data[i]))
	}
	return nil, out, nil
}

func (t *tools) listWallets(ctx context.Context, req *mcp.CallToolRequest, in WalletsInput) (*mcp.CallToolResult, WalletsOutput, error) {
	c, err := t.as(req)
	if err != nil {
		return nil, WalletsOutput{}, err
	}
	page, err := in.options("list_wallets")
	if err != nil {
		return nil, WalletsOutput{}, err
	}
	p, _, err := c.ListWallets(ctx, client.ListWalletsOptions{PageOptions: page, Asset: in.Asset})
	if err != nil {
		return nil, WalletsOutput{}, explain("list_wallets", err, "")
	}
	out := WalletsOutput{Wallets: make([]WalletOutput, 0, len(p.Data))}
	if p.NextCursor != nil {
		out.NextCursor = *p.NextCursor
	}
	for i := range p.Data {
		out.Wallets = append(out.Wallets, walletOutput(&p.Data[i]))
	}
	return nil, out, nil
}

func mandateOutput(m *client.Mandate) MandateOutput {
	mo := MandateOutput{MandateID: m.MandateID, WalletID: m.WalletID, Agent: m.Agent, Status: m.Status,
		DeactivatedReason: m.DeactivatedReason, Version: m.Version, Asset: m.Asset, SingleUse: m.SingleUse,
		MaxPerTransaction: m.MaxPerTransaction, SpentInPeriod: m.SpentInPeriod, Remaining: m.Remaining,
		TransactionsInPeriod: m.TransactionsInPeriod, TransactionsRemaining: m.TransactionsRemaining, Replaces: m.Replaces,
		AllowedDestinations: m.AllowedDestinations, ExpiresAt: stamp(m.ExpiresAt)}
	if m.Limit != nil {
		mo.LimitAmount, mo.LimitPeriod = m.Limit.Amount, m.Limit.Period
	}
	if m.MaxTransactions != nil {
		mo.MaxTransactions, mo.MaxTransactionsPeriod = m.MaxTransactions.Count, m.MaxTransactions.Period
	}
	return mo
}
