package command

import (
	"context"

	"github.com/google/uuid"

	"github.com/agentic-commerce/wallet-ledger/eventstore"
	"github.com/agentic-commerce/wallet-ledger/internal/auth"
	"github.com/agentic-commerce/wallet-ledger/internal/telemetry"
)

// VoidHoldRequest is the (optional, empty) body of POST /v1/holds/{id}/void.
type VoidHoldRequest struct{}

// VoidHold releases everything an active hold reserves, under idem. A hold already past its expiry is released
// as expired, exactly as the sweeper would.
func (c *Commands) VoidHold(ctx context.Context, caller auth.Caller, idem Idempotency, id uuid.UUID) (Outcome, error) {
	p := &releasePlan{c: c, caller: caller, idem: idem}
	if err := p.preRead(ctx, id); err != nil {
		return Outcome{}, err
	}
	out, err := c.execute(ctx, idem, "/v1/holds/"+id.String()+"/void", p)
	if err == nil && !out.Replayed && !out.Problem {
		telemetry.RecordCommit(ctx, eventstore.KindVoid)
	}
	return out, err
}
