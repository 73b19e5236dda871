package eventstore_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentic-commerce/wallet-ledger/eventstore"
)

func TestStampOutboxAddsMetadataToEveryQueuedEvent(t *testing.T) {
	b := &pgx.Batch{}
	b.Queue(`SELECT 1`)
	w := eventstore.Wallet{ID: uuid.New(), Asset: "USD", Owner: "o", Kind: eventstore.KindUser, CreatedAt: time.Now()}
	events := []eventstore.Event{eventstore.NewWalletEvent(w, "o"), eventstore.NewWalletEvent(w, "o")}
	require.NoError(t, eventstore.QueueEvents(b, events, nil))
	require.NoError(t, eventstore.StampOutbox(b, map[string]string{"traceparent": "00-abc-def-01", "event_type": "forged"}))

	outbox := b.QueuedQueries[1]
	require.Len(t, outbox.Arguments, 6)
	for _, i := range []int{2, 5} {
		var meta map[string]string
		require.NoError(t, json.Unmarshal(outbox.Arguments[i].([]byte), &meta))
		assert.Equal(t, "00-abc-def-01", meta["traceparent"])
		assert.Equal(t, eventstore.EventWalletCreated, meta["event_type"], "an event's own metadata wins")
	}
	assert.Empty(t, b.QueuedQueries[0].Arguments, "other statements are left alone")
}
