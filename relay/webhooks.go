package relay

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/agentic-commerce/wallet-ledger/internal/telemetry"
	"github.com/agentic-commerce/wallet-ledger/webhook"
)

// Webhooks (issue 19). The relay runs two parts, both on the leader only:
//
//   - the fan-out, a consumer of the outbox with its own consumer group ("webhooks"), so it never holds up
//     publishing downstream: a page of events at a time is recorded in the events feed and becomes one pending
//     delivery per event and enabled endpoint that receives it, with two statements, in the transaction that
//     commits the group's offset past the page: each event is recorded once.
//   - the dispatcher, which sends due deliveries: each endpoint is served by its own goroutines (at most
//     PerEndpoint requests in flight), so a slow or dead endpoint only ever waits on itself. A delivery is leased
//     in the database before it is sent, and its outcome recorded after: the state survives any restart, and a
//     relay killed mid-delivery re-sends, after the lease, only what was in flight.

// WebhookConsumerGroup is the fan-out's consumer group (a row of Watermill's offsets table). Its offsets row appears
// when the relay first runs the fan-out; from then on the outbox prune keeps what the fan-out has not read.
const WebhookConsumerGroup = "webhooks"

// leaseGrace is added to the request timeout to lease a delivery for one attempt.
const leaseGrace = 5 * time.Second

// WebhookConfig configures the relay's webhooks.
type WebhookConfig struct {
	Settings     webhook.Settings // WEBHOOK_SECRET_KEY and WEBHOOK_ALLOW_INSECURE
	Schedule     webhook.Schedule // WEBHOOK_RETRY_DELAYS, WEBHOOK_RETRY_EVERY, WEBHOOK_RETRY_FOR
	Timeout      time.Duration    // WEBHOOK_TIMEOUT: a 2xx within it is delivered (10s)
	PerEndpoint  int              // WEBHOOK_CONCURRENCY: requests in flight to one endpoint (4)
	MaxEndpoints int              // WEBHOOK_MAX_ENDPOINTS: endpoints served at once (64)
	PollInterval time.Duration    // WEBHOOK_POLL_INTERVAL: how often due deliveries are looked for (1s)
	DisableAfter time.Duration    // WEBHOOK_DISABLE_AFTER: continuous failure before an endpoint is disabled (72h)
	LagInterval  time.Duration    // how often the backlog gauges are measured (the relay's LagInterval)
	Now          func() time.Time // the clock; time.Now when nil
}

// LoadWebhookConfig reads the webhook settings from the environment. A malformed value is an error.
func LoadWebhookConfig(getenv func(string) string) (WebhookConfig, error) {
	s, err := webhook.LoadSettings(getenv)
	if err != nil {
		return WebhookConfig{}, err
	}
	c := WebhookConfig{Settings: s, Schedule: webhook.DefaultSchedule}
	var errs []string
	get := func(name, def string) string {
		if v := strings.TrimSpace(getenv(name)); v != "" {
			return v
		}
		return def
	}
	durations := []struct {
		name, def string
		dst       *time.Duration
	}{
		{"WEBHOOK_TIMEOUT", "10s", &c.Timeout},
		{"WEBHOOK_POLL_INTERVAL", "1s", &c.PollInterval},
		{"WEBHOOK_DISABLE_AFTER", "72h", &c.DisableAfter},
		{"WEBHOOK_RETRY_EVERY", "1h", &c.Schedule.Every},
		{"WEBHOOK_RETRY_FOR", "24h", &c.Schedule.Window},
	}
	for _, d := range durations {
		v, err := time.ParseDuration(get(d.name, d.def))
		if err != nil || v <= 0 {
			errs = append(errs, fmt.Sprintf("%s: want a positive duration such as %s", d.name, d.def))
			continue
		}
		*d.dst = v
	}
	if v := get("WEBHOOK_RETRY_DELAYS", ""); v != "" {
		c.Schedule.Delays = nil
		for _, part := range strings.Split(v, ",") {
			d, err := time.ParseDuration(strings.TrimSpace(part))
			if err != nil || d <= 0 {
				errs = append(errs, "WEBHOOK_RETRY_DELAYS: want positive durations separated by commas, such as 5s,30s,2m")
				break
			}
			c.Schedule.Delays = append(c.Schedule.Delays, d)
		}
	}
	ints := []struct {
		name string
		def  int
		dst  *int
	}{
		{"WEBHOOK_CONCURRENCY", 4, &c.PerEndpoint},
		{"WEBHOOK_MAX_ENDPOINTS", 64, &c.MaxEndpoints},
	}
	for _, n := range ints {
		v, err := strconv.Atoi(get(n.name, strconv.Itoa(n.def)))
		if err != nil || v < 1 {
			errs = append(errs, n.name+": want a positive integer")
			continue
		}
		*n.dst = v
	}
	if len(errs) > 0 {
		return WebhookConfig{}, fmt.Errorf("webhook configuration: %s", strings.Join(errs, "; "))
	}
	return c, nil
}

// withDefaults fills what a WebhookConfig built in code left out.
func (c WebhookConfig) withDefaults(lagInterval time.Duration) WebhookConfig {
	if len(c.Schedule.Delays) == 0 && c.Schedule.Every == 0 {
		c.Schedule = webhook.DefaultSchedule
	}
	if c.Timeout <= 0 {
		c.Timeout = 10 * time.Second
	}
	if c.PerEndpoint <= 0 {
		c.PerEndpoint = 4
	}
	if c.MaxEndpoints <= 0 {
		c.MaxEndpoints = 64
	}
	if c.PollInterval <= 0 {
		c.PollInterval = time.Second
	}
	if c.DisableAfter <= 0 {
		c.DisableAfter = 72 * time.Hour
	}
	if c.LagInterval <= 0 {
		c.LagInterval = lagInterval
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// WithWebhooks runs the webhook fan-out and dispatcher (see above) on the relay's leader, and measures the
// webhook backlog on every replica.
func WithWebhooks(cfg WebhookConfig) Option {
	return func(r *Relay) {
		cfg = cfg.withDefaults(r.cfg.LagInterval)
		d := newDispatcher(r, cfg)
		r.pagers = append(r.pagers, newPager(r.pool, WebhookConsumerGroup, r.cfg.BatchSize, r.cfg.PollInterval, r.cfg.PageGather, r.log, d.fanOutPage))
		r.workers = append(r.workers,
			Worker{Name: "webhook-dispatch", LeaderOnly: true, Run: d.run},
			Worker{Name: "webhook-lag", Run: d.measureBacklog})
		telemetry.InitWebhookMetrics(context.Background())
	}
}

// Errors of CheckWebhookKey that mean the relay must not start.
var (
	ErrWebhookKeyMissing = errors.New("webhook endpoints are enabled but WEBHOOK_SECRET_KEY is not set: the relay cannot sign their deliveries")
	ErrWebhookKeyWrong   = errors.New("WEBHOOK_SECRET_KEY is not the key the API sealed the endpoints' secrets with")
)

// CheckWebhookKey refuses what would leave enabled endpoints without deliveries: no WEBHOOK_SECRET_KEY, or a key
// that does not open their secrets (not the one the API sealed them with): ErrWebhookKeyMissing or
// ErrWebhookKeyWrong. Any other error is the database's. The relay checks it before it starts.
func CheckWebhookKey(ctx context.Context, pool *pgxpool.Pool, s webhook.Settings) error {
	e, err := webhook.AnyEnabledEndpoint(ctx, pool)
	if err != nil || e == nil {
		return err
	}
	if s.Keyring == nil {
		return fmt.Errorf("%w (endpoint %s is enabled)", ErrWebhookKeyMissing, e.ID)
	}
	if _, err := e.SigningSecrets(s.Keyring, time.Now()); err != nil {
		return fmt.Errorf("%w: %w", ErrWebhookKeyWrong, err)
	}
	return nil
}
