package command

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentic-commerce/wallet-ledger/eventstore"
	"github.com/agentic-commerce/wallet-ledger/internal/auth"
	"github.com/agentic-commerce/wallet-ledger/webhook"
)

// Sending a webhook delivery again (POST /v1/webhook_endpoints/{id}/deliveries/{delivery_id}/retry), in process.

// deliveries records the outbox's events in the events feed and makes their deliveries, as the relay's fan-out
// does, and returns each endpoint's deliveries, oldest event first.
func (l *ledger) deliveries() map[uuid.UUID][]uuid.UUID {
	l.t.Helper()
	ctx := context.Background()
	rows, err := l.pool.Query(ctx, `SELECT payload::text FROM outbox_events ORDER BY "offset"`)
	require.NoError(l.t, err)
	var events []eventstore.FeedEvent
	var ids []uuid.UUID
	for rows.Next() {
		var payload string
		require.NoError(l.t, rows.Scan(&payload))
		e, err := eventstore.ParseFeedEvent([]byte(payload))
		require.NoError(l.t, err)
		events, ids = append(events, e), append(ids, e.ID)
	}
	rows.Close()
	require.NoError(l.t, rows.Err())
	require.NoError(l.t, pgx.BeginFunc(ctx, l.pool, func(tx pgx.Tx) error {
		b := &pgx.Batch{}
		eventstore.QueueRecordFeedEvents(b, events)
		var created int64
		webhook.QueueCreateDeliveries(b, ids, l.c.now(), &created)
		return tx.SendBatch(ctx, b).Close()
	}))
	out := map[uuid.UUID][]uuid.UUID{}
	rows, err = l.pool.Query(ctx, `SELECT endpoint_id, delivery_id FROM webhook_deliveries ORDER BY event_seq`)
	require.NoError(l.t, err)
	defer rows.Close()
	for rows.Next() {
		var endpoint, delivery uuid.UUID
		require.NoError(l.t, rows.Scan(&endpoint, &delivery))
		out[endpoint] = append(out[endpoint], delivery)
	}
	require.NoError(l.t, rows.Err())
	return out
}

func (l *ledger) resend(caller auth.Caller, key Idempotency, endpoint, delivery uuid.UUID) (Outcome, error) {
	return serve(l.c.ResendWebhookDelivery, caller, key, map[string]uuid.UUID{"id": endpoint, "delivery_id": delivery}, EmptyWebhookRequest{})
}

func (l *ledger) delivery(endpoint, id uuid.UUID) webhook.Delivery {
	l.t.Helper()
	d, err := webhook.GetDelivery(context.Background(), l.pool, endpoint, id)
	require.NoError(l.t, err)
	return d
}

// A failed or delivered delivery is sent again from now, on a fresh retry schedule; its history is kept.
func TestResendWebhookDelivery(t *testing.T) {
	l := newLedger(t)
	clk := l.setClock()
	l.withWebhooks(testWebhookKey)
	endpoint, _ := l.endpoint(alice)
	wallet := l.wallet(alice, "USD")
	l.fund(wallet, "USD", 5)
	mine := l.deliveries()[endpoint]
	require.Len(t, mine, 2, "wallet.created and the funding's transaction.committed")
	failed, delivered := mine[0], mine[1]
	// As the relay leaves them: one that ran out of retries, one delivered.
	_, err := l.pool.Exec(context.Background(), `UPDATE webhook_deliveries SET status = 'failed', next_attempt_at = NULL,
		attempts = 6, schedule_attempts = 6, last_attempt_at = $2, last_status_code = 500, last_error = 'HTTP 500'
		WHERE delivery_id = $1`, failed, epoch.Add(time.Minute))
	require.NoError(t, err)
	_, err = l.pool.Exec(context.Background(), `UPDATE webhook_deliveries SET status = 'delivered', next_attempt_at = NULL,
		attempts = 1, last_status_code = 204, delivered_at = $2 WHERE delivery_id = $1`, delivered, epoch.Add(time.Minute))
	require.NoError(t, err)

	clk.advance(time.Hour)
	key := idem(alice)
	out, err := l.resend(alice, key, endpoint, failed)
	body := bodyOf(t)(out, err)
	assert.Equal(t, http.StatusOK, out.Status)
	assert.Empty(t, out.Location)
	d := l.delivery(endpoint, failed)
	assert.Equal(t, map[string]any{
		"delivery_id": failed.String(), "endpoint_id": endpoint.String(), "event_id": d.EventID.String(),
		"event_type": "wallet.created", "status": "pending", "attempts": 6.0, "last_status_code": 500.0,
		"last_error": "HTTP 500", "last_attempt_at": "2031-03-04T10:01:00Z", "next_attempt_at": "2031-03-04T11:00:00Z",
		"delivered_at": nil, "created_at": "2031-03-04T10:00:00Z",
	}, body)
	assert.Equal(t, webhook.DeliveryPending, d.Status)
	assert.Equal(t, 6, d.Attempts, "its history is kept")
	assert.Zero(t, d.ScheduleAttempts, "a fresh retry schedule")
	assert.True(t, d.ScheduleStartedAt.Equal(clk.now()))
	require.NotNil(t, d.NextAttemptAt)
	assert.True(t, d.NextAttemptAt.Equal(clk.now()), "due at once")

	before := l.state()
	replayOf(t, out)(l.resend(alice, key, endpoint, failed))
	assert.Equal(t, "idempotency_key_reuse", codeOf(t)(l.resend(alice, reused(key), endpoint, delivered)))
	l.unchanged(before)

	again := bodyOf(t)(l.resend(admin, idem(admin), endpoint, delivered))
	assert.Equal(t, "pending", again["status"])
	assert.Nil(t, again["delivered_at"])
	d = l.delivery(endpoint, delivered)
	assert.Equal(t, webhook.DeliveryPending, d.Status)
	assert.Nil(t, d.DeliveredAt)
}

// A delivery is found only under its own endpoint, and an endpoint only by its owner or an admin; a disabled
// endpoint's delivery waits, pending, until it is enabled.
func TestResendWebhookDeliveryRefusals(t *testing.T) {
	l := newLedger(t)
	l.withWebhooks(testWebhookKey)
	alices, _ := l.endpoint(alice)
	bobs, _ := l.endpoint(bob)
	gone, _ := l.endpoint(alice)
	l.wallet(alice, "USD")
	l.wallet(bob, "USD")
	all := l.deliveries()
	require.Len(t, all[alices], 1)
	require.Len(t, all[bobs], 1)
	mine, his := all[alices][0], all[bobs][0]
	require.NoError(t, l.c.DeleteWebhookEndpoint(context.Background(), alice, gone))
	deleted := all[gone][0]

	before := l.state()
	for name, c := range map[string]struct {
		caller             auth.Caller
		endpoint, delivery uuid.UUID
		code               string
	}{
		"another endpoint's delivery": {alice, alices, his, "webhook_delivery_not_found"},
		"a missing delivery":          {alice, alices, uuid.New(), "webhook_delivery_not_found"},
		"another owner's endpoint":    {bob, alices, mine, webhook.CodeEndpointNotFound},
		"a deleted endpoint":          {alice, gone, deleted, webhook.CodeEndpointNotFound},
		"a missing endpoint":          {alice, uuid.New(), mine, webhook.CodeEndpointNotFound},
	} {
		key := idem(c.caller)
		out, err := l.resend(c.caller, key, c.endpoint, c.delivery)
		assert.Equal(t, c.code, codeOf(t)(out, err), name)
		assert.Equal(t, http.StatusNotFound, out.Status, name)
		replayOf(t, out)(l.resend(c.caller, key, c.endpoint, c.delivery))
	}
	assert.Equal(t, "forbidden", codeOf(t)(l.resend(shopperForAlice, idem(shopperForAlice), alices, mine)))
	l.unchanged(before)

	bodyOf(t)(l.endpointAction(l.c.DisableWebhookEndpoint, alice, idem(alice), alices))
	assert.Equal(t, "pending", bodyOf(t)(l.resend(alice, idem(alice), alices, mine))["status"])
	assert.Equal(t, webhook.StatusDisabled, l.endpointRow(alices).Status, "resending does not enable the endpoint")
}
