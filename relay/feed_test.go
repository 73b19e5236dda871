package relay_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentic-commerce/wallet-ledger/eventstore"
	"github.com/agentic-commerce/wallet-ledger/relay"
)

// readAll pages through the feed from after to its current end, limit events a page.
func readAll(t testing.TB, l *ledger, after int64, limit int) ([]received, int64) {
	t.Helper()
	var out []received
	for {
		page, err := eventstore.ReadFeed(context.Background(), l.pool, eventstore.FeedQuery{After: after, Limit: limit})
		require.NoError(t, err)
		for _, raw := range page.Events {
			var ev eventstore.Event
			require.NoError(t, json.Unmarshal(raw, &ev))
			out = append(out, received{ID: ev.EventID.String(), Type: ev.Type, Payload: ev})
		}
		require.GreaterOrEqual(t, page.Next, after, "the cursor never goes back")
		after = page.Next
		if !page.HasMore {
			return out, after
		}
	}
}

// A client paging through the feed from the start while transfers commit concurrently sees every committed event
// exactly once, in journal order for every wallet, and in the very order a later reader sees.
func TestFeedPagedUnderConcurrentWritesSeesEveryEventOnceInOrder(t *testing.T) {
	t.Parallel()
	s := hookSettings(t)
	l := webhookLedger(t, s)
	wallets := fundedWallets(t, l, 6)
	startWebhookRelay(t, testConfig(t, relay.PublisherSQL), l.pool, fastHooks(s))

	stop := make(chan struct{})
	wait := writeLoad(t, l, wallets, 4, stop)
	var seen []received
	var after int64
	deadline := time.Now().Add(1500 * time.Millisecond)
	for time.Now().Before(deadline) {
		got, next := readAll(t, l, after, 7)
		seen, after = append(seen, got...), next
		time.Sleep(10 * time.Millisecond)
	}
	close(stop)
	committed := wait()
	require.Positive(t, committed)

	txs, ws := l.journal(context.Background())
	want := len(txs) + len(wallets)
	waitFor(t, 30*time.Second, fmt.Sprintf("the feed to hold %d events", want), func() bool {
		got, next := readAll(t, l, after, 7)
		seen, after = append(seen, got...), next
		return len(seen) >= want
	})
	time.Sleep(200 * time.Millisecond)
	got, _ := readAll(t, l, after, 7)
	seen = append(seen, got...)

	ids := map[string]int{}
	for _, r := range seen {
		ids[r.ID]++
	}
	for id, n := range ids {
		assert.Equal(t, 1, n, "event %s seen %d times", id, n)
	}
	checkExactlyTheJournal(t, seen, txs, ws)
	checkWalletOrder(t, seen)
	later, _ := readAll(t, l, 0, 500)
	require.Len(t, later, len(seen))
	for i := range later {
		if later[i].ID != seen[i].ID {
			t.Fatalf("event %d: %s while paging, %s when read again", i, seen[i].ID, later[i].ID)
		}
	}
	t.Logf("%d transfers committed while paging; %d events seen once each, in order", committed, len(seen))
}

// The feed keeps events the relay has pruned from the outbox.
func TestFeedOutlivesOutboxPruning(t *testing.T) {
	t.Parallel()
	s := hookSettings(t)
	l := webhookLedger(t, s)
	fundedWallets(t, l, 2)
	r := startWebhookRelay(t, testConfig(t, relay.PublisherSQL), l.pool, fastHooks(s))
	waitDrained(t, r, 10*time.Second)
	waitFor(t, 10*time.Second, "the feed to hold the 4 events", func() bool {
		got, _ := readAll(t, l, 0, 100)
		return len(got) == 4
	})
	// This relay runs no read side; without its checkpoints only the Watermill groups hold rows back.
	_, err := l.pool.Exec(context.Background(), `DELETE FROM read_side_checkpoints`)
	require.NoError(t, err)
	res, err := relay.PruneOutbox(context.Background(), l.pool, relay.PruneOptions{OlderThan: time.Nanosecond})
	require.NoError(t, err)
	require.EqualValues(t, 4, res.Deleted, "the outbox is pruned")
	got, _ := readAll(t, l, 0, 100)
	assert.Len(t, got, 4, "the feed still has every event")
}
