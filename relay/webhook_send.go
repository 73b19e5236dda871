package relay

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/google/uuid"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/agentic-commerce/wallet-ledger/internal/telemetry"
	"github.com/agentic-commerce/wallet-ledger/webhook"
)

// userAgent identifies deliveries to receivers.
const userAgent = "wallet-ledger-webhooks/1"

// targetRefresh is how long an endpoint's URL and secrets are used before they are read again, so a rotation or a
// URL change reaches deliveries already under way within about this time.
const targetRefresh = time.Second

// endpointTarget is where one endpoint's deliveries go: its URL and its signing secrets, read from the database
// and shared by the endpoint's workers.
type endpointTarget struct {
	d  *dispatcher
	id uuid.UUID

	mu       sync.Mutex
	snapshot *target
	loadedAt time.Time
}

type target struct {
	url     *url.URL
	secrets []string
}

// load returns the endpoint's current target, read again when older than targetRefresh.
func (e *endpointTarget) load(ctx context.Context) (*target, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	now := e.d.cfg.Now()
	if e.snapshot != nil && now.Sub(e.loadedAt) < targetRefresh {
		return e.snapshot, nil
	}
	ep, err := webhook.GetEndpoint(ctx, e.d.r.pool, e.id)
	if err != nil {
		return nil, err
	}
	secrets, err := ep.SigningSecrets(e.d.cfg.Settings.Keyring, now)
	if err != nil {
		return nil, err
	}
	u, err := url.Parse(ep.URL)
	if err != nil {
		return nil, fmt.Errorf("endpoint %s: stored URL: %w", e.id, err)
	}
	e.snapshot, e.loadedAt = &target{url: u, secrets: secrets}, now
	return e.snapshot, nil
}

// attempt sends one claimed delivery: the event's JSON, exactly as in the outbox, signed by the Standard Webhooks
// scheme with every current secret of the endpoint. Only a 2xx within the timeout is a success; anything else
// (another status, a redirect, a timeout, a refused connection or address) is a failure, retried on schedule.
func (d *dispatcher) attempt(ctx context.Context, t *target, c *webhook.Claimed) webhook.Outcome {
	start := d.cfg.Now()
	o := webhook.Outcome{At: start}
	ctx, span := tracer.Start(ctx, "webhook deliver", trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attribute.String("messaging.message.id", c.EventID.String()),
			attribute.String("event.type", c.EventType), attribute.String("webhook.endpoint_id", c.EndpointID.String()),
			attribute.Int("webhook.attempt", c.Attempts+1)))
	defer func() {
		if o.StatusCode != nil {
			span.SetAttributes(attribute.Int("http.response.status_code", *o.StatusCode))
		}
		if !o.Delivered() {
			span.SetStatus(codes.Error, o.Err)
		}
		span.End()
		if ctx.Err() == nil {
			telemetry.RecordWebhookAttempt(ctx, o.Delivered(), d.cfg.Now().Sub(start))
		}
	}()
	if !d.cfg.Settings.Policy.SchemeAllowed(t.url) {
		o.Err = "only https:// URLs receive deliveries (WEBHOOK_ALLOW_INSECURE is off)"
		return o
	}
	sig, err := webhook.Sign(c.EventID.String(), start, c.Payload, t.secrets...)
	if err != nil {
		o.Err = err.Error()
		return o
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.url.String(), bytes.NewReader(c.Payload))
	if err != nil {
		o.Err = err.Error()
		return o
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", userAgent)
	req.Header.Set(webhook.HeaderID, c.EventID.String())
	req.Header.Set(webhook.HeaderTimestamp, strconv.FormatInt(start.Unix(), 10))
	req.Header.Set(webhook.HeaderSignature, sig)
	resp, err := d.client.Do(req)
	if err != nil {
		o.Err = describeSendError(err, d.cfg.Timeout)
		return o
	}
	// Read a little of the body so the connection can be reused; the receiver's answer is not kept.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	code := resp.StatusCode
	o.StatusCode = &code
	switch {
	case code >= 200 && code < 300:
	case code >= 300 && code < 400:
		o.Err = fmt.Sprintf("HTTP %d: redirects are not followed (to %q)", code, resp.Header.Get("Location"))
	default:
		o.Err = fmt.Sprintf("HTTP %d", code)
	}
	return o
}

// describeSendError says why a request got no answer, without the whole URL error chain.
func describeSendError(err error, timeout time.Duration) string {
	var uerr *url.Error
	switch {
	case errors.Is(err, webhook.ErrAddressNotAllowed):
		var cause error = err
		if errors.As(err, &uerr) {
			cause = uerr.Err
		}
		return cause.Error()
	case errors.As(err, &uerr) && uerr.Timeout():
		return fmt.Sprintf("no answer within %s", timeout)
	case errors.As(err, &uerr):
		return uerr.Err.Error()
	}
	return err.Error()
}
