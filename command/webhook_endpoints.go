package command

import (
	"context"
	"encoding/base64"
	"net/http"
	"net/url"
	"slices"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/agentic-commerce/wallet-ledger/eventstore"
	"github.com/agentic-commerce/wallet-ledger/internal/auth"
	"github.com/agentic-commerce/wallet-ledger/internal/httpapi"
	"github.com/agentic-commerce/wallet-ledger/webhook"
)

// MaxWebhookEndpoints bounds the endpoints one owner keeps (deleted ones do not count).
const MaxWebhookEndpoints = 20

// SetWebhooks gives the write side WEBHOOK_SECRET_KEY and the URL policy. Without a keyring, creating an endpoint
// or rotating its secret answers 503 webhooks_not_configured: nothing is stored unsealed.
func (c *Commands) SetWebhooks(s webhook.Settings) { c.webhooks = s }

// CreateWebhookEndpointRequest is the body of POST /v1/webhook_endpoints.
type CreateWebhookEndpointRequest struct {
	URL         string   `json:"url"`
	EventTypes  []string `json:"event_types"`
	Description *string  `json:"description"`
}

// CreateWebhookEndpoint is a validated request to add an endpoint.
type CreateWebhookEndpoint struct {
	URL         *url.URL
	EventTypes  []string // sorted, without repeats; empty for every type
	Description string
	Owner       string
	AllEvents   bool // an admin's endpoint receives every event
}

// ValidateCreateWebhookEndpoint checks the request's form; the URL's addresses are checked when it runs.
func (c *Commands) ValidateCreateWebhookEndpoint(caller auth.Caller, req CreateWebhookEndpointRequest) (CreateWebhookEndpoint, error) {
	var f fields
	cmd := CreateWebhookEndpoint{Description: f.text("description", req.Description, false), Owner: caller.Sub,
		AllEvents: caller.IsAdmin(), EventTypes: []string{}}
	if len(req.EventTypes) > 2*len(eventstore.EventTypes) {
		f.add("event_types", "lists at most the %d event types, once each", len(eventstore.EventTypes))
		req.EventTypes = nil
	}
	for _, t := range req.EventTypes {
		if !slices.Contains(eventstore.EventTypes, t) {
			f.add("event_types", "%q is not an event type; the types are %v", t, eventstore.EventTypes)
		} else if !slices.Contains(cmd.EventTypes, t) {
			cmd.EventTypes = append(cmd.EventTypes, t)
		}
	}
	slices.Sort(cmd.EventTypes)
	if req.URL == "" {
		f.add("url", "is required: the https:// URL that receives the events")
	}
	if err := f.err(); err != nil {
		return CreateWebhookEndpoint{}, err
	}
	u, err := c.webhooks.Policy.ParseURL(req.URL)
	if err != nil {
		return CreateWebhookEndpoint{}, err
	}
	cmd.URL = u
	return cmd, nil
}

type createWebhookEndpointPlan struct {
	c        *Commands
	cmd      CreateWebhookEndpoint
	existing int
}

func (p *createWebhookEndpointPlan) read(b *pgx.Batch) {
	webhook.QueueCountEndpoints(b, p.cmd.Owner, &p.existing)
}

func (p *createWebhookEndpointPlan) decide(b *pgx.Batch) (int, any, string, error) {
	if p.existing >= MaxWebhookEndpoints {
		return 0, nil, "", eventstore.Errorf(webhook.CodeEndpointLimit,
			"an owner keeps at most %d webhook endpoints; delete one first", MaxWebhookEndpoints)
	}
	now := p.c.now()
	e := webhook.Endpoint{ID: uuid.New(), Owner: p.cmd.Owner, AllEvents: p.cmd.AllEvents, URL: p.cmd.URL.String(),
		EventTypes: p.cmd.EventTypes, Description: p.cmd.Description, Status: webhook.StatusEnabled,
		CreatedAt: now, UpdatedAt: now}
	view, sealed, err := p.c.newSecret(e.ID)
	if err != nil {
		return 0, nil, "", err
	}
	e.Secret = sealed
	webhook.QueueInsertEndpoint(b, e)
	v := e.ViewAt(now)
	v.Secret = view
	return http.StatusCreated, v, "/v1/webhook_endpoints/" + e.ID.String(), nil
}

// CreateWebhookEndpoint adds an endpoint under idem. Its secret is in this answer only (and in its replays).
func (c *Commands) CreateWebhookEndpoint(ctx context.Context, _ auth.Caller, idem Idempotency, cmd CreateWebhookEndpoint) (Outcome, error) {
	if err := c.webhooksConfigured(); err != nil {
		return Outcome{}, err
	}
	// Resolved before the transaction, and not stored under the key: a DNS hiccup is not a final answer.
	if err := c.webhooks.Policy.CheckURL(ctx, cmd.URL); err != nil {
		return Outcome{}, err
	}
	return c.revealSecret(c.execute(ctx, idem, "/v1/webhook_endpoints", &createWebhookEndpointPlan{c: c, cmd: cmd}))
}

// EmptyWebhookRequest is the (optional, empty) body of the endpoint actions: disable, enable, rotate_secret and
// a delivery's retry.
type EmptyWebhookRequest struct{}

type setEndpointStatusPlan struct {
	c              *Commands
	caller         auth.Caller
	id             uuid.UUID
	status, reason string
	locked         []webhook.Endpoint
}

func (p *setEndpointStatusPlan) read(b *pgx.Batch) { webhook.QueueLockEndpoint(b, p.id, &p.locked) }

func (p *setEndpointStatusPlan) decide(b *pgx.Batch) (int, any, string, error) {
	e, err := visibleEndpoint(p.caller, p.id, p.locked)
	if err != nil {
		return 0, nil, "", err
	}
	now := p.c.now()
	if e.Status != p.status {
		webhook.QueueSetStatus(b, e.ID, p.status, p.reason, now)
		e.Status, e.DisabledReason, e.UpdatedAt = p.status, p.reason, now
		if p.status == webhook.StatusEnabled {
			e.FailingSince = nil
		}
	}
	return http.StatusOK, e.ViewAt(now), "", nil
}

// DisableWebhookEndpoint stops deliveries to an endpoint under idem; pending ones wait until it is enabled.
func (c *Commands) DisableWebhookEndpoint(ctx context.Context, caller auth.Caller, idem Idempotency, id uuid.UUID) (Outcome, error) {
	p := &setEndpointStatusPlan{c: c, caller: caller, id: id, status: webhook.StatusDisabled, reason: webhook.ReasonRequested}
	return c.execute(ctx, idem, "/v1/webhook_endpoints/"+id.String()+"/disable", p)
}

// EnableWebhookEndpoint resumes deliveries to an endpoint under idem, the pending ones included.
func (c *Commands) EnableWebhookEndpoint(ctx context.Context, caller auth.Caller, idem Idempotency, id uuid.UUID) (Outcome, error) {
	p := &setEndpointStatusPlan{c: c, caller: caller, id: id, status: webhook.StatusEnabled}
	return c.execute(ctx, idem, "/v1/webhook_endpoints/"+id.String()+"/enable", p)
}

type rotateSecretPlan struct {
	c      *Commands
	caller auth.Caller
	id     uuid.UUID
	locked []webhook.Endpoint
}

func (p *rotateSecretPlan) read(b *pgx.Batch) { webhook.QueueLockEndpoint(b, p.id, &p.locked) }

func (p *rotateSecretPlan) decide(b *pgx.Batch) (int, any, string, error) {
	e, err := visibleEndpoint(p.caller, p.id, p.locked)
	if err != nil {
		return 0, nil, "", err
	}
	now := p.c.now()
	view, sealed, err := p.c.newSecret(e.ID)
	if err != nil {
		return 0, nil, "", err
	}
	expires := now.Add(webhook.RotationOverlap)
	webhook.QueueRotateSecret(b, e.ID, sealed, e.Secret, expires, now)
	e.PreviousSecretExpiresAt, e.UpdatedAt = &expires, now
	v := e.ViewAt(now)
	v.Secret = view
	return http.StatusOK, v, "", nil
}

// RotateWebhookSecret gives an endpoint a new secret under idem, shown in this answer only (and its replays). The old one keeps
// signing beside it for webhook.RotationOverlap (24h); a second rotation within that time drops the oldest.
func (c *Commands) RotateWebhookSecret(ctx context.Context, caller auth.Caller, idem Idempotency, id uuid.UUID) (Outcome, error) {
	if err := c.webhooksConfigured(); err != nil {
		return Outcome{}, err
	}
	return c.revealSecret(c.execute(ctx, idem, "/v1/webhook_endpoints/"+id.String()+"/rotate_secret",
		&rotateSecretPlan{c: c, caller: caller, id: id}))
}

// visibleEndpoint returns the locked endpoint when caller may manage it: its owner or an admin, and not deleted.
// Any other answers exactly like a missing one.
func visibleEndpoint(caller auth.Caller, id uuid.UUID, locked []webhook.Endpoint) (webhook.Endpoint, error) {
	if len(locked) != 1 || locked[0].Status == webhook.StatusDeleted || !mayManage(caller, locked[0]) {
		return webhook.Endpoint{}, webhook.NotFound(id)
	}
	return locked[0], nil
}

func mayManage(caller auth.Caller, e webhook.Endpoint) bool {
	return caller.IsAdmin() || e.Owner == caller.Sub
}

func (c *Commands) webhooksConfigured() error {
	if c.webhooks.Keyring == nil {
		return httpapi.Errorf(webhook.CodeNotConfigured,
			"webhook endpoints cannot be created: the server has no WEBHOOK_SECRET_KEY to seal their secrets")
	}
	return nil
}

// sealedPrefix marks a secret sealed inside an answer stored under an Idempotency-Key; revealSecret opens it.
const sealedPrefix = "sealed:"

// newSecret draws a secret for endpoint id and returns it sealed twice: for the answer (stored under the key, so
// a replay shows the same secret) and for the endpoint row.
func (c *Commands) newSecret(id uuid.UUID) (inAnswer string, sealed []byte, err error) {
	secret, err := webhook.NewSecret()
	if err != nil {
		return "", nil, err
	}
	forAnswer, err := c.webhooks.Keyring.Seal([]byte(secret), webhook.ResponseContext(id.String()))
	if err != nil {
		return "", nil, err
	}
	sealed, err = c.webhooks.Keyring.Seal([]byte(secret), webhook.SecretContext(id.String()))
	if err != nil {
		return "", nil, err
	}
	return sealedPrefix + base64.StdEncoding.EncodeToString(forAnswer), sealed, nil
}

// DeleteWebhookEndpoint deletes an endpoint: nothing is sent to it any more and its secrets are erased. It needs
// no Idempotency-Key: deleting is idempotent by nature, and deleting a deleted endpoint answers the same (nil).
func (c *Commands) DeleteWebhookEndpoint(ctx context.Context, caller auth.Caller, id uuid.UUID) error {
	return c.store.InTx(ctx, func(tx pgx.Tx) error {
		e, err := webhook.LockEndpoint(ctx, tx, id)
		if err != nil {
			return err
		}
		if !mayManage(caller, e) {
			return webhook.NotFound(id)
		}
		if e.Status == webhook.StatusDeleted {
			return nil
		}
		return webhook.MarkDeleted(ctx, tx, id, c.now())
	})
}
