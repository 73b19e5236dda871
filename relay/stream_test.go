package relay_test

import (
	"context"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentic-commerce/wallet-ledger/relay"
)

func TestStreamMaxAgeConfig(t *testing.T) {
	for _, tc := range []struct {
		value   string
		want    time.Duration
		wantErr bool
	}{
		{"", 0, false},
		{"0", 0, false},
		{"72h", 72 * time.Hour, false},
		{"2m", 2 * time.Minute, false},
		{"90s", 0, true}, // shorter than the duplicate window: JetStream would refuse the stream
		{"-1h", 0, true},
		{"3d", 0, true},
	} {
		t.Run(tc.value, func(t *testing.T) {
			t.Setenv("NATS_STREAM_MAX_AGE", tc.value)
			c, err := relay.LoadConfig()
			if tc.wantErr {
				require.ErrorContains(t, err, "NATS_STREAM_MAX_AGE")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, c.StreamMaxAge)
		})
	}
}

func TestPageGatherConfig(t *testing.T) {
	for _, tc := range []struct {
		value   string
		want    time.Duration
		wantErr bool
	}{
		{"", relay.DefaultPageGather, false},
		{"0", 0, false},
		{"20ms", 20 * time.Millisecond, false},
		{"1s", time.Second, false},
		{"2s", 0, true}, // a relay that keeps up would lag by it: refused
		{"-1ms", 0, true},
		{"soon", 0, true},
	} {
		t.Run(tc.value, func(t *testing.T) {
			t.Setenv("RELAY_PAGE_GATHER", tc.value)
			c, err := relay.LoadConfig()
			if tc.wantErr {
				require.ErrorContains(t, err, "RELAY_PAGE_GATHER")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, c.PageGather)
		})
	}
}

// The relay creates its stream with the configured MaxAge, so the broker discards old events instead of keeping
// every one forever.
func TestStreamIsCreatedWithMaxAge(t *testing.T) {
	ctx := context.Background()
	cfg := testConfig(t, relay.PublisherNATS)
	cfg.StreamMaxAge = 3 * time.Hour
	down, err := relay.NewDownstream(cfg, nil, watermill.NopLogger{})
	require.NoError(t, err)
	defer down.Close()
	require.NoError(t, down.Ready(ctx))

	nc, err := nats.Connect(natsURL())
	require.NoError(t, err)
	defer nc.Close()
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	t.Cleanup(func() { _ = js.DeleteStream(context.Background(), cfg.NATSStream) })
	s, err := js.Stream(ctx, cfg.NATSStream)
	require.NoError(t, err)
	info, err := s.Info(ctx)
	require.NoError(t, err)
	assert.Equal(t, 3*time.Hour, info.Config.MaxAge)
	assert.Equal(t, 2*time.Minute, info.Config.Duplicates)
}
