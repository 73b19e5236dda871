package relay

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

	watermillsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/agentic-commerce/wallet-ledger/eventstore"
	"github.com/agentic-commerce/wallet-ledger/internal/telemetry"
	"github.com/agentic-commerce/wallet-ledger/webhook"
)

// dispatcher is the relay's webhook fan-out and delivery (see webhooks.go).
type dispatcher struct {
	r      *Relay
	cfg    WebhookConfig
	client *http.Client
	wake   chan struct{} // the fan-out created deliveries: look for due ones now

	mu         sync.Mutex
	busy       map[uuid.UUID]*served   // endpoints being served
	complained map[uuid.UUID]time.Time // when an endpoint that cannot be served was last logged
}

// served is an endpoint being served: its target and how many workers send to it.
type served struct {
	target  *endpointTarget
	workers int
}

func newDispatcher(r *Relay, cfg WebhookConfig) *dispatcher {
	return &dispatcher{r: r, cfg: cfg, client: cfg.Settings.Policy.Client(cfg.Timeout, cfg.PerEndpoint),
		wake: make(chan struct{}, 1), busy: map[uuid.UUID]*served{}, complained: map[uuid.UUID]time.Time{}}
}

// fanOutPage is the page handler of the "webhooks" consumer group: it records a page of outbox events in the feed
// and creates their deliveries, in the transaction that commits the group's offset past them, so each event is
// recorded once. An event the feed cannot read is logged and passed over: the forwarder quarantines such events,
// and a released one comes back through the outbox.
func (d *dispatcher) fanOutPage(ctx context.Context, tx pgx.Tx, rows []watermillsql.Row) (int, error) {
	events := make([]eventstore.FeedEvent, 0, len(rows))
	ids := make([]uuid.UUID, 0, len(rows))
	for _, row := range rows {
		e, err := eventstore.ParseFeedEvent(row.Msg.Payload)
		if err != nil || e.ID.String() != row.Msg.UUID {
			d.r.log.ErrorContext(ctx, "webhook fan-out skips an outbox row that is not an event", "event_id", row.Msg.UUID, "error", err)
			continue
		}
		events, ids = append(events, e), append(ids, e.ID)
	}
	var created int64
	b := &pgx.Batch{}
	eventstore.QueueRecordFeedEvents(b, events)
	if len(ids) > 0 {
		webhook.QueueCreateDeliveries(b, ids, d.cfg.Now(), &created)
	}
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return 0, fmt.Errorf("record %d events in the feed: %w", len(events), err)
	}
	if created > 0 {
		select {
		case d.wake <- struct{}{}:
		default:
		}
	}
	return len(rows), nil
}

// run serves every endpoint with due deliveries until ctx ends, each in its own goroutine.
func (d *dispatcher) run(ctx context.Context) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	t := time.NewTicker(d.cfg.PollInterval)
	defer t.Stop()
	failing := false
	for {
		ids, err := webhook.DueEndpoints(ctx, d.r.pool, d.cfg.Now(), d.cfg.MaxEndpoints)
		switch {
		case err != nil && ctx.Err() == nil:
			if !failing {
				d.r.log.WarnContext(ctx, "relay cannot look for due webhook deliveries; will retry", "error", err)
			}
			failing = true
		case err == nil:
			failing = false
		}
		for _, id := range ids {
			target, n := d.take(id)
			for range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					defer d.done(id)
					for ctx.Err() == nil {
						if !d.sendNext(ctx, target) {
							return
						}
					}
				}()
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-d.wake:
		}
	}
}

// take returns endpoint id's target and how many workers to start for it, so that PerEndpoint send to it; none
// when MaxEndpoints other endpoints are served. A worker stops when nothing is due, and the next look for due
// deliveries tops the workers up again.
func (d *dispatcher) take(id uuid.UUID) (*endpointTarget, int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	s := d.busy[id]
	if s == nil {
		if len(d.busy) >= d.cfg.MaxEndpoints {
			return nil, 0
		}
		s = &served{target: &endpointTarget{d: d, id: id}}
		d.busy[id] = s
	}
	n := d.cfg.PerEndpoint - s.workers
	s.workers += n
	return s.target, n
}

// done ends one worker of endpoint id.
func (d *dispatcher) done(id uuid.UUID) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if s := d.busy[id]; s != nil {
		if s.workers--; s.workers <= 0 {
			delete(d.busy, id)
		}
	}
}

// sendNext claims, sends and records one delivery to target; false when there is nothing to do (or it cannot be
// done now: the endpoint's secret does not open, the database fails).
func (d *dispatcher) sendNext(ctx context.Context, target *endpointTarget) bool {
	t, err := target.load(ctx)
	if err != nil {
		if ctx.Err() == nil && d.shouldComplain(target.id) {
			d.r.log.ErrorContext(ctx, "relay cannot deliver to a webhook endpoint; its deliveries wait",
				"endpoint_id", target.id, "error", err)
		}
		return false
	}
	now := d.cfg.Now()
	c, err := webhook.Claim(ctx, d.r.pool, target.id, now, now.Add(d.cfg.Timeout+leaseGrace))
	if err != nil || c == nil {
		if err != nil && ctx.Err() == nil {
			d.r.log.WarnContext(ctx, "relay cannot claim a webhook delivery", "endpoint_id", target.id, "error", err)
		}
		return false
	}
	o := d.attempt(ctx, t, c)
	if ctx.Err() != nil {
		// Stopping: the attempt was cut short by us, not the endpoint. The lease brings it back.
		return false
	}
	if err := d.record(ctx, c, o); err != nil {
		if ctx.Err() != nil {
			return false
		}
		d.r.log.WarnContext(ctx, "relay cannot record a webhook attempt; it will be sent again after its lease",
			"delivery_id", c.ID, "error", err)
		return false
	}
	return true
}

// shouldComplain rate-limits the error about an endpoint that cannot be served (once a minute each): the
// dispatcher finds it due again at every poll.
func (d *dispatcher) shouldComplain(id uuid.UUID) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	now := time.Now()
	if last, ok := d.complained[id]; ok && now.Sub(last) < time.Minute {
		return false
	}
	d.complained[id] = now
	return true
}

// record stores an attempt's outcome, and disables the endpoint when it has failed continuously for
// DisableAfter, announcing it with a webhook_endpoint.disabled event.
func (d *dispatcher) record(ctx context.Context, c *webhook.Claimed, o webhook.Outcome) error {
	if !o.Delivered() {
		o.Next, _ = d.cfg.Schedule.Next(c.ScheduleAttempts+1, c.ScheduleStartedAt, o.At)
	}
	var rec webhook.Recorded
	var disabled bool
	err := pgx.BeginFunc(ctx, d.r.pool, func(tx pgx.Tx) error {
		var err error
		if rec, err = webhook.RecordAttempt(ctx, tx, *c, o); err != nil {
			return err
		}
		if rec.FailingSince == nil || o.At.Sub(*rec.FailingSince) < d.cfg.DisableAfter {
			return nil
		}
		disabled, err = webhook.DisableFailing(ctx, tx, c.EndpointID, o.At.Add(-d.cfg.DisableAfter), o.At)
		return err
	})
	if err != nil {
		return err
	}
	if rec.Failed {
		telemetry.RecordWebhookFailed(ctx)
		d.r.log.WarnContext(ctx, "webhook delivery failed for good after its retry schedule", "delivery_id", c.ID,
			"endpoint_id", c.EndpointID, "event_id", c.EventID, "attempts", c.Attempts+1)
	}
	if disabled {
		telemetry.RecordWebhookEndpointDisabled(ctx)
		d.r.log.WarnContext(ctx, "webhook endpoint disabled: every delivery failed", "endpoint_id", c.EndpointID,
			"failing_since", rec.FailingSince, "disable_after", d.cfg.DisableAfter.String())
	}
	return nil
}

// backlog measures the pending deliveries and the age of the oldest event not delivered yet: the oldest pending
// delivery's, or the oldest outbox event the fan-out has not read, whichever is older, so a stuck fan-out shows.
func (d *dispatcher) backlog(ctx context.Context) (webhook.Backlog, error) {
	b, err := webhook.MeasureBacklog(ctx, d.r.pool, d.cfg.Now())
	if err != nil {
		return webhook.Backlog{}, err
	}
	var unread int64
	var age float64
	if err := d.r.pool.QueryRow(ctx, lagQuery, WebhookConsumerGroup).Scan(&unread, &age); err != nil {
		return webhook.Backlog{}, fmt.Errorf("measure the webhook fan-out lag: %w", err)
	}
	b.OldestAge = max(b.OldestAge, age)
	return b, nil
}

// measureBacklog publishes the webhook backlog gauges every LagInterval, on every replica.
func (d *dispatcher) measureBacklog(ctx context.Context) error {
	t := time.NewTicker(d.cfg.LagInterval)
	defer t.Stop()
	failing := false
	for {
		b, err := d.backlog(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			if !failing {
				d.r.log.WarnContext(ctx, "relay cannot measure the webhook backlog", "error", err)
			}
			failing = true
		case err == nil:
			failing = false
			telemetry.SetWebhookBacklog(b.OldestAge, b.Pending)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
