package command

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentic-commerce/wallet-ledger/eventstore"
	"github.com/agentic-commerce/wallet-ledger/internal/auth"
	"github.com/agentic-commerce/wallet-ledger/webhook"
)

// Webhook endpoints (POST /v1/webhook_endpoints, .../disable, .../enable, .../rotate_secret, DELETE), in process.

// WEBHOOK_SECRET_KEY of these tests: two fixed keys, the base64 of 32 bytes each.
const (
	testWebhookKey  = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="
	otherWebhookKey = "ZmVkY2JhOTg3NjU0MzIxMGZlZGNiYTk4NzY1NDMyMTA="
)

// hookURL is a public address: the strict URL policy accepts it without resolving anything, and nothing is sent.
const hookURL = "https://93.184.215.14/hooks"

// withWebhooks gives the write side WEBHOOK_SECRET_KEY=key as the server reads it, and returns its keyring.
func (l *ledger) withWebhooks(key string) *webhook.Keyring {
	l.t.Helper()
	s, err := webhook.LoadSettings(func(name string) string {
		if name == "WEBHOOK_SECRET_KEY" {
			return key
		}
		return ""
	})
	require.NoError(l.t, err)
	l.c.SetWebhooks(s)
	return s.Keyring
}

func (l *ledger) createEndpoint(caller auth.Caller, key Idempotency, req CreateWebhookEndpointRequest) (Outcome, error) {
	return serve(l.c.CreateWebhookEndpoint, caller, key, nil, req)
}

// endpoint creates caller's endpoint for every event type and returns its ID and secret.
func (l *ledger) endpoint(caller auth.Caller) (uuid.UUID, string) {
	l.t.Helper()
	body := bodyOf(l.t)(l.createEndpoint(caller, idem(caller), CreateWebhookEndpointRequest{URL: hookURL}))
	return idOf(l.t, body, "endpoint_id"), body["secret"].(string)
}

// endpointRow reads an endpoint as stored, deleted or not.
func (l *ledger) endpointRow(id uuid.UUID) webhook.Endpoint {
	l.t.Helper()
	e, err := webhook.LockEndpoint(context.Background(), l.pool, id)
	require.NoError(l.t, err)
	return e
}

// opened opens a sealed endpoint secret with k.
func opened(t *testing.T, k *webhook.Keyring, id uuid.UUID, sealed []byte) string {
	t.Helper()
	secret, err := k.Open(sealed, webhook.SecretContext(id.String()))
	require.NoError(t, err)
	return string(secret)
}

// endpointAction runs disable, enable or rotate_secret on endpoint id.
func (l *ledger) endpointAction(u *UseCase[EmptyWebhookRequest, uuid.UUID], caller auth.Caller, key Idempotency, id uuid.UUID) (Outcome, error) {
	return serve(u, caller, key, at(id), EmptyWebhookRequest{})
}

// An endpoint's secret is shown in its creation's answer (and replays of it) and stored only sealed: in its row
// and in the answer kept under the Idempotency-Key.
func TestCreateWebhookEndpoint(t *testing.T) {
	l := newLedger(t)
	l.setClock()
	keyring := l.withWebhooks(testWebhookKey)
	key := idem(alice)
	req := CreateWebhookEndpointRequest{URL: hookURL, Description: ptr("orders"),
		EventTypes: []string{eventstore.EventTransactionCommitted, eventstore.EventHoldCreated, eventstore.EventTransactionCommitted}}
	out, err := l.createEndpoint(alice, key, req)
	body := bodyOf(t)(out, err)
	id := idOf(t, body, "endpoint_id")
	secret, _ := body["secret"].(string)
	assert.Equal(t, http.StatusCreated, out.Status)
	assert.Equal(t, "/v1/webhook_endpoints/"+id.String(), out.Location)
	assert.True(t, strings.HasPrefix(secret, webhook.SecretPrefix), secret)
	assert.Len(t, secret, len(webhook.SecretPrefix)+44, "whsec_ and the base64 of 32 bytes")
	assert.Equal(t, map[string]any{
		"endpoint_id": id.String(), "owner": "alice", "url": hookURL, "description": "orders", "status": "enabled",
		"event_types": []any{"hold.created", "transaction.committed"}, "all_events": false, "secret": secret,
		"created_at": "2031-03-04T10:00:00Z", "updated_at": "2031-03-04T10:00:00Z",
	}, body, "the event types sorted, each once")

	e := l.endpointRow(id)
	assert.Equal(t, "alice", e.Owner)
	assert.Equal(t, webhook.StatusEnabled, e.Status)
	assert.Equal(t, []string{"hold.created", "transaction.committed"}, e.EventTypes)
	assert.False(t, e.AllEvents)
	assert.NotContains(t, string(e.Secret), secret)
	assert.Equal(t, secret, opened(t, keyring, id, e.Secret), "the row holds the answer's secret, sealed")
	assert.Nil(t, e.PreviousSecret)
	var stored string
	require.NoError(t, l.pool.QueryRow(context.Background(), `SELECT convert_from(response_body, 'UTF8') FROM idempotency_keys
		WHERE sub = 'alice' AND idempotency_key = $1`, key.Key).Scan(&stored))
	assert.NotContains(t, stored, secret)
	assert.Contains(t, stored, `"secret":"`+sealedPrefix)
	var events int
	require.NoError(t, l.pool.QueryRow(context.Background(), `SELECT count(*) FROM outbox_events`).Scan(&events))
	assert.Zero(t, events, "managing endpoints is not a ledger event")

	before := l.state()
	replayOf(t, out)(l.createEndpoint(alice, key, req))
	assert.Equal(t, "idempotency_key_reuse", codeOf(t)(l.createEndpoint(alice, reused(key), CreateWebhookEndpointRequest{URL: hookURL})))
	l.unchanged(before)

	// Replayed under another WEBHOOK_SECRET_KEY, the stored secret cannot be opened: 503, never a wrong secret.
	l.withWebhooks(otherWebhookKey)
	assert.Equal(t, "webhooks_not_configured", codeOf(t)(l.createEndpoint(alice, key, req)))
	l.unchanged(before)
}

// An admin's endpoint receives every event; an agent acting for its principal manages no endpoint.
func TestCreateWebhookEndpointWho(t *testing.T) {
	l := newLedger(t)
	l.withWebhooks(testWebhookKey)
	id, _ := l.endpoint(admin)
	assert.True(t, l.endpointRow(id).AllEvents)
	assert.Equal(t, "treasury", l.endpointRow(id).Owner)
	before := l.state()
	assert.Equal(t, "forbidden", codeOf(t)(l.createEndpoint(shopperForAlice, idem(shopperForAlice), CreateWebhookEndpointRequest{URL: hookURL})))
	for name, u := range map[string]*UseCase[EmptyWebhookRequest, uuid.UUID]{"disable": l.c.DisableWebhookEndpoint,
		"enable": l.c.EnableWebhookEndpoint, "rotate": l.c.RotateWebhookSecret} {
		assert.Equal(t, "forbidden", codeOf(t)(l.endpointAction(u, shopperWithAdmin, idem(shopperWithAdmin), id)), name)
	}
	l.unchanged(before)
}

// Without WEBHOOK_SECRET_KEY, and for a URL the policy refuses after looking at its address, nothing is stored
// and the key is not taken: these are not final answers.
func TestCreateWebhookEndpointRefusedBeforeTheKey(t *testing.T) {
	l := newLedger(t)
	key := idem(alice)
	before := l.state()
	assert.Equal(t, "webhooks_not_configured", codeOf(t)(l.createEndpoint(alice, key, CreateWebhookEndpointRequest{URL: hookURL})))
	l.withWebhooks(testWebhookKey)
	for _, u := range []string{"https://127.0.0.1/hooks", "https://10.1.2.3/hooks", "https://169.254.169.254/latest", "https://[::1]/x"} {
		assert.Equal(t, webhook.CodeURLNotAllowed, codeOf(t)(l.createEndpoint(alice, key, CreateWebhookEndpointRequest{URL: u})), u)
	}
	for _, u := range []string{"http://93.184.215.14/hooks", "ftp://93.184.215.14/", "https://user:pw@93.184.215.14/", "https://93.184.215.14/#f", "/hooks"} {
		assert.Equal(t, webhook.CodeURLNotAllowed, codeOf(t)(l.createEndpoint(alice, key, CreateWebhookEndpointRequest{URL: u})), u)
	}
	assert.Equal(t, []string{"url"}, invalidFields(t)(l.createEndpoint(alice, key, CreateWebhookEndpointRequest{})))
	assert.Equal(t, []string{"event_types"}, invalidFields(t)(l.createEndpoint(alice, key,
		CreateWebhookEndpointRequest{URL: hookURL, EventTypes: []string{"wallet.deleted"}})))
	l.unchanged(before)
	out, err := l.createEndpoint(alice, key, CreateWebhookEndpointRequest{URL: hookURL})
	bodyOf(t)(out, err)
	assert.False(t, out.Replayed, "the key was free")
}

// An owner keeps at most MaxWebhookEndpoints; a deleted one does not count. The refusal is stored under its key.
func TestCreateWebhookEndpointLimit(t *testing.T) {
	l := newLedger(t)
	l.withWebhooks(testWebhookKey)
	var first uuid.UUID
	for i := range MaxWebhookEndpoints {
		id, _ := l.endpoint(alice)
		if i == 0 {
			first = id
		}
	}
	l.endpoint(bob)
	before := l.state()
	key := idem(alice)
	req := CreateWebhookEndpointRequest{URL: hookURL}
	out, err := l.createEndpoint(alice, key, req)
	assert.Equal(t, "webhook_endpoint_limit", codeOf(t)(out, err))
	assert.Equal(t, http.StatusUnprocessableEntity, out.Status)
	replayOf(t, out)(l.createEndpoint(alice, key, req))
	l.unchanged(before)

	require.NoError(t, l.c.DeleteWebhookEndpoint(context.Background(), alice, first))
	l.endpoint(alice)
	var live int
	require.NoError(t, l.pool.QueryRow(context.Background(), `SELECT count(*) FROM webhook_endpoints
		WHERE owner = 'alice' AND status <> 'deleted'`).Scan(&live))
	assert.Equal(t, MaxWebhookEndpoints, live)
}

// Disabling and enabling change the status only when it differs; enabling forgets the endpoint's failures.
func TestDisableAndEnableWebhookEndpoint(t *testing.T) {
	l := newLedger(t)
	clk := l.setClock()
	l.withWebhooks(testWebhookKey)
	id, _ := l.endpoint(alice)
	clk.advance(time.Minute)
	key := idem(alice)
	out, err := l.endpointAction(l.c.DisableWebhookEndpoint, alice, key, id)
	body := bodyOf(t)(out, err)
	assert.Equal(t, http.StatusOK, out.Status)
	assert.Empty(t, out.Location)
	assert.Equal(t, "disabled", body["status"])
	assert.Equal(t, "requested", body["disabled_reason"])
	assert.Equal(t, "2031-03-04T10:01:00Z", body["updated_at"])
	assert.NotContains(t, body, "secret", "shown once, at creation")
	e := l.endpointRow(id)
	assert.Equal(t, webhook.StatusDisabled, e.Status)
	assert.Equal(t, webhook.ReasonRequested, e.DisabledReason)

	before := l.state()
	replayOf(t, out)(l.endpointAction(l.c.DisableWebhookEndpoint, alice, key, id))
	assert.Equal(t, "idempotency_key_reuse", codeOf(t)(l.endpointAction(l.c.EnableWebhookEndpoint, alice, reused(key), id)))
	clk.advance(time.Minute)
	again := bodyOf(t)(l.endpointAction(l.c.DisableWebhookEndpoint, alice, idem(alice), id))
	assert.Equal(t, "2031-03-04T10:01:00Z", again["updated_at"], "already disabled: nothing changes")
	l.unchanged(before)

	// As the relay leaves an endpoint that kept failing.
	_, err = l.pool.Exec(context.Background(), `UPDATE webhook_endpoints SET disabled_reason = 'failing', failing_since = $2
		WHERE endpoint_id = $1`, id, epoch)
	require.NoError(t, err)
	enabled := bodyOf(t)(l.endpointAction(l.c.EnableWebhookEndpoint, admin, idem(admin), id))
	assert.Equal(t, "enabled", enabled["status"])
	assert.NotContains(t, enabled, "disabled_reason")
	assert.NotContains(t, enabled, "failing_since")
	e = l.endpointRow(id)
	assert.Equal(t, webhook.StatusEnabled, e.Status)
	assert.Empty(t, e.DisabledReason)
	assert.Nil(t, e.FailingSince, "enabled, it gets a full WEBHOOK_DISABLE_AFTER again")
}

// Another owner's endpoint, a deleted one and a missing one all answer webhook_endpoint_not_found.
func TestWebhookEndpointNotFound(t *testing.T) {
	l := newLedger(t)
	l.withWebhooks(testWebhookKey)
	id, _ := l.endpoint(alice)
	deleted, _ := l.endpoint(alice)
	require.NoError(t, l.c.DeleteWebhookEndpoint(context.Background(), alice, deleted))
	before := l.state()
	for name, c := range map[string]struct {
		caller auth.Caller
		id     uuid.UUID
	}{"another owner's": {bob, id}, "a deleted one": {alice, deleted}, "a missing one": {alice, uuid.New()}} {
		for action, u := range map[string]*UseCase[EmptyWebhookRequest, uuid.UUID]{"disable": l.c.DisableWebhookEndpoint,
			"enable": l.c.EnableWebhookEndpoint, "rotate": l.c.RotateWebhookSecret} {
			key := idem(c.caller)
			out, err := l.endpointAction(u, c.caller, key, c.id)
			assert.Equal(t, webhook.CodeEndpointNotFound, codeOf(t)(out, err), "%s %s", action, name)
			replayOf(t, out)(l.endpointAction(u, c.caller, key, c.id))
		}
	}
	assert.ErrorIs(t, l.c.DeleteWebhookEndpoint(context.Background(), bob, id), webhook.ErrEndpointNotFound)
	assert.ErrorIs(t, l.c.DeleteWebhookEndpoint(context.Background(), alice, uuid.New()), webhook.ErrEndpointNotFound)
	l.unchanged(before)
}

// A rotation shows a new secret once; the old one keeps signing beside it for RotationOverlap, and a second
// rotation drops the oldest.
func TestRotateWebhookSecret(t *testing.T) {
	l := newLedger(t)
	clk := l.setClock()
	keyring := l.withWebhooks(testWebhookKey)
	id, original := l.endpoint(alice)
	clk.advance(time.Hour)
	key := idem(alice)
	out, err := l.endpointAction(l.c.RotateWebhookSecret, alice, key, id)
	body := bodyOf(t)(out, err)
	rotated, _ := body["secret"].(string)
	assert.Equal(t, http.StatusOK, out.Status)
	assert.True(t, strings.HasPrefix(rotated, webhook.SecretPrefix))
	assert.NotEqual(t, original, rotated)
	assert.Equal(t, "2031-03-05T11:00:00Z", body["previous_secret_expires_at"], "24h after the rotation")
	assert.Equal(t, "2031-03-04T11:00:00Z", body["updated_at"])
	e := l.endpointRow(id)
	assert.Equal(t, rotated, opened(t, keyring, id, e.Secret))
	assert.Equal(t, original, opened(t, keyring, id, e.PreviousSecret))
	require.NotNil(t, e.PreviousSecretExpiresAt)
	assert.True(t, e.PreviousSecretExpiresAt.Equal(epoch.Add(time.Hour+webhook.RotationOverlap)))
	signing, err := e.SigningSecrets(keyring, clk.now())
	require.NoError(t, err)
	assert.Equal(t, []string{rotated, original}, signing)

	before := l.state()
	replayOf(t, out)(l.endpointAction(l.c.RotateWebhookSecret, alice, key, id))
	assert.Equal(t, "idempotency_key_reuse", codeOf(t)(l.endpointAction(l.c.DisableWebhookEndpoint, alice, reused(key), id)))
	l.unchanged(before)

	third, _ := bodyOf(t)(l.endpointAction(l.c.RotateWebhookSecret, admin, idem(admin), id))["secret"].(string)
	e = l.endpointRow(id)
	assert.Equal(t, third, opened(t, keyring, id, e.Secret))
	assert.Equal(t, rotated, opened(t, keyring, id, e.PreviousSecret), "the original is gone")

	// Without WEBHOOK_SECRET_KEY no secret can be sealed: 503, nothing stored, the key left free.
	l.c.SetWebhooks(webhook.Settings{})
	before = l.state()
	key = idem(alice)
	assert.Equal(t, "webhooks_not_configured", codeOf(t)(l.endpointAction(l.c.RotateWebhookSecret, alice, key, id)))
	l.unchanged(before)
	l.withWebhooks(testWebhookKey)
	out, err = l.endpointAction(l.c.RotateWebhookSecret, alice, key, id)
	bodyOf(t)(out, err)
	assert.False(t, out.Replayed)
}

// Deleting needs no key and is idempotent: the endpoint becomes a tombstone without secrets, and its pending
// deliveries fail.
func TestDeleteWebhookEndpoint(t *testing.T) {
	l := newLedger(t)
	clk := l.setClock()
	l.withWebhooks(testWebhookKey)
	id, _ := l.endpoint(alice)
	l.wallet(alice, "USD")
	delivery := l.deliveries()[id][0]
	clk.advance(time.Minute)
	require.NoError(t, l.c.DeleteWebhookEndpoint(context.Background(), alice, id))
	e := l.endpointRow(id)
	assert.Equal(t, webhook.StatusDeleted, e.Status)
	assert.Nil(t, e.Secret)
	assert.Nil(t, e.PreviousSecret)
	assert.True(t, e.UpdatedAt.Equal(epoch.Add(time.Minute)))
	d, err := webhook.GetDelivery(context.Background(), l.pool, id, delivery)
	require.NoError(t, err)
	assert.Equal(t, webhook.DeliveryFailed, d.Status)
	assert.Nil(t, d.NextAttemptAt)
	assert.Equal(t, "endpoint deleted", d.LastError)

	before := l.state()
	require.NoError(t, l.c.DeleteWebhookEndpoint(context.Background(), alice, id), "deleting a deleted endpoint answers the same")
	assert.ErrorIs(t, l.c.DeleteWebhookEndpoint(context.Background(), bob, id), webhook.ErrEndpointNotFound)
	l.unchanged(before)

	byAdmin, _ := l.endpoint(bob)
	require.NoError(t, l.c.DeleteWebhookEndpoint(context.Background(), admin, byAdmin), "an admin deletes anyone's")
	assert.Equal(t, webhook.StatusDeleted, l.endpointRow(byAdmin).Status)
}
