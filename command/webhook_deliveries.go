package command

import (
	"context"

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

// validateResend takes the endpoint and the delivery from the path; the body is {}.
func validateResend(in call, _ EmptyWebhookRequest) (ResendWebhookDelivery, error) {
	return ResendWebhookDelivery{EndpointID: in.ids["id"], DeliveryID: in.ids["delivery_id"]}, nil
}

type resendDeliveryPlan struct {
	caller     auth.Caller
	cmd        ResendWebhookDelivery
	endpoints  []webhook.Endpoint
	deliveries []webhook.Delivery
}

// resendWebhookDelivery plans sending a delivery again, whatever its status, with a fresh retry schedule: at once
// if its endpoint is enabled, else when it is enabled again.
func (c *Commands) resendWebhookDelivery(_ context.Context, caller auth.Caller, cmd ResendWebhookDelivery) (plan, error) {
	return &resendDeliveryPlan{caller: caller, cmd: cmd}, nil
}

func (p *resendDeliveryPlan) alone() {}

func (p *resendDeliveryPlan) need(n *needs) {
	n.query(func(b *pgx.Batch) {
		webhook.QueueLockEndpoint(b, p.cmd.EndpointID, &p.endpoints)
		webhook.QueueLockDelivery(b, p.cmd.EndpointID, p.cmd.DeliveryID, &p.deliveries)
	})
}

func (p *resendDeliveryPlan) decide(d *decision) (Result, error) {
	if _, err := visibleEndpoint(p.caller, p.cmd.EndpointID, p.endpoints); err != nil {
		return Result{}, err
	}
	if len(p.deliveries) != 1 {
		return Result{}, webhook.DeliveryNotFound(p.cmd.DeliveryID)
	}
	now := d.now
	del := p.deliveries[0]
	d.queue(func(b *pgx.Batch) { webhook.QueueResend(b, del.ID, now) })
	del.Status, del.NextAttemptAt, del.DeliveredAt = webhook.DeliveryPending, &now, nil
	return Result{Body: del.View(), ID: del.ID}, nil
}
