package command

import (
	"context"

	"github.com/google/uuid"

	"github.com/agentic-commerce/wallet-ledger/internal/auth"
)

// CaptureHoldRequest is the body of POST /v1/holds/{id}/capture; an empty body captures everything into the
// hold's destination.
type CaptureHoldRequest struct {
	Amount     *int64 `json:"amount"`
	ToWalletID string `json:"to_wallet_id"`
}

// CaptureHold is a validated capture: one capture per hold, of up to the held amount; the rest is released.
type CaptureHold struct {
	HoldID     uuid.UUID
	Amount     *int64 // nil: the whole held amount
	ToWalletID *uuid.UUID
}

// ValidateCaptureHold checks the request's fields.
func ValidateCaptureHold(id uuid.UUID, req CaptureHoldRequest) (CaptureHold, error) {
	var f fields
	c := CaptureHold{HoldID: id}
	if req.Amount != nil {
		amount := f.positiveAmount("amount", req.Amount)
		c.Amount = &amount
	}
	if req.ToWalletID != "" {
		to := f.walletID("to_wallet_id", req.ToWalletID)
		c.ToWalletID = &to
	}
	return c, f.err()
}

// captureHold plans a capture: up to the held amount moves to the destination, the rest is released.
func (c *Commands) captureHold(ctx context.Context, caller auth.Caller, cmd CaptureHold) (plan, error) {
	return c.releaseOf(ctx, caller, cmd.HoldID, &cmd, false)
}
