package relay_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentic-commerce/wallet-ledger/relay"
)

// topicEvent is one event of the SQL topic as the prune tests see it.
type topicEvent struct {
	XID    string
	Offset int64
}

func (l *ledger) topic(ctx context.Context) []topicEvent {
	l.t.Helper()
	rows, err := l.pool.Query(ctx, `SELECT transaction_id::text AS xid, "offset" FROM watermill_wallet_events
		ORDER BY transaction_id, "offset"`)
	require.NoError(l.t, err)
	var out []topicEvent
	for rows.Next() {
		var e topicEvent
		require.NoError(l.t, rows.Scan(&e.XID, &e.Offset))
		out = append(out, e)
	}
	require.NoError(l.t, rows.Err())
	return out
}

func (l *ledger) setTopicGroup(ctx context.Context, group string, e topicEvent) {
	l.t.Helper()
	_, err := l.pool.Exec(ctx, `INSERT INTO watermill_offsets_wallet_events (consumer_group, offset_acked, last_processed_transaction_id)
		VALUES ($1, $2, $3::xid8) ON CONFLICT (consumer_group) DO UPDATE
		SET offset_acked = excluded.offset_acked, last_processed_transaction_id = excluded.last_processed_transaction_id`,
		group, e.Offset, e.XID)
	require.NoError(l.t, err)
}

// Events are deleted only once every downstream consumer group has read them and they are older than the
// retention; a group that read nothing holds everything; with no group at all only the age counts; the walk stops
// at the first batch holding a young event.
func TestPruneSQLTopicDeletesOnlyWhatEveryGroupRead(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l := newLedger(t)
	// Nine events in nine publishing transactions, all eight days old but the seventh.
	for i := 1; i <= 9; i++ {
		age := "8 days"
		if i == 7 {
			age = "0 seconds"
		}
		_, err := l.pool.Exec(ctx, `INSERT INTO watermill_wallet_events (uuid, payload, metadata, transaction_id, created_at)
			VALUES ($1, '{}', '{}', $2::xid8, LOCALTIMESTAMP - $3::interval)`, uuid.NewString(), fmt.Sprint(1000+i), age)
		require.NoError(t, err)
	}
	events := l.topic(ctx)
	require.Len(t, events, 9)
	left := func() (n []int) {
		for _, e := range l.topic(ctx) {
			for i, orig := range events {
				if e == orig {
					n = append(n, i+1)
				}
			}
		}
		return n
	}
	week := relay.TopicPruneOptions{OlderThan: 7 * 24 * time.Hour, BatchSize: 2}

	_, err := relay.PruneSQLTopic(ctx, l.pool, relay.TopicPruneOptions{})
	require.Error(t, err, "an age of zero would prune everything read; refused")
	_, err = relay.PruneSQLTopic(ctx, l.pool, relay.TopicPruneOptions{OlderThan: time.Hour, Topic: "wallet_events; DROP TABLE x"})
	require.Error(t, err)

	l.setTopicGroup(ctx, "billing", events[2])   // read 1..3
	l.setTopicGroup(ctx, "analytics", events[4]) // read 1..5
	n, err := relay.PruneSQLTopic(ctx, l.pool, week)
	require.NoError(t, err)
	assert.EqualValues(t, 3, n)
	assert.Equal(t, []int{4, 5, 6, 7, 8, 9}, left(), "the slowest group holds the rest")

	l.setTopicGroup(ctx, "late", topicEvent{XID: "0", Offset: 0})
	n, err = relay.PruneSQLTopic(ctx, l.pool, week)
	require.NoError(t, err)
	assert.Zero(t, n, "a group that read nothing holds every event")

	_, err = l.pool.Exec(ctx, `DELETE FROM watermill_offsets_wallet_events WHERE consumer_group = 'late'`)
	require.NoError(t, err)
	l.setTopicGroup(ctx, "billing", events[8])
	l.setTopicGroup(ctx, "analytics", events[8])
	n, err = relay.PruneSQLTopic(ctx, l.pool, week)
	require.NoError(t, err)
	assert.EqualValues(t, 3, n)
	assert.Equal(t, []int{7, 8, 9}, left(), "the walk stops at the batch of the young event (7, 8)")

	_, err = l.pool.Exec(ctx, `DELETE FROM watermill_offsets_wallet_events`)
	require.NoError(t, err)
	n, err = relay.PruneSQLTopic(ctx, l.pool, relay.TopicPruneOptions{OlderThan: 7 * 24 * time.Hour})
	require.NoError(t, err)
	assert.EqualValues(t, 2, n)
	assert.Equal(t, []int{7}, left(), "with no group only the age holds an event")
}

// The floor is the slowest group's cursor in xid order: a group at xid 99 holds the event of xid 100 even though
// "100" sorts before "99" as text.
func TestPruneSQLTopicFloorInXidOrder(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l := newLedger(t)
	for _, xid := range []string{"99", "100", "101"} {
		_, err := l.pool.Exec(ctx, `INSERT INTO watermill_wallet_events (uuid, payload, metadata, transaction_id, created_at)
			VALUES ($1, '{}', '{}', $2::xid8, LOCALTIMESTAMP - '8 days'::interval)`, uuid.NewString(), xid)
		require.NoError(t, err)
	}
	events := l.topic(ctx)
	require.Len(t, events, 3)
	require.Equal(t, "99", events[0].XID)
	l.setTopicGroup(ctx, "slow", events[0])
	l.setTopicGroup(ctx, "fast", events[2])
	n, err := relay.PruneSQLTopic(ctx, l.pool, relay.TopicPruneOptions{OlderThan: 7 * 24 * time.Hour})
	require.NoError(t, err)
	assert.EqualValues(t, 1, n, "only what the slow group read")
	assert.Equal(t, events[1:], l.topic(ctx))
}

// A relay publishing to the SQL topic prunes it on schedule: what its downstream group has read goes once older
// than the retention, what it has not read stays.
func TestRelayPrunesTheSQLTopicItPublishesTo(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l := newLedger(t)
	l.setTopicGroup(ctx, "downstream", topicEvent{XID: "0", Offset: 0})
	cfg := testConfig(t, relay.PublisherSQL)
	cfg.TopicRetention, cfg.PruneInterval = time.Millisecond, 50*time.Millisecond
	r := startRelay(t, cfg, l.pool)
	for range 5 {
		l.wallet(ctx)
	}
	waitDrained(t, r, 30*time.Second)
	time.Sleep(200 * time.Millisecond) // several prune passes
	events := l.topic(ctx)
	require.Len(t, events, 5, "unread by the downstream group, every event stays")

	l.setTopicGroup(ctx, "downstream", events[len(events)-1])
	waitFor(t, 30*time.Second, "the read events to be pruned", func() bool { return len(l.topic(ctx)) == 0 })
}

func TestTopicRetentionConfig(t *testing.T) {
	for _, tc := range []struct {
		value   string
		want    time.Duration
		wantErr bool
	}{
		{"", relay.DefaultTopicRetention, false},
		{"0", 0, false},
		{"24h", 24 * time.Hour, false},
		{"-1h", 0, true},
		{"a week", 0, true},
	} {
		t.Run(tc.value, func(t *testing.T) {
			t.Setenv("RELAY_SQL_TOPIC_RETENTION", tc.value)
			c, err := relay.LoadConfig()
			if tc.wantErr {
				require.ErrorContains(t, err, "RELAY_SQL_TOPIC_RETENTION")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, c.TopicRetention)
		})
	}
}
