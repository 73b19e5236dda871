package client

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The end-to-end behaviour (retries against a real wallet-api with its database down, a lost response, typed
// refusals) is tested in cmd/wallet-api/client_test.go, where a real server can start. This checks the arithmetic.
func TestBackoffIsBoundedJitteredAndHonoursRetryAfter(t *testing.T) {
	c, err := New("http://localhost:8080", WithRetry(Retry{Attempts: 5, BaseDelay: 10 * time.Millisecond, MaxDelay: 80 * time.Millisecond}))
	require.NoError(t, err)
	seen := map[time.Duration]bool{}
	for attempt := 1; attempt <= 10; attempt++ {
		ceiling := min(10*time.Millisecond<<(attempt-1), 80*time.Millisecond)
		for range 200 {
			d := c.backoff(attempt, 0)
			require.Greater(t, d, time.Duration(0))
			require.LessOrEqual(t, d, ceiling)
			seen[d] = true
		}
	}
	assert.Greater(t, len(seen), 50, "full jitter spreads the waits")
	assert.Equal(t, 30*time.Millisecond, max(c.backoff(1, 30*time.Millisecond), 30*time.Millisecond))
	assert.GreaterOrEqual(t, c.backoff(1, 30*time.Millisecond), 30*time.Millisecond, "Retry-After is a floor")
	assert.Equal(t, 80*time.Millisecond, c.backoff(1, time.Second), "MaxDelay caps Retry-After")
}

func TestNewRefusesABadBaseURL(t *testing.T) {
	for _, u := range []string{"", "localhost:8080", "ftp://x", "http://"} {
		_, err := New(u)
		assert.Error(t, err, u)
	}
	c, err := New("http://localhost:8080/")
	require.NoError(t, err)
	assert.Equal(t, "http://localhost:8080", c.base.String())
}

// A key the API would refuse is refused before anything is sent: nothing to retry, nothing to wait for.
func TestInvalidKeyIsRefusedBeforeSending(t *testing.T) {
	c, err := New("http://127.0.0.1:1", WithRetry(Retry{Attempts: 5, BaseDelay: time.Second, MaxDelay: time.Second}))
	require.NoError(t, err)
	for _, key := range []string{"a\r\nX-Evil: 1", strings.Repeat("k", 256), "clé"} {
		_, resp, err := c.Transfer(context.Background(), TransferRequest{Amount: 1}, WithIdempotencyKey(key))
		require.ErrorIs(t, err, ErrInvalidIdempotencyKey, "%q", key)
		assert.Zero(t, resp.Attempts, "nothing was sent")
		assert.Equal(t, key, resp.IdempotencyKey)
	}
}
