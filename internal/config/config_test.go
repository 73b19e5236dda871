package config

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRateLimitSettings(t *testing.T) {
	t.Setenv("JWT_SECRET", "a-secret-of-sixteen-bytes")
	c, err := Load()
	require.NoError(t, err)
	def := Budget{Rate: DefaultRateLimitRPS, Burst: DefaultRateLimitBurst}
	assert.Equal(t, RateLimit{Read: def, Write: def}, c.RateLimit, "defaults: one shared bucket")

	t.Setenv("RATE_LIMIT_RPS", "2.5")
	t.Setenv("RATE_LIMIT_BURST", "7")
	c, err = Load()
	require.NoError(t, err)
	assert.Equal(t, RateLimit{Read: Budget{2.5, 7}, Write: Budget{2.5, 7}}, c.RateLimit)

	t.Setenv("RATE_LIMIT_WRITE_RPS", "1")
	c, err = Load()
	require.NoError(t, err)
	assert.Equal(t, RateLimit{Read: Budget{2.5, 7}, Write: Budget{1, 7}, Split: true}, c.RateLimit,
		"one per-class setting splits the buckets; the others default to the common budget")

	for name, value := range map[string]string{"RATE_LIMIT_RPS": "0", "RATE_LIMIT_BURST": "-1",
		"RATE_LIMIT_READ_RPS": "fast", "RATE_LIMIT_WRITE_BURST": "1.5", "RATE_LIMIT_READ_BURST": "0"} {
		t.Run(name, func(t *testing.T) {
			t.Setenv(name, value)
			_, err := Load()
			assert.ErrorContains(t, err, name)
		})
	}
}

func TestCursorSecret(t *testing.T) {
	t.Setenv("JWT_SECRET", "a-secret-of-sixteen-bytes")
	a, err := Load()
	require.NoError(t, err)
	assert.Len(t, a.CursorSecret, 32, "derived from JWT_SECRET")
	assert.NotContains(t, string(a.CursorSecret), "a-secret", "never the JWT secret itself")
	t.Setenv("JWT_SECRET", "another-secret-of-sixteen-bytes")
	b, err := Load()
	require.NoError(t, err)
	assert.NotEqual(t, a.CursorSecret, b.CursorSecret)

	t.Setenv("CURSOR_SECRET", "cursor-secret-0123456789")
	c, err := Load()
	require.NoError(t, err)
	assert.Equal(t, []byte("cursor-secret-0123456789"), c.CursorSecret)
	t.Setenv("CURSOR_SECRET", "short")
	_, err = Load()
	assert.ErrorContains(t, err, "CURSOR_SECRET")
}
