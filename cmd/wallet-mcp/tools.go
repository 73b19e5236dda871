package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/agentic-commerce/wallet-ledger/client"
)

// tools exposes the wallet-api to a model. It holds no credential of its own: each call is made with the token
// of the agent that made it (tokenFor).
type tools struct {
	api *client.Client
	// stdioToken is the agent's token when the transport carries no HTTP headers (stdio, in-memory).
	stdioToken string
}

// newServer returns the MCP server with every tool registered.
func newServer(t *tools, version string) *mcp.Server {
	s := mcp.NewServer(&mcp.Implementation{Name: "wallet-ledger", Title: "Wallet ledger", Version: version}, &mcp.ServerOptions{
		Instructions: "Tools to read and move money in a double-entry wallet ledger. " + minorUnits + " Every write " +
			"returns an idempotency_key: if a write fails with a retryable error or you are unsure whether it happened, " +
			"call it again with the same idempotency_key and it will happen at most once.",
	})
	addTool(s, &mcp.Tool{Name: "get_balance", Title: "Get wallet balance",
		Description: "Current balance of a wallet: balance, available (what can be spent now) and held. " + minorUnits,
		Annotations: &mcp.ToolAnnotations{ReadOnlyHint: true}}, t.getBalance)
	addTool(s, &mcp.Tool{Name: "get_wallet", Title: "Get wallet",
		Description: "A wallet's asset, owner and balances. " + minorUnits,
		Annotations: &mcp.ToolAnnotations{ReadOnlyHint: true}}, t.getWallet)
	addTool(s, &mcp.Tool{Name: "get_transaction", Title: "Get transaction",
		Description: "One journal transaction (transfer, adjustment, ...) with its signed entries. " + minorUnits,
		Annotations: &mcp.ToolAnnotations{ReadOnlyHint: true}}, t.getTransaction)
	addTool(s, &mcp.Tool{Name: "transfer", Title: "Transfer money",
		Description: "Move amount of asset from one of your wallets (or one you hold a mandate on) to another wallet. " +
			minorUnits + " Returns the transaction and the idempotency_key used. " + retrySameKey,
		Annotations: &mcp.ToolAnnotations{IdempotentHint: true, DestructiveHint: ptr(false)}}, t.transfer)
	addCommerceTools(s, t)
	addControlTools(s, t)
	return s
}

func ptr[T any](v T) *T { return &v }

// What every tool that moves or shows money says, so that a model never sends 12.50 for 1250 cents, and never
// retries a write under a new key.
const (
	minorUnits   = "Amounts are integers in minor units (cents for USD: 1250 is 12.50), never decimals."
	retrySameKey = "A retry (after an error, a timeout, or when unsure whether it happened) must reuse the same " +
		"idempotency_key: the write then happens at most once. Omit idempotency_key only for a new request."
)

// tokenFor returns the bearer token of the agent behind req: the Authorization header of the HTTP request that
// carried the call (streamable HTTP), or the token configured for the stdio process. An HTTP call without its own
// token is refused rather than served with someone else's.
func (t *tools) tokenFor(req *mcp.CallToolRequest) (string, error) {
	if req != nil && req.Extra != nil && req.Extra.Header != nil {
		scheme, tok, ok := strings.Cut(req.Extra.Header.Get("Authorization"), " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(tok) == "" {
			return "", errors.New("no bearer token: send your own wallet-api token in the Authorization header " +
				"(Authorization: Bearer <token>) of your MCP requests")
		}
		return strings.TrimSpace(tok), nil
	}
	if t.stdioToken == "" {
		return "", errors.New("no bearer token: start wallet-mcp with WALLET_TOKEN set to your wallet-api token")
	}
	return t.stdioToken, nil
}

func (t *tools) as(req *mcp.CallToolRequest) (*client.Client, error) {
	tok, err := t.tokenFor(req)
	if err != nil {
		return nil, err
	}
	return t.api.WithToken(tok), nil
}

// WalletInput names a wallet.
type WalletInput struct {
	WalletID string `json:"wallet_id" jsonschema:"the wallet's UUID"`
}

// TransactionInput names a transaction.
type TransactionInput struct {
	TransactionID string `json:"transaction_id" jsonschema:"the transaction's UUID"`
}

// TransferInput is a transfer the model asks for.
type TransferInput struct {
	FromWalletID   string `json:"from_wallet_id" jsonschema:"UUID of the wallet to debit; it must be yours"`
	ToWalletID     string `json:"to_wallet_id" jsonschema:"UUID of the wallet to credit"`
	Amount         int64  `json:"amount" jsonschema:"amount in minor units (cents for USD), at least 1"`
	Asset          string `json:"asset" jsonschema:"asset code of both wallets, such as USD"`
	Description    string `json:"description,omitempty" jsonschema:"optional note stored with the transaction"`
	MandateID      string `json:"mandate_id,omitempty" jsonschema:"when spending another's wallet: the mandate to spend under, if you hold several on it"`
	IdempotencyKey string `json:"idempotency_key,omitempty" jsonschema:"omit on the first try; to retry, pass the idempotency_key a previous call returned so the transfer happens at most once"`
}

// TransferOutput is what a transfer did.
type TransferOutput struct {
	Transaction    TransactionOutput `json:"transaction"`
	IdempotencyKey string            `json:"idempotency_key" jsonschema:"the key this transfer was made under; reuse it to retry"`
	Replayed       bool              `json:"replayed" jsonschema:"true when this key had already made the transfer: nothing new moved"`
}

func (t *tools) getBalance(ctx context.Context, req *mcp.CallToolRequest, in WalletInput) (*mcp.CallToolResult, BalanceOutput, error) {
	c, err := t.as(req)
	if err != nil {
		return nil, BalanceOutput{}, err
	}
	b, _, err := c.GetBalance(ctx, in.WalletID)
	if err != nil {
		return nil, BalanceOutput{}, explain("get_balance", err, "")
	}
	return nil, balanceOutput(b), nil
}

func (t *tools) getWallet(ctx context.Context, req *mcp.CallToolRequest, in WalletInput) (*mcp.CallToolResult, WalletOutput, error) {
	c, err := t.as(req)
	if err != nil {
		return nil, WalletOutput{}, err
	}
	w, _, err := c.GetWallet(ctx, in.WalletID)
	if err != nil {
		return nil, WalletOutput{}, explain("get_wallet", err, "")
	}
	return nil, walletOutput(w), nil
}

func (t *tools) getTransaction(ctx context.Context, req *mcp.CallToolRequest, in TransactionInput) (*mcp.CallToolResult, TransactionOutput, error) {
	c, err := t.as(req)
	if err != nil {
		return nil, TransactionOutput{}, err
	}
	tx, _, err := c.GetTransaction(ctx, in.TransactionID)
	if err != nil {
		return nil, TransactionOutput{}, explain("get_transaction", err, "")
	}
	return nil, transactionOutput(tx), nil
}

func (t *tools) transfer(ctx context.Context, req *mcp.CallToolRequest, in TransferInput) (*mcp.CallToolResult, TransferOutput, error) {
	c, err := t.as(req)
	if err != nil {
		return nil, TransferOutput{}, err
	}
	var opts []client.CallOption
	if in.IdempotencyKey != "" {
		opts = append(opts, client.WithIdempotencyKey(in.IdempotencyKey))
	}
	tx, resp, err := c.Transfer(ctx, client.TransferRequest{FromWalletID: in.FromWalletID, ToWalletID: in.ToWalletID,
		Amount: in.Amount, Asset: in.Asset, Description: in.Description, MandateID: in.MandateID}, opts...)
	if err != nil {
		return nil, TransferOutput{}, explain("transfer", err, resp.IdempotencyKey)
	}
	return nil, TransferOutput{Transaction: transactionOutput(tx), IdempotencyKey: resp.IdempotencyKey, Replayed: resp.Replayed}, nil
}

// hints tell a model what to do about a refusal, by problem code.
var hints = map[string]string{
	"insufficient_funds":      "Nothing was moved. Check available funds with get_balance and ask for at most that amount, or ask the owner to add funds.",
	"wallet_not_found":        "The wallet does not exist or is not yours. Check the wallet_id; you can only spend from your own wallets.",
	"transaction_not_found":   "The transaction does not exist or involves none of your wallets. Check the transaction_id.",
	"asset_mismatch":          "Both wallets must hold the asset you name. Check each wallet's asset with get_wallet.",
	"same_wallet":             "from_wallet_id and to_wallet_id must differ.",
	"validation_error":        "Fix the fields listed and call again (with a new request, no idempotency_key needed).",
	"invalid_id":              "IDs are UUIDs such as 3f2c1a9e-8b7d-4c6e-9f01-23456789abcd.",
	"idempotency_key_reuse":   "This idempotency_key was already used for a different request. Omit idempotency_key (a new one is generated) for a new request.",
	"idempotency_key_in_use":  "The first call with this idempotency_key is still running. Wait a moment and retry with the same idempotency_key.",
	"unauthorized":            "Your token is missing, invalid or expired. Get a new wallet-api token from your operator.",
	"insufficient_scope":      "Your token lacks the scope this needs (wallet:read to read, wallet:write to move money).",
	"forbidden":               "You are not allowed to do this. Acting for your principal you may spend under your mandate, release your own holds, suspend or revoke your mandate and freeze; granting, resuming, unfreezing, refunding and adjusting are your principal's.",
	"mandate_limit_exceeded":  "This would exceed a limit your mandate grants (an amount per transaction or per period, or a number of spends). Ask for a smaller amount, wait for the next period, or ask the wallet owner to raise the limit.",
	"mandate_inactive":        "Your mandate for this wallet is suspended, revoked, used up (single use) or expired. Check it with get_mandate, and ask the wallet owner to resume it or grant a new one.",
	"wallet_frozen":           "The wallet is frozen: no money may leave it. Only its owner (or an admin) can unfreeze it; do not retry until they have.",
	"destination_not_allowed": "Your mandate does not allow paying this destination. Ask the wallet owner to allow it.",
	"service_unavailable":     "The ledger is temporarily unavailable and nothing was committed. Retry in a few seconds with the SAME idempotency_key.",
	"rate_limited":            "Too many requests: nothing was done. Wait the seconds given, then retry with the SAME idempotency_key; do not loop faster.",
	"invalid_query":           "A list parameter is wrong (limit is 1 to 200; pass next_cursor back unchanged, with the same filters).",
}

// explain turns a failed call into a message a model can act on: what happened, what to do, and the key to retry
// with when a retry is safe.
func explain(tool string, err error, key string) error {
	var apiErr *client.Error
	var netErr *client.NetworkError
	switch {
	case errors.As(err, &apiErr):
		msg := fmt.Sprintf("%s failed: %s (HTTP %d)", tool, apiErr.Code, apiErr.StatusCode)
		if apiErr.Detail != "" {
			msg += ": " + apiErr.Detail
		}
		for _, f := range apiErr.Errors {
			msg += fmt.Sprintf("\n- %s %s", f.Field, f.Message)
		}
		if h := hints[apiErr.Code]; h != "" {
			msg += "\n" + h
		}
		if apiErr.RetryAfter > 0 {
			msg += fmt.Sprintf("\nRetry after %s.", apiErr.RetryAfter)
		}
		if apiErr.RequestID != "" {
			msg += "\nrequest_id: " + apiErr.RequestID + " (quote it to the operator)"
		}
		if key != "" {
			if apiErr.Retryable() {
				msg += fmt.Sprintf("\nidempotency_key: %s (retry with it: the write happens at most once)", key)
			} else {
				msg += fmt.Sprintf("\nidempotency_key: %s (retrying with it returns this same answer)", key)
			}
		}
		return errors.New(msg)
	case errors.As(err, &netErr):
		msg := fmt.Sprintf("%s failed: the wallet-api did not answer (%v).", tool, netErr.Err)
		if key != "" {
			msg += fmt.Sprintf(" It is unknown whether the write happened: retry with idempotency_key %s, which makes it happen at most once.", key)
		}
		return errors.New(msg)
	case errors.Is(err, client.ErrInvalidIdempotencyKey):
		return explainInput(tool, "idempotency_key must be 1 to 255 printable ASCII characters; omit it to get a fresh one")
	default:
		return fmt.Errorf("%s failed: %w", tool, err)
	}
}

// bearerFromHeader is used by the HTTP transport: an MCP HTTP request without exactly one well-formed bearer
// token ("Bearer" and one token, nothing else) is refused at the door.
func bearerFromHeader(h http.Header) bool {
	fields := strings.Fields(h.Get("Authorization"))
	return len(h.Values("Authorization")) == 1 && len(fields) == 2 && strings.EqualFold(fields[0], "Bearer")
}

// explainInput is a refusal found before calling the wallet-api.
func explainInput(tool, msg string) error {
	return errors.New(tool + " failed: " + msg + ". Nothing was sent; fix it and call again.")
}
