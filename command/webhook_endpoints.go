package command

import (
	"context"
	"encoding/base64"
	"net/url"
	"slices"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/agentic-commerce/wallet-ledger/eventstore"
	"github.com/agentic-commerce/wallet-ledger/internal/auth"
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
	Description *string  `json:"description" nullable:"true"`
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

// createWebhookEndpoint plans adding an endpoint. Its secret is in the answer only (and in its replays). The URL is
// resolved before the batch, and its refusal not stored under the key: a DNS hiccup is not a final answer.
func (c *Commands) createWebhookEndpoint(ctx context.Context, _ auth.Caller, cmd CreateWebhookEndpoint) (plan, error) {
	if err := c.webhooksConfigured(); err != nil {
		return nil, err
	}
	if err := c.webhooks.Policy.CheckURL(ctx, cmd.URL); err != nil {
		return nil, err
	}
	return &createWebhookEndpointPlan{c: c, cmd: cmd}, nil
}

// alone: the per-owner limit is counted under an advisory lock, exact only one transaction at a time.
func (p *createWebhookEndpointPlan) alone() {}

func (p *createWebhookEndpointPlan) need(n *needs) {
	n.query(func(b *pgx.Batch) { webhook.QueueCountEndpoints(b, p.cmd.Owner, &p.existing) })
}

func (p *createWebhookEndpointPlan) decide(d *decision) (Result, error) {
	if p.existing >= MaxWebhookEndpoints {
		return Result{}, webhook.ErrEndpointLimit.Withf("an owner keeps at most %d webhook endpoints; delete one first", MaxWebhookEndpoints)
	}
	now := d.now
	e := webhook.Endpoint{ID: uuid.New(), Owner: p.cmd.Owner, AllEvents: p.cmd.AllEvents, URL: p.cmd.URL.String(),
		EventTypes: p.cmd.EventTypes, Description: p.cmd.Description, Status: webhook.StatusEnabled,
		CreatedAt: now, UpdatedAt: now}
	view, sealed, err := p.c.newSecret(e.ID)
	if err != nil {
		return Result{}, err
	}
	e.Secret = sealed
	d.queue(func(b *pgx.Batch) { webhook.QueueInsertEndpoint(b, e) })
	v := e.ViewAt(now)
	v.Secret = view
	return Result{Body: v, ID: e.ID}, nil
}

// EmptyWebhookRequest is the (optional, empty) body of the endpoint actions: disable, enable, rotate_secret and
// a delivery's retry.
type EmptyWebhookRequest struct{}

type setEndpointStatusPlan struct {
	caller         auth.Caller
	id             uuid.UUID
	status, reason string
	locked         []webhook.Endpoint
}

// disableWebhookEndpoint plans stopping deliveries to an endpoint; pending ones wait until it is enabled.
func (c *Commands) disableWebhookEndpoint(_ context.Context, caller auth.Caller, id uuid.UUID) (plan, error) {
	return &setEndpointStatusPlan{caller: caller, id: id, status: webhook.StatusDisabled, reason: webhook.ReasonRequested}, nil
}

// enableWebhookEndpoint plans resuming deliveries to an endpoint, the pending ones included.
func (c *Commands) enableWebhookEndpoint(_ context.Context, caller auth.Caller, id uuid.UUID) (plan, error) {
	return &setEndpointStatusPlan{caller: caller, id: id, status: webhook.StatusEnabled}, nil
}

func (p *setEndpointStatusPlan) alone() {}

func (p *setEndpointStatusPlan) need(n *needs) {
	n.query(func(b *pgx.Batch) { webhook.QueueLockEndpoint(b, p.id, &p.locked) })
}

func (p *setEndpointStatusPlan) decide(d *decision) (Result, error) {
	e, err := visibleEndpoint(p.caller, p.id, p.locked)
	if err != nil {
		return Result{}, err
	}
	now := d.now
	if e.Status != p.status {
		id, status, reason := e.ID, p.status, p.reason
		d.queue(func(b *pgx.Batch) { webhook.QueueSetStatus(b, id, status, reason, now) })
		e.Status, e.DisabledReason, e.UpdatedAt = p.status, p.reason, now
		if p.status == webhook.StatusEnabled {
			e.FailingSince = nil
		}
	}
	return Result{Body: e.ViewAt(now), ID: e.ID}, nil
}

type rotateSecretPlan struct {
	c      *Commands
	caller auth.Caller
	id     uuid.UUID
	locked []webhook.Endpoint
}

// rotateWebhookSecret plans giving an endpoint a new secret, shown in the answer only (and its replays). The old
// one keeps signing beside it for webhook.RotationOverlap (24h); a second rotation within that time drops the
// oldest.
func (c *Commands) rotateWebhookSecret(_ context.Context, caller auth.Caller, id uuid.UUID) (plan, error) {
	if err := c.webhooksConfigured(); err != nil {
		return nil, err
	}
	return &rotateSecretPlan{c: c, caller: caller, id: id}, nil
}

func (p *rotateSecretPlan) alone() {}

func (p *rotateSecretPlan) need(n *needs) {
	n.query(func(b *pgx.Batch) { webhook.QueueLockEndpoint(b, p.id, &p.locked) })
}

func (p *rotateSecretPlan) decide(d *decision) (Result, error) {
	e, err := visibleEndpoint(p.caller, p.id, p.locked)
	if err != nil {
		return Result{}, err
	}
	now := d.now
	view, sealed, err := p.c.newSecret(e.ID)
	if err != nil {
		return Result{}, err
	}
	expires := now.Add(webhook.RotationOverlap)
	previous := e.Secret
	d.queue(func(b *pgx.Batch) { webhook.QueueRotateSecret(b, e.ID, sealed, previous, expires, now) })
	e.PreviousSecretExpiresAt, e.UpdatedAt = &expires, now
	v := e.ViewAt(now)
	v.Secret = view
	return Result{Body: v, ID: e.ID}, nil
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
		return webhook.ErrNotConfigured.Withf("webhook endpoints cannot be created: the server has no WEBHOOK_SECRET_KEY to seal their secrets")
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
