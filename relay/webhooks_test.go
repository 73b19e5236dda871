package relay_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentic-commerce/wallet-ledger/command"
	"github.com/agentic-commerce/wallet-ledger/eventstore"
	"github.com/agentic-commerce/wallet-ledger/internal/auth"
	"github.com/agentic-commerce/wallet-ledger/relay"
	"github.com/agentic-commerce/wallet-ledger/webhook"
)

var (
	alice = auth.Caller{Sub: "alice", Scopes: []string{auth.ScopeRead, auth.ScopeWrite}}
	bob   = auth.Caller{Sub: "bob", Scopes: []string{auth.ScopeRead, auth.ScopeWrite}}
)

// A receiver that answers 500 three times, then 200, gets the event four times, always with the same webhook-id
// and a valid signature, and the delivery ends delivered after 4 attempts.
func TestWebhookRetriedUntilTheReceiverAccepts(t *testing.T) {
	t.Parallel()
	s := hookSettings(t)
	l := webhookLedger(t, s)
	rc := newReceiver(t, func(n int, _ hit) int {
		if n <= 3 {
			return http.StatusInternalServerError
		}
		return http.StatusOK
	})
	id, secret := l.endpoint(alice, rc.url(), eventstore.EventWalletCreated)
	startWebhookRelay(t, testConfig(t, relay.PublisherSQL), l.pool, fastHooks(s))
	wallet := l.walletOf("alice")

	waitFor(t, 20*time.Second, "the delivery to succeed", func() bool {
		d := deliveriesOf(t, l.pool, id)
		return len(d) == 1 && d[0].Status == webhook.DeliveryDelivered
	})
	hits := rc.snapshot()
	require.Len(t, hits, 4)
	for i, h := range hits {
		assert.Equal(t, hits[0].ID, h.ID, "attempt %d: the webhook-id is stable across retries", i+1)
		assert.Equal(t, h.Event.EventID.String(), h.ID, "the webhook-id is the event_id")
		assert.Equal(t, eventstore.EventWalletCreated, h.Event.Type)
		assert.Equal(t, wallet, *h.Event.WalletID)
		assert.NoError(t, verify(h, secret), "attempt %d verifies", i+1)
		assert.Equal(t, "application/json", h.Header.Get("Content-Type"))
	}
	d := deliveriesOf(t, l.pool, id)[0]
	assert.Equal(t, 4, d.Attempts)
	require.NotNil(t, d.Code)
	assert.Equal(t, 200, *d.Code)
}

// An endpoint that never answers ties up only its own deliveries: another endpoint gets every event, and the
// events reach NATS, while the first still holds its requests open.
func TestHangingEndpointDelaysNoOther(t *testing.T) {
	t.Parallel()
	s := hookSettings(t)
	l := webhookLedger(t, s)
	release := make(chan struct{})
	var hanging atomic.Int64
	slow := newReceiver(t, func(int, hit) int {
		hanging.Add(1)
		<-release
		return http.StatusOK
	})
	t.Cleanup(func() { close(release) }) // before the servers close (cleanups run last first)
	fast := newReceiver(t, nil)
	l.endpoint(alice, slow.url())
	l.endpoint(alice, fast.url())
	cfg := testConfig(t, relay.PublisherNATS)
	got := subscribeNATS(t, natsURL(), cfg)
	hooks := fastHooks(s)
	hooks.Timeout = time.Minute // the hanging receiver holds its requests for the whole test
	startWebhookRelay(t, cfg, l.pool, hooks)

	a, b := l.walletOf("alice"), l.walletOf("alice")
	l.fund(context.Background(), a, 100)
	for range 5 {
		status, err := l.transfer(context.Background(), a, b, 1)
		require.NoError(t, err)
		require.Equal(t, 201, status)
	}
	txs, ws := l.journal(context.Background())
	want := len(txs) + 2 // two user wallets; the system wallet's creation names no user wallet of alice
	waitFor(t, 20*time.Second, fmt.Sprintf("%d events at the fast endpoint", want), func() bool { return len(fast.delivered()) >= want })
	waitFor(t, 20*time.Second, "every event on NATS", func() bool { return len(got.unique()) >= len(txs)+len(ws)-countSystem(ws) })
	assert.Positive(t, hanging.Load(), "the slow endpoint got requests")
	assert.Empty(t, slow.snapshot(), "and answered none of them yet: it still hangs")
	// The fast endpoint's last deliveries are marked delivered just after its receiver answered them, so its share
	// of the backlog drains to zero a moment after the count above; the slow endpoint's share stays.
	var backlog webhook.Backlog
	waitFor(t, 20*time.Second, fmt.Sprintf("a backlog of exactly the slow endpoint's %d deliveries", want), func() bool {
		var err error
		backlog, err = webhook.MeasureBacklog(context.Background(), l.pool, time.Now())
		require.NoError(t, err)
		return backlog.Pending == int64(want)
	})
	assert.Positive(t, backlog.OldestAge)
}

func countSystem(ws map[string]string) int {
	n := 0
	for _, kind := range ws {
		if kind == eventstore.KindSystem {
			n++
		}
	}
	return n
}

// After a rotation, deliveries carry two signatures, one per secret, and each verifies.
func TestRotationSendsTwoValidSignatures(t *testing.T) {
	t.Parallel()
	s := hookSettings(t)
	l := webhookLedger(t, s)
	rc := newReceiver(t, nil)
	id, oldSecret := l.endpoint(alice, rc.url(), eventstore.EventWalletCreated)
	out, err := l.cmds.RotateWebhookSecret.Run(context.Background(), alice, idemOf(alice), id)
	require.NoError(t, err)
	require.Equal(t, 200, out.Status, string(out.Body))
	newSecret := secretOf(t, out)
	require.NotEqual(t, oldSecret, newSecret)
	startWebhookRelay(t, testConfig(t, relay.PublisherSQL), l.pool, fastHooks(s))
	l.walletOf("alice")

	waitFor(t, 20*time.Second, "the delivery", func() bool { return len(rc.delivered()) == 1 })
	h := rc.snapshot()[0]
	sigs := strings.Split(h.Signature, " ")
	require.Len(t, sigs, 2, h.Signature)
	for _, secret := range []string{oldSecret, newSecret} {
		assert.NoError(t, verify(h, secret))
		one, err := webhook.Sign(h.ID, time.Unix(mustInt(t, h.Timestamp), 0), h.Body, secret)
		require.NoError(t, err)
		assert.Contains(t, sigs, one, "one signature per secret")
	}
}

func mustInt(t testing.TB, s string) int64 {
	t.Helper()
	var n int64
	_, err := fmt.Sscan(s, &n)
	require.NoError(t, err)
	return n
}

func secretOf(t testing.TB, out command.Outcome) string {
	t.Helper()
	var v webhook.EndpointView
	require.NoError(t, json.Unmarshal(out.Body, &v))
	require.True(t, strings.HasPrefix(v.Secret, "whsec_"), "a clear secret in the answer: %s", out.Body)
	return v.Secret
}

// Endpoints receive the events of their owner's wallets (an admin's receive every event), of the types they
// asked for: never another owner's.
func TestEndpointsReceiveOnlyWhatTheirOwnerMaySee(t *testing.T) {
	t.Parallel()
	s := hookSettings(t)
	l := webhookLedger(t, s)
	aliceAll, aliceTx, bobAll, adminAll := newReceiver(t, nil), newReceiver(t, nil), newReceiver(t, nil), newReceiver(t, nil)
	l.endpoint(alice, aliceAll.url())
	l.endpoint(alice, aliceTx.url(), eventstore.EventTransactionCommitted)
	l.endpoint(bob, bobAll.url())
	l.endpoint(admin, adminAll.url())
	startWebhookRelay(t, testConfig(t, relay.PublisherSQL), l.pool, fastHooks(s))

	ctx := context.Background()
	a1, a2, b1 := l.walletOf("alice"), l.walletOf("alice"), l.walletOf("bob")
	l.fund(ctx, a1, 100)
	l.fund(ctx, b1, 100)
	for _, tr := range [][2]uuid.UUID{{a1, a2}, {b1, a1}} {
		status, err := l.transfer(ctx, tr[0], tr[1], 5)
		require.NoError(t, err)
		require.Equal(t, 201, status)
	}
	// Alice's wallets: 2 creations, 1 funding, 2 transfers. Bob's: 1 creation, 1 funding, 1 transfer (to alice).
	// Every event: 3 wallet creations, 2 fundings, 2 transfers.
	waitFor(t, 20*time.Second, "every event at the admin's endpoint", func() bool { return len(adminAll.delivered()) >= 7 })
	waitFor(t, 20*time.Second, "alice's and bob's events", func() bool {
		return len(aliceAll.delivered()) >= 5 && len(aliceTx.delivered()) >= 3 && len(bobAll.delivered()) >= 3
	})
	time.Sleep(300 * time.Millisecond) // nothing more comes
	mine := map[uuid.UUID]string{a1: "alice", a2: "alice", b1: "bob"}
	for name, rc := range map[string]*receiver{"alice": aliceAll, "alice (transactions)": aliceTx, "bob": bobAll} {
		owner := strings.Fields(name)[0]
		for _, h := range rc.snapshot() {
			seesOwn := false
			for _, w := range append(h.Event.WalletIDs, ptrID(h.Event.WalletID)...) {
				seesOwn = seesOwn || mine[w] == owner
			}
			assert.True(t, seesOwn, "%s's endpoint got %s %s, which names none of %s's wallets", name, h.Event.Type, h.ID, owner)
		}
	}
	for _, h := range aliceTx.snapshot() {
		assert.Equal(t, eventstore.EventTransactionCommitted, h.Event.Type)
	}
	for _, rc := range []*receiver{aliceAll, aliceTx, bobAll, adminAll} {
		rc.checkDocumented(t)
	}
	assert.Len(t, aliceAll.delivered(), 5)
	assert.Len(t, aliceTx.delivered(), 3)
	assert.Len(t, bobAll.delivered(), 3)
	assert.Len(t, adminAll.delivered(), 7)
}

func ptrID(id *uuid.UUID) []uuid.UUID {
	if id == nil {
		return nil
	}
	return []uuid.UUID{*id}
}

// A delivery the receiver refuses for the whole schedule ends failed; re-sent by hand, it is delivered.
func TestDeliveryFailsAfterItsScheduleAndCanBeResent(t *testing.T) {
	t.Parallel()
	s := hookSettings(t)
	l := webhookLedger(t, s)
	var accept atomic.Bool
	rc := newReceiver(t, func(int, hit) int {
		if accept.Load() {
			return http.StatusNoContent
		}
		return http.StatusServiceUnavailable
	})
	id, _ := l.endpoint(alice, rc.url(), eventstore.EventWalletCreated)
	hooks := fastHooks(s)
	hooks.Schedule.Window = 400 * time.Millisecond
	startWebhookRelay(t, testConfig(t, relay.PublisherSQL), l.pool, hooks)
	l.walletOf("alice")

	waitFor(t, 20*time.Second, "the delivery to fail", func() bool {
		d := deliveriesOf(t, l.pool, id)
		return len(d) == 1 && d[0].Status == webhook.DeliveryFailed
	})
	failed := deliveriesOf(t, l.pool, id)[0]
	assert.GreaterOrEqual(t, failed.Attempts, 2)
	require.NotNil(t, failed.Code)
	assert.Equal(t, 503, *failed.Code)
	attempts := len(rc.snapshot())
	time.Sleep(300 * time.Millisecond)
	assert.Len(t, rc.snapshot(), attempts, "a failed delivery is not sent again by itself")

	accept.Store(true)
	var deliveryID uuid.UUID
	require.NoError(t, l.pool.QueryRow(context.Background(), `SELECT delivery_id FROM webhook_deliveries WHERE endpoint_id = $1`, id).Scan(&deliveryID))
	out, err := l.cmds.ResendWebhookDelivery.Run(context.Background(), alice, idemOf(alice), command.ResendWebhookDelivery{EndpointID: id, DeliveryID: deliveryID})
	require.NoError(t, err)
	require.Equal(t, 200, out.Status, string(out.Body))
	waitFor(t, 20*time.Second, "the re-sent delivery", func() bool {
		return deliveriesOf(t, l.pool, id)[0].Status == webhook.DeliveryDelivered
	})
	assert.Len(t, rc.delivered(), 1)

	// Another owner can neither re-send it nor learn it exists.
	out, err = l.cmds.ResendWebhookDelivery.Run(context.Background(), bob, idemOf(bob), command.ResendWebhookDelivery{EndpointID: id, DeliveryID: deliveryID})
	require.NoError(t, err)
	assert.Equal(t, 404, out.Status)
	assert.Contains(t, string(out.Body), webhook.CodeEndpointNotFound)
}

// An endpoint that fails continuously for WEBHOOK_DISABLE_AFTER is disabled, and a webhook_endpoint.disabled
// event says so: its owner's other endpoints receive it.
func TestEndpointFailingContinuouslyIsDisabled(t *testing.T) {
	t.Parallel()
	s := hookSettings(t)
	l := webhookLedger(t, s)
	dead := newReceiver(t, func(int, hit) int { return http.StatusBadGateway })
	watcher := newReceiver(t, nil)
	deadID, _ := l.endpoint(alice, dead.url(), eventstore.EventWalletCreated)
	l.endpoint(alice, watcher.url(), eventstore.EventWebhookEndpointDisabled)
	hooks := fastHooks(s)
	hooks.DisableAfter = 500 * time.Millisecond
	startWebhookRelay(t, testConfig(t, relay.PublisherSQL), l.pool, hooks)
	l.walletOf("alice")

	waitFor(t, 20*time.Second, "the watcher to hear of the disabled endpoint", func() bool { return len(watcher.delivered()) == 1 })
	ev := watcher.snapshot()[0].Event
	watcher.checkDocumented(t)
	assert.Equal(t, eventstore.EventWebhookEndpointDisabled, ev.Type)
	require.NotNil(t, ev.EndpointID)
	assert.Equal(t, deadID, *ev.EndpointID)
	assert.Equal(t, "alice", ev.Owner)
	assert.NotEmpty(t, ev.Reason)
	var status, reason string
	require.NoError(t, l.pool.QueryRow(context.Background(), `SELECT status, disabled_reason FROM webhook_endpoints
		WHERE endpoint_id = $1`, deadID).Scan(&status, &reason))
	assert.Equal(t, webhook.StatusDisabled, status)
	assert.Equal(t, webhook.ReasonFailing, reason)
	sent := len(dead.snapshot())
	time.Sleep(300 * time.Millisecond)
	assert.Len(t, dead.snapshot(), sent, "nothing is sent to a disabled endpoint")
	assert.Equal(t, webhook.DeliveryPending, deliveriesOf(t, l.pool, deadID)[0].Status, "its delivery waits for it")

	// Deleted, it will never be sent to again: its pending delivery fails.
	require.NoError(t, l.cmds.DeleteWebhookEndpoint(context.Background(), alice, deadID))
	require.NoError(t, l.cmds.DeleteWebhookEndpoint(context.Background(), alice, deadID), "deleting again is fine")
	assert.Equal(t, webhook.DeliveryFailed, deliveriesOf(t, l.pool, deadID)[0].Status)
	var secret []byte
	require.NoError(t, l.pool.QueryRow(context.Background(), `SELECT secret FROM webhook_endpoints WHERE endpoint_id = $1`, deadID).Scan(&secret))
	assert.Nil(t, secret, "a deleted endpoint's secret is erased")
}
