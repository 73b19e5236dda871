package client

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// WebhookEndpoint is a URL that receives signed webhooks (Standard Webhooks) of the events its owner may see.
type WebhookEndpoint struct {
	EndpointID              string     `json:"endpoint_id"`
	Owner                   string     `json:"owner"`
	URL                     string     `json:"url"`
	EventTypes              []string   `json:"event_types"`
	Description             string     `json:"description,omitempty"`
	Status                  string     `json:"status"`
	DisabledReason          string     `json:"disabled_reason,omitempty"`
	AllEvents               bool       `json:"all_events"`
	PreviousSecretExpiresAt *time.Time `json:"previous_secret_expires_at,omitempty"`
	FailingSince            *time.Time `json:"failing_since,omitempty"`
	CreatedAt               time.Time  `json:"created_at"`
	UpdatedAt               time.Time  `json:"updated_at"`
}

// WebhookEndpointWithSecret is an endpoint with its signing secret (whsec_...), in the answers to create and
// rotate only: keep the secret, it is not shown again.
type WebhookEndpointWithSecret struct {
	WebhookEndpoint
	Secret string `json:"secret"`
}

// WebhookEndpointList is the caller's endpoints.
type WebhookEndpointList struct {
	Endpoints []WebhookEndpoint `json:"endpoints"`
}

// CreateWebhookEndpointRequest adds an https:// URL; EventTypes empty receives every type.
type CreateWebhookEndpointRequest struct {
	URL         string   `json:"url"`
	EventTypes  []string `json:"event_types,omitempty"`
	Description string   `json:"description,omitempty"`
}

// WebhookDelivery is one event sent (or to send) to one endpoint.
type WebhookDelivery struct {
	DeliveryID     string     `json:"delivery_id"`
	EndpointID     string     `json:"endpoint_id"`
	EventID        string     `json:"event_id"`
	EventType      string     `json:"event_type"`
	Status         string     `json:"status"`
	Attempts       int        `json:"attempts"`
	LastStatusCode *int       `json:"last_status_code"`
	LastError      string     `json:"last_error,omitempty"`
	LastAttemptAt  *time.Time `json:"last_attempt_at"`
	NextAttemptAt  *time.Time `json:"next_attempt_at"`
	DeliveredAt    *time.Time `json:"delivered_at"`
	CreatedAt      time.Time  `json:"created_at"`
}

// WebhookDeliveryList is one page of an endpoint's deliveries, newest event first.
type WebhookDeliveryList struct {
	EndpointID string            `json:"endpoint_id"`
	Deliveries []WebhookDelivery `json:"deliveries"`
	NextCursor *string           `json:"next_cursor"`
}

// CreateWebhookEndpoint adds an endpoint (POST /v1/webhook_endpoints).
func (c *Client) CreateWebhookEndpoint(ctx context.Context, req CreateWebhookEndpointRequest, opts ...CallOption) (*WebhookEndpointWithSecret, *Response, error) {
	var e WebhookEndpointWithSecret
	resp, err := c.write(ctx, "/v1/webhook_endpoints", req, &e, opts)
	if err != nil {
		return nil, resp, err
	}
	return &e, resp, nil
}

// ListWebhookEndpoints lists the caller's endpoints (GET /v1/webhook_endpoints).
func (c *Client) ListWebhookEndpoints(ctx context.Context) (*WebhookEndpointList, *Response, error) {
	var l WebhookEndpointList
	resp, err := c.read(ctx, "/v1/webhook_endpoints", &l)
	if err != nil {
		return nil, resp, err
	}
	return &l, resp, nil
}

// GetWebhookEndpoint reads an endpoint (GET /v1/webhook_endpoints/{id}).
func (c *Client) GetWebhookEndpoint(ctx context.Context, endpointID string) (*WebhookEndpoint, *Response, error) {
	var e WebhookEndpoint
	resp, err := c.read(ctx, "/v1/webhook_endpoints/"+url.PathEscape(endpointID), &e)
	if err != nil {
		return nil, resp, err
	}
	return &e, resp, nil
}

// DisableWebhookEndpoint stops deliveries (POST /v1/webhook_endpoints/{id}/disable).
func (c *Client) DisableWebhookEndpoint(ctx context.Context, endpointID string, opts ...CallOption) (*WebhookEndpoint, *Response, error) {
	return c.endpointAction(ctx, endpointID, "disable", opts)
}

// EnableWebhookEndpoint resumes deliveries (POST /v1/webhook_endpoints/{id}/enable).
func (c *Client) EnableWebhookEndpoint(ctx context.Context, endpointID string, opts ...CallOption) (*WebhookEndpoint, *Response, error) {
	return c.endpointAction(ctx, endpointID, "enable", opts)
}

func (c *Client) endpointAction(ctx context.Context, endpointID, action string, opts []CallOption) (*WebhookEndpoint, *Response, error) {
	var e WebhookEndpoint
	resp, err := c.write(ctx, "/v1/webhook_endpoints/"+url.PathEscape(endpointID)+"/"+action, struct{}{}, &e, opts)
	if err != nil {
		return nil, resp, err
	}
	return &e, resp, nil
}

// RotateWebhookSecret gives an endpoint a new secret; the old one signs beside it for 24h
// (POST /v1/webhook_endpoints/{id}/rotate_secret).
func (c *Client) RotateWebhookSecret(ctx context.Context, endpointID string, opts ...CallOption) (*WebhookEndpointWithSecret, *Response, error) {
	var e WebhookEndpointWithSecret
	resp, err := c.write(ctx, "/v1/webhook_endpoints/"+url.PathEscape(endpointID)+"/rotate_secret", struct{}{}, &e, opts)
	if err != nil {
		return nil, resp, err
	}
	return &e, resp, nil
}

// DeleteWebhookEndpoint deletes an endpoint (DELETE /v1/webhook_endpoints/{id}). It needs no Idempotency-Key:
// deleting again succeeds again, so it is retried like a read.
func (c *Client) DeleteWebhookEndpoint(ctx context.Context, endpointID string) (*Response, error) {
	return c.send(ctx, http.MethodDelete, "/v1/webhook_endpoints/"+url.PathEscape(endpointID), nil, call{}, nil)
}

// ListWebhookDeliveries reads one page of an endpoint's deliveries (GET /v1/webhook_endpoints/{id}/deliveries).
// status filters (pending, delivered, failed; empty for all); limit 0 uses the server's default (50); cursor is
// the previous page's NextCursor, empty for the newest page.
func (c *Client) ListWebhookDeliveries(ctx context.Context, endpointID, status string, limit int, cursor string) (*WebhookDeliveryList, *Response, error) {
	q := url.Values{}
	if status != "" {
		q.Set("status", status)
	}
	if limit != 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	if cursor != "" {
		q.Set("cursor", cursor)
	}
	path := "/v1/webhook_endpoints/" + url.PathEscape(endpointID) + "/deliveries"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	var l WebhookDeliveryList
	resp, err := c.read(ctx, path, &l)
	if err != nil {
		return nil, resp, err
	}
	return &l, resp, nil
}

// RetryWebhookDelivery sends a delivery again with a fresh retry schedule
// (POST /v1/webhook_endpoints/{id}/deliveries/{delivery_id}/retry).
func (c *Client) RetryWebhookDelivery(ctx context.Context, endpointID, deliveryID string, opts ...CallOption) (*WebhookDelivery, *Response, error) {
	var d WebhookDelivery
	path := "/v1/webhook_endpoints/" + url.PathEscape(endpointID) + "/deliveries/" + url.PathEscape(deliveryID) + "/retry"
	resp, err := c.write(ctx, path, struct{}{}, &d, opts)
	if err != nil {
		return nil, resp, err
	}
	return &d, resp, nil
}
