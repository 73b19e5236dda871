package command

import (
	"context"

	"github.com/google/uuid"

	"github.com/agentic-commerce/wallet-ledger/internal/auth"
)

// VoidHoldRequest is the (optional, empty) body of POST /v1/holds/{id}/void.
type VoidHoldRequest struct{}

// voidHold plans releasing everything an active hold reserves. A hold already past its expiry is released as
// expired, exactly as the sweeper would.
func (c *Commands) voidHold(ctx context.Context, caller auth.Caller, id uuid.UUID) (plan, error) {
	return c.releaseOf(ctx, caller, id, nil, false)
}
