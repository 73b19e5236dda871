package relay_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentic-commerce/wallet-ledger/eventstore"
	"github.com/agentic-commerce/wallet-ledger/relay"
)

// refusing is a downstream whose broker refuses some events (as it would an oversized message or a subject it
// does not accept) until an operator fixes it.
type refusing struct {
	relay.Downstream
	mu     sync.Mutex
	refuse map[string]bool
}

func (d *refusing) Publish(ctx context.Context, eventType string, msg *message.Message) error {
	d.mu.Lock()
	refused := d.refuse[msg.UUID]
	d.mu.Unlock()
	if refused {
		return fmt.Errorf("broker refused event %s (test)", msg.UUID)
	}
	return d.Downstream.Publish(ctx, eventType, msg)
}

// PublishBatch publishes the batch up to the first refused event, as a broker would confirm a window part-way.
func (d *refusing) PublishBatch(ctx context.Context, msgs []relay.Outgoing) (int, error) {
	d.mu.Lock()
	first := len(msgs)
	for i, o := range msgs {
		if d.refuse[o.Msg.UUID] {
			first = i
			break
		}
	}
	d.mu.Unlock()
	n, err := d.Downstream.PublishBatch(ctx, msgs[:first])
	if err != nil || first == len(msgs) {
		return n, err
	}
	return n, fmt.Errorf("broker refused event %s (test)", msgs[first].Msg.UUID)
}

func (d *refusing) fix() {
	d.mu.Lock()
	d.refuse = nil
	d.mu.Unlock()
}

// Two events the broker refuses are quarantined while the rest flow; once the broker is fixed, releasing them has
// the relay publish them again with their own event ids (message UUID and Nats-Msg-Id), in their original order,
// marked as released. A release naming an event not in quarantine changes nothing, and an event cannot be
// released twice. Afterwards every row is prunable and the relay keeps going.
func TestReleasedQuarantinedEventsArePublishedAgainWithTheirIDs(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l := newLedger(t)
	cfg := testConfig(t, relay.PublisherNATS)
	got := subscribeNATS(t, natsURL(), cfg)

	a, b := l.wallet(ctx), l.wallet(ctx)
	l.fund(ctx, a, 100)
	status, err := l.transfer(ctx, a, b, 10)
	require.NoError(t, err)
	require.Equal(t, 201, status)
	l.wallet(ctx)
	rows := l.outbox(ctx)
	require.Len(t, rows, 5)
	fund, transfer := rows[2].UUID, rows[3].UUID
	down, err := relay.NewDownstream(cfg, l.pool, nil)
	require.NoError(t, err)
	broker := &refusing{Downstream: down, refuse: map[string]bool{fund: true, transfer: true}}
	r := startRelayOn(t, cfg, l.pool, broker)

	waitFor(t, patience, "three events downstream and two quarantined", func() bool {
		q, err := relay.ListQuarantined(ctx, l.pool)
		require.NoError(t, err)
		return len(got.unique()) == 3 && len(q) == 2
	})
	q, err := relay.ListQuarantined(ctx, l.pool)
	require.NoError(t, err)
	require.Equal(t, []string{fund, transfer}, []string{q[0].EventID, q[1].EventID}, "listed in outbox order")
	for _, e := range q {
		assert.Equal(t, eventstore.EventTransactionCommitted, e.EventType)
		assert.Equal(t, cfg.MaxAttempts, e.Attempts)
		assert.Contains(t, e.LastError, "broker refused")
		assert.WithinDuration(t, time.Now(), e.QuarantinedAt, time.Minute)
	}

	_, err = relay.ReleaseQuarantined(ctx, l.pool, []string{fund, "no-such-event"})
	require.ErrorIs(t, err, relay.ErrNotQuarantined)
	require.ErrorContains(t, err, "no-such-event")
	q, err = relay.ListQuarantined(ctx, l.pool)
	require.NoError(t, err)
	assert.Len(t, q, 2, "a failed release changes nothing")
	assert.Len(t, l.outbox(ctx), 5)

	broker.fix()
	released, err := relay.ReleaseAllQuarantined(ctx, l.pool)
	require.NoError(t, err)
	assert.Equal(t, []string{fund, transfer}, released)
	waitFor(t, patience, "the released events downstream", func() bool { return len(got.unique()) == 5 })
	waitDrained(t, r, patience)
	all := got.unique()
	assert.Equal(t, []string{fund, transfer}, []string{all[3].ID, all[4].ID}, "released in their original order")
	for _, e := range all[3:] {
		assert.Equal(t, e.ID, e.Payload.EventID.String())
		assert.Equal(t, e.ID, e.Meta[nats.MsgIdHdr], "JetStream and subscribers dedup by the same event id")
		assert.NotEmpty(t, e.Meta[relay.MetadataReleasedAt])
	}
	txs, ws := l.journal(ctx)
	checkExactlyTheJournal(t, all, txs, ws)
	q, err = relay.ListQuarantined(ctx, l.pool)
	require.NoError(t, err)
	assert.Empty(t, q)
	_, err = relay.ReleaseQuarantined(ctx, l.pool, []string{fund})
	assert.True(t, errors.Is(err, relay.ErrNotQuarantined), "released once only: %v", err)
	released, err = relay.ReleaseAllQuarantined(ctx, l.pool)
	require.NoError(t, err)
	assert.Empty(t, released)

	// The original rows of the released events are no longer held back; prune everything, then write again.
	_, err = l.pool.Exec(ctx, `DELETE FROM read_side_checkpoints`)
	require.NoError(t, err)
	res, err := relay.PruneOutbox(ctx, l.pool, relay.PruneOptions{OlderThan: time.Nanosecond})
	require.NoError(t, err)
	assert.Equal(t, int64(7), res.Deleted, "five rows and the two released copies")
	c := l.wallet(ctx)
	waitFor(t, patience, "an event written after the prune", func() bool {
		u := got.unique()
		return len(u) == 6 && u[5].Payload.WalletID != nil && *u[5].Payload.WalletID == c
	})
}
