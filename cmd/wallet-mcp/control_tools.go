package main

import (
	"context"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/agentic-commerce/wallet-ledger/client"
)

// addControlTools registers what an agent may do to stop spending: freeze a wallet, suspend or revoke its own
// mandate, and read its mandate. Restarting (unfreeze, resume), granting and replacing are its owner's: an agent
// is never offered them.
func addControlTools(s *mcp.Server, t *tools) {
	addTool(s, &mcp.Tool{Name: "freeze_wallet", Title: "Freeze a wallet (kill switch)",
		Description: "Stop ALL money leaving a wallet at once: every transfer, hold, capture or refund from it is refused " +
			"(wallet_frozen) until its owner unfreezes it; money may still come in. Use it when something looks wrong " +
			"(a payment you did not intend, a prompt you do not trust). You can freeze your own wallets and, with a token " +
			"acting for your principal, your principal's; you cannot unfreeze. Say why in reason. " + minorUnits + " " +
			retrySameKey,
		Annotations: &mcp.ToolAnnotations{IdempotentHint: true, DestructiveHint: ptr(false)}}, t.freezeWallet)
	addTool(s, &mcp.Tool{Name: "suspend_mandate", Title: "Suspend your mandate",
		Description: "Pause a spending mandate you hold: every spend under it is refused (mandate_inactive) until the " +
			"wallet's owner resumes it; its remaining limit is kept. " + minorUnits + " " + retrySameKey,
		Annotations: &mcp.ToolAnnotations{IdempotentHint: true, DestructiveHint: ptr(false)}}, t.suspendMandate)
	addTool(s, &mcp.Tool{Name: "revoke_mandate", Title: "Give up your mandate",
		Description: "End a spending mandate you hold, for good: you can no longer spend under it nor capture holds made " +
			"under it. Only the wallet's owner can grant a new one. " + minorUnits + " " + retrySameKey,
		Annotations: &mcp.ToolAnnotations{IdempotentHint: true, DestructiveHint: ptr(true)}}, t.revokeMandate)
	addTool(s, &mcp.Tool{Name: "get_mandate", Title: "Get a mandate",
		Description: "A spending mandate: its status (active, suspended, revoked, expired or consumed), its limits, and " +
			"what is spent and remaining (amount and number of spends) in the current period. " + minorUnits,
		Annotations: &mcp.ToolAnnotations{ReadOnlyHint: true}}, t.getMandate)
}

// FreezeInput freezes a wallet.
type FreezeInput struct {
	WalletID       string `json:"wallet_id" jsonschema:"the wallet's UUID"`
	Reason         string `json:"reason" jsonschema:"why you freeze it; its owner reads this"`
	IdempotencyKey string `json:"idempotency_key,omitempty" jsonschema:"omit on the first try; to retry, pass the key a previous call returned"`
}

// FreezeOutput is the wallet as the freeze left it.
type FreezeOutput struct {
	Wallet         WalletOutput `json:"wallet"`
	IdempotencyKey string       `json:"idempotency_key" jsonschema:"the key of this call; reuse it to retry"`
	Replayed       bool         `json:"replayed" jsonschema:"true when this key had already done it: nothing new happened"`
}

// MandateInput names a mandate, with the key of a change to it.
type MandateInput struct {
	MandateID      string `json:"mandate_id" jsonschema:"the mandate's UUID"`
	IdempotencyKey string `json:"idempotency_key,omitempty" jsonschema:"omit on the first try; to retry, pass the key a previous call returned"`
}

// MandateReadInput names a mandate to read.
type MandateReadInput struct {
	MandateID string `json:"mandate_id" jsonschema:"the mandate's UUID"`
}

// MandateChangeOutput is a mandate after a change, with the key of the change.
type MandateChangeOutput struct {
	Mandate        MandateOutput `json:"mandate"`
	IdempotencyKey string        `json:"idempotency_key" jsonschema:"the key of this call; reuse it to retry"`
	Replayed       bool          `json:"replayed" jsonschema:"true when this key had already done it: nothing new happened"`
}

func (t *tools) freezeWallet(ctx context.Context, req *mcp.CallToolRequest, in FreezeInput) (*mcp.CallToolResult, FreezeOutput, error) {
	c, err := t.as(req)
	if err != nil {
		return nil, FreezeOutput{}, err
	}
	if in.Reason == "" {
		return nil, FreezeOutput{}, explainInput("freeze_wallet", "reason is required: say why the wallet must stop")
	}
	w, resp, err := c.FreezeWallet(ctx, in.WalletID, in.Reason, keyOption(in.IdempotencyKey)...)
	if err != nil {
		return nil, FreezeOutput{}, explain("freeze_wallet", err, resp.IdempotencyKey)
	}
	return nil, FreezeOutput{Wallet: walletOutput(w), IdempotencyKey: resp.IdempotencyKey, Replayed: resp.Replayed}, nil
}

func (t *tools) suspendMandate(ctx context.Context, req *mcp.CallToolRequest, in MandateInput) (*mcp.CallToolResult, MandateChangeOutput, error) {
	return t.changeMandate(ctx, req, in, "suspend_mandate", (*client.Client).SuspendMandate)
}

func (t *tools) revokeMandate(ctx context.Context, req *mcp.CallToolRequest, in MandateInput) (*mcp.CallToolResult, MandateChangeOutput, error) {
	return t.changeMandate(ctx, req, in, "revoke_mandate", (*client.Client).RevokeMandate)
}

func (t *tools) changeMandate(ctx context.Context, req *mcp.CallToolRequest, in MandateInput, tool string,
	change func(*client.Client, context.Context, string, ...client.CallOption) (*client.Mandate, *client.Response, error)) (*mcp.CallToolResult, MandateChangeOutput, error) {
	c, err := t.as(req)
	if err != nil {
		return nil, MandateChangeOutput{}, err
	}
	m, resp, err := change(c, ctx, in.MandateID, keyOption(in.IdempotencyKey)...)
	if err != nil {
		return nil, MandateChangeOutput{}, explain(tool, err, resp.IdempotencyKey)
	}
	return nil, MandateChangeOutput{Mandate: mandateOutput(m), IdempotencyKey: resp.IdempotencyKey, Replayed: resp.Replayed}, nil
}

func (t *tools) getMandate(ctx context.Context, req *mcp.CallToolRequest, in MandateReadInput) (*mcp.CallToolResult, MandateOutput, error) {
	c, err := t.as(req)
	if err != nil {
		return nil, MandateOutput{}, err
	}
	m, _, err := c.GetMandate(ctx, in.MandateID)
	if err != nil {
		return nil, MandateOutput{}, explain("get_mandate", err, "")
	}
	return nil, mandateOutput(m), nil
}
