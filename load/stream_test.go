package load_test

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentic-commerce/wallet-ledger/internal/pgtest"
	"github.com/agentic-commerce/wallet-ledger/load"
	"github.com/agentic-commerce/wallet-ledger/migrations"
)

// The load suite's delivery check: on a real database and a real JetStream stream, it tells an event delivered
// once from one missing, one delivered twice (past the stream's duplicate window) and a message of no event.
func TestCheckStream(t *testing.T) {
	ctx := context.Background()
	natsURL := os.Getenv("NATS_URL")
	if natsURL == "" {
		natsURL = nats.DefaultURL
	}
	dbURL := pgtest.NewDatabase(t, migrations.Apply)
	conn, err := pgx.Connect(ctx, dbURL)
	require.NoError(t, err)
	defer conn.Close(ctx)
	events := []string{uuid.NewString(), uuid.NewString(), uuid.NewString()}
	for _, id := range events {
		_, err := conn.Exec(ctx, `INSERT INTO outbox_events (uuid, transaction_id) VALUES ($1, pg_current_xact_id())`, id)
		require.NoError(t, err)
	}

	nc, err := nats.Connect(natsURL, nats.Timeout(3*time.Second))
	require.NoError(t, err, "the load tests need NATS JetStream at %s (scripts/ensure_nats.sh)", natsURL)
	defer nc.Close()
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	name := "LOADCHECK_" + strings.ReplaceAll(uuid.NewString(), "-", "")
	subject := strings.ToLower(name) + ".wallet_events"
	// A short duplicate window, so that a second copy can be stored on purpose.
	const window = 200 * time.Millisecond
	_, err = js.CreateStream(ctx, jetstream.StreamConfig{Name: name, Subjects: []string{subject}, Duplicates: window,
		Storage: jetstream.MemoryStorage})
	require.NoError(t, err)
	t.Cleanup(func() { _ = js.DeleteStream(context.Background(), name) })
	publish := func(id string) {
		t.Helper()
		msg := nats.NewMsg(subject)
		msg.Header.Set(nats.MsgIdHdr, id)
		msg.Data = []byte(`{}`)
		_, err := js.PublishMsg(ctx, msg)
		require.NoError(t, err)
	}
	check := func() load.StreamReport {
		t.Helper()
		r, err := load.CheckStream(ctx, dbURL, natsURL, name)
		require.NoError(t, err)
		return r
	}

	r := check()
	assert.Equal(t, load.StreamReport{Events: 3, Missing: 3}, r, "an empty stream misses every event")
	assert.False(t, r.OK())

	publish(events[0])
	publish(events[1])
	r = check()
	assert.Equal(t, load.StreamReport{Events: 3, Messages: 2, Missing: 1}, r)

	publish(events[2])
	publish(events[2]) // within the window: JetStream drops it
	r = check()
	assert.Equal(t, load.StreamReport{Events: 3, Messages: 3}, r)
	assert.True(t, r.OK(), "%s", r)

	time.Sleep(2 * window)
	publish(events[1]) // past the window: a second copy
	publish(uuid.NewString())
	r = check()
	assert.Equal(t, load.StreamReport{Events: 3, Messages: 5, Duplicates: 1, Unknown: 1}, r)
	assert.False(t, r.OK())

	require.NoError(t, load.PurgeStream(ctx, natsURL, name))
	assert.Equal(t, load.StreamReport{Events: 3, Missing: 3}, check())
	require.NoError(t, load.PurgeStream(ctx, natsURL, name+"_NONE"), "a stream that does not exist yet is left so")
	_, err = load.CheckStream(ctx, dbURL, natsURL, name+"_NONE")
	assert.Error(t, err, "checking a stream that does not exist is an error, not a pass")
}
