package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentic-commerce/wallet-ledger/client"
	"github.com/agentic-commerce/wallet-ledger/internal/auth"
	"github.com/agentic-commerce/wallet-ledger/internal/docblock"
	"github.com/agentic-commerce/wallet-ledger/internal/pgtest"
	"github.com/agentic-commerce/wallet-ledger/relay"
)

// startWebhookRelay runs the relay, with webhooks configured from the environment, on the test database until
// the test ends.
func startWebhookRelay(t *testing.T) {
	t.Helper()
	hooks, err := relay.LoadWebhookConfig(os.Getenv)
	require.NoError(t, err)
	hooks.PollInterval, hooks.LagInterval = 20*time.Millisecond, 50*time.Millisecond
	cfg := relay.Config{Publisher: relay.PublisherSQL, PollInterval: 20 * time.Millisecond}
	pool := pgtest.Pool(t)
	down, err := relay.NewDownstream(cfg, pool, nil)
	require.NoError(t, err)
	rl, err := relay.New(cfg, pool, down, relay.WithWebhooks(hooks),
		relay.WithLogger(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))))
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer down.Close()
		_ = rl.Run(ctx)
	}()
	t.Cleanup(func() { cancel(); pgtest.WaitOrTimeout(t, done, 20*time.Second) })
}

// hookSink is a receiver that records the webhook-id of every request and accepts it.
type hookSink struct {
	mu  sync.Mutex
	ids map[string]bool
}

func newHookSink(t *testing.T) (*hookSink, string) {
	s := &hookSink{ids: map[string]bool{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		s.mu.Lock()
		s.ids[r.Header.Get("webhook-id")] = true
		s.mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	return s, srv.URL + "/hooks"
}

func (s *hookSink) got() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for id := range s.ids {
		out = append(out, id)
	}
	slices.Sort(out)
	return out
}

// feed pages through everything c may see in the feed, with q's filters.
func feed(t *testing.T, c *client.Client, q client.EventsQuery) []client.Event {
	t.Helper()
	var out []client.Event
	for {
		p, _, err := c.ListEvents(context.Background(), q)
		require.NoError(t, err)
		out = append(out, p.Data...)
		require.NotEmpty(t, p.NextCursor)
		q.After = p.NextCursor
		if !p.HasMore {
			return out
		}
	}
}

func eventIDs(evs []client.Event) []string {
	out := make([]string, 0, len(evs))
	for _, e := range evs {
		out = append(out, e.EventID)
	}
	slices.Sort(out)
	return out
}

// Another owner's events never appear in a caller's feed nor at its endpoints; an admin's feed has them all.
func TestEventsFeedAndWebhooksShowEachOwnerOnlyItsEvents(t *testing.T) {
	a := webhookAPI(t, true)
	aliceSub, bobSub := uniqueSub("feed-alice"), uniqueSub("feed-bob")
	aliceTok, bobTok := token(t, aliceSub, auth.ScopeRead, auth.ScopeWrite), token(t, bobSub, auth.ScopeRead, auth.ScopeWrite)
	alice, bob := a.newClient(aliceTok, nil, setUpRetry), a.newClient(bobTok, nil, setUpRetry)
	admin := a.admin("feed-ops")
	ctx := context.Background()

	aliceSink, aliceURL := newHookSink(t)
	bobSink, bobURL := newHookSink(t)
	_, _, err := alice.CreateWebhookEndpoint(ctx, client.CreateWebhookEndpointRequest{URL: aliceURL})
	a.requireOK(err, "alice's endpoint")
	bobEP, _, err := bob.CreateWebhookEndpoint(ctx, client.CreateWebhookEndpointRequest{URL: bobURL})
	a.requireOK(err, "bob's endpoint")

	a1, a2, b1 := a.createWallet(aliceTok, "FDX"), a.createWallet(aliceTok, "FDX"), a.createWallet(bobTok, "FDX")
	a.fund(a1, "FDX", 100)
	a.fund(b1, "FDX", 100)
	_, _, err = alice.Transfer(ctx, client.TransferRequest{FromWalletID: a1, ToWalletID: a2, Amount: 5, Asset: "FDX"})
	a.requireOK(err, "alice pays herself")
	_, _, err = bob.Transfer(ctx, client.TransferRequest{FromWalletID: b1, ToWalletID: a1, Amount: 7, Asset: "FDX"})
	a.requireOK(err, "bob pays alice")
	startWebhookRelay(t)

	// Alice: 2 wallets, 1 funding, 2 transfers. Bob: 1 wallet, 1 funding, 1 transfer (to alice).
	var aliceFeed, bobFeed []client.Event
	require.Eventually(t, func() bool {
		aliceFeed, bobFeed = feed(t, alice, client.EventsQuery{Limit: 2}), feed(t, bob, client.EventsQuery{Limit: 2})
		return len(aliceFeed) >= 5 && len(bobFeed) >= 3
	}, 20*time.Second, 50*time.Millisecond, "the relay to fill the feed")
	time.Sleep(200 * time.Millisecond)
	aliceFeed, bobFeed = feed(t, alice, client.EventsQuery{Limit: 2}), feed(t, bob, client.EventsQuery{}) // nothing more
	require.Len(t, aliceFeed, 5)
	require.Len(t, bobFeed, 3)
	names := func(ev client.Event, w string) bool { return ev.WalletID == w || slices.Contains(ev.WalletIDs, w) }
	for _, ev := range aliceFeed {
		assert.True(t, names(ev, a1) || names(ev, a2), "alice sees %s %s, which names none of her wallets", ev.Type, ev.EventID)
	}
	for _, ev := range bobFeed {
		assert.True(t, names(ev, b1), "bob sees %s %s, which names none of his wallets", ev.Type, ev.EventID)
	}
	all := eventIDs(feed(t, admin, client.EventsQuery{Limit: 500}))
	for _, id := range append(eventIDs(aliceFeed), eventIDs(bobFeed)...) {
		_, found := slices.BinarySearch(all, id)
		assert.True(t, found, "the admin's feed has %s", id)
	}

	// Filters narrow what the caller may see; they never widen it.
	both := feed(t, alice, client.EventsQuery{WalletID: b1})
	require.Len(t, both, 1, "of bob's wallet, alice sees only his payment to her")
	assert.Equal(t, "transaction.committed", both[0].Type)
	assert.Len(t, feed(t, alice, client.EventsQuery{Type: "wallet.created"}), 2)
	assert.Empty(t, feed(t, bob, client.EventsQuery{WalletID: a2}))

	// The endpoints got exactly their owner's events.
	require.Eventually(t, func() bool { return len(aliceSink.got()) >= 5 && len(bobSink.got()) >= 3 },
		20*time.Second, 50*time.Millisecond, "the deliveries")
	time.Sleep(200 * time.Millisecond)
	assert.Equal(t, eventIDs(aliceFeed), aliceSink.got())
	assert.Equal(t, eventIDs(bobFeed), bobSink.got())
	require.Eventually(t, func() bool {
		l, _, err := bob.ListWebhookDeliveries(ctx, bobEP.EndpointID, "delivered", 0, "")
		require.NoError(t, err)
		return len(l.Deliveries) == 3
	}, 10*time.Second, 50*time.Millisecond, "bob's deliveries recorded as delivered")
	l, _, err := bob.ListWebhookDeliveries(ctx, bobEP.EndpointID, "", 2, "")
	require.NoError(t, err)
	require.Len(t, l.Deliveries, 2)
	require.NotNil(t, l.NextCursor)
	rest, _, err := bob.ListWebhookDeliveries(ctx, bobEP.EndpointID, "", 2, *l.NextCursor)
	require.NoError(t, err)
	require.Len(t, rest.Deliveries, 1)
	assert.Nil(t, rest.NextCursor)
	_, _, err = alice.ListWebhookDeliveries(ctx, bobEP.EndpointID, "", 0, "")
	assert.True(t, client.IsCode(err, client.CodeWebhookEndpointNotFound), "%v", err)

	// A delivery re-sent through the API arrives again with the same webhook-id.
	d := rest.Deliveries[0]
	again, _, err := bob.RetryWebhookDelivery(ctx, bobEP.EndpointID, d.DeliveryID)
	a.requireOK(err, "retry")
	assert.Equal(t, "pending", again.Status)
	require.Eventually(t, func() bool {
		l, _, err := bob.ListWebhookDeliveries(ctx, bobEP.EndpointID, "delivered", 0, "")
		require.NoError(t, err)
		for _, x := range l.Deliveries {
			if x.DeliveryID == d.DeliveryID && x.Attempts == 2 {
				return true
			}
		}
		return false
	}, 10*time.Second, 50*time.Millisecond, "the re-sent delivery")
	_, err = bob.DeleteWebhookEndpoint(ctx, bobEP.EndpointID)
	a.requireOK(err, "delete")
	_, err = bob.DeleteWebhookEndpoint(ctx, bobEP.EndpointID)
	a.requireOK(err, "delete again")
	raw, _ := json.Marshal(aliceFeed[0])
	t.Logf("an event of the feed: %s", raw)
}

// docs/webhooks.md's events-feed example, run as written: the first page of the caller's events, then the page
// after a cursor.
func TestEventsFeedExampleWorksAsWritten(t *testing.T) {
	block := docblock.Find(t, "../../docs/webhooks.md", "events-feed")
	a := newAPI(t)
	startWebhookRelay(t)
	sub := "feed-reader-" + newKey()
	tok := token(t, sub, auth.ScopeRead, auth.ScopeWrite)
	wallet := a.createWallet(tok, "USD")
	require.Eventually(t, func() bool {
		r := a.get(tok, "/v1/events")
		return r.Status == http.StatusOK && len(r.JSON(t)["data"].([]any)) == 1
	}, patience, 50*time.Millisecond, "the wallet's event reaches the feed")

	t.Setenv("TOKEN", tok)
	out := runDocBlock(t, block, a.base)
	// curl prints each page as it came, without a newline between them.
	dec := json.NewDecoder(strings.NewReader(out))
	var first, second EventsPage
	require.NoError(t, dec.Decode(&first), out)
	require.NoError(t, dec.Decode(&second), out)
	assert.False(t, dec.More(), "two pages: %s", out)
	require.Len(t, first.Data, 1)
	assert.Equal(t, "wallet.created", first.Data[0]["type"])
	assert.Equal(t, wallet, first.Data[0]["wallet_id"])
	assert.NotEmpty(t, first.NextCursor)
	assert.NotNil(t, second.Data, "the page after a cursor is a page too")
}

// EventsPage is the feed's envelope as the example prints it.
type EventsPage struct {
	Data       []map[string]any `json:"data"`
	NextCursor string           `json:"next_cursor"`
	HasMore    bool             `json:"has_more"`
}
