package command

import (
	"context"
	"net/http"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/agentic-commerce/wallet-ledger/internal/auth"
	"github.com/agentic-commerce/wallet-ledger/webhook"
)

// ResendWebhookDelivery is a validated request to send a delivery again.
type ResendWebhookDelivery struct {
	EndpointID uuid.UUID
	DeliveryID uuid.UUID
}

type resendDeliveryPlan struct {
	c          *Commands
	caller     auth.Caller
	cmd        ResendWebhookDelivery
	endpoints  []webhook.Endpoint
	deliveries []webhook.Delivery
}

func (p *resendDeliveryPlan) read(b *pgx.Batch) {
	webhook.QueueLockEndpoint(b, p.cmd.EndpointID, &p.endpoints)
	webhook.QueueLockDelivery(b, p.cmd.EndpointID, p.cmd.DeliveryID, &p.deliveries)
}

func (p *resendDeliveryPlan) decide(b *pgx.Batch) (int, any, string, error) {
	if _, err := visibleEndpoint(p.caller, p.cmd.EndpointID, p.endpoints); err != nil {
		return 0, nil, "", err
	}
	if len(p.deliveries) != 1 {
		return 0, nil, "", webhook.DeliveryNotFound(p.cmd.DeliveryID)
	}
	now := p.c.now()
	d := p.deliveries[0]
	webhook.QueueResend(b, d.ID, now)
	d.Status, d.NextAttemptAt, d.DeliveredAt = webhook.DeliveryPending, &now, nil
	return http.StatusOK, d.View(), "", nil
}

// ResendWebhookDelivery sends a delivery again under idem, whatever its status, with a fresh retry schedule: at
// once if its endpoint is enabled, else when it is enabled again.
func (c *Commands) ResendWebhookDelivery(ctx context.Context, caller auth.Caller, idem Idempotency, cmd ResendWebhookDelivery) (Outcome, error) {
	return c.execute(ctx, idem, "/v1/webhook_endpoints/"+cmd.EndpointID.String()+"/deliveries/"+cmd.DeliveryID.String()+"/retry",
		&resendDeliveryPlan{c: c, caller: caller, cmd: cmd})
}
