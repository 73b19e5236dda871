package webhook_test

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentic-commerce/wallet-ledger/webhook"
)

func newKeyring(t *testing.T) (*webhook.Keyring, string) {
	t.Helper()
	key := make([]byte, webhook.KeyBytes)
	_, err := rand.Read(key)
	require.NoError(t, err)
	encoded := base64.StdEncoding.EncodeToString(key)
	k, err := webhook.ParseKeyring(encoded)
	require.NoError(t, err)
	return k, encoded
}

func TestNewSecretIsWhsecAndThirtyTwoRandomBytes(t *testing.T) {
	a, err := webhook.NewSecret()
	require.NoError(t, err)
	b, err := webhook.NewSecret()
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(a, "whsec_"), a)
	raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(a, "whsec_"))
	require.NoError(t, err)
	assert.Len(t, raw, 32)
	assert.NotEqual(t, a, b)
}

func TestKeyringSealsBoundToItsContext(t *testing.T) {
	k, _ := newKeyring(t)
	other, _ := newKeyring(t)
	id := uuid.NewString()
	secret := []byte("whsec_abc")
	sealed, err := k.Seal(secret, webhook.SecretContext(id))
	require.NoError(t, err)
	assert.False(t, bytes.Contains(sealed, secret), "the sealed value does not hold the secret in clear")
	again, err := k.Seal(secret, webhook.SecretContext(id))
	require.NoError(t, err)
	assert.NotEqual(t, sealed, again, "a fresh nonce every time")

	got, err := k.Open(sealed, webhook.SecretContext(id))
	require.NoError(t, err)
	assert.Equal(t, secret, got)

	_, err = k.Open(sealed, webhook.SecretContext(uuid.NewString()))
	assert.ErrorIs(t, err, webhook.ErrCannotOpen, "moved to another endpoint")
	_, err = k.Open(sealed, webhook.ResponseContext(id))
	assert.ErrorIs(t, err, webhook.ErrCannotOpen, "used for another purpose")
	_, err = other.Open(sealed, webhook.SecretContext(id))
	assert.ErrorIs(t, err, webhook.ErrCannotOpen, "another key")
	tampered := append([]byte(nil), sealed...)
	tampered[len(tampered)-1] ^= 1
	_, err = k.Open(tampered, webhook.SecretContext(id))
	assert.ErrorIs(t, err, webhook.ErrCannotOpen, "altered")
	_, err = k.Open(sealed[:5], webhook.SecretContext(id))
	assert.ErrorIs(t, err, webhook.ErrCannotOpen, "truncated")
}

func TestLoadSettings(t *testing.T) {
	_, key := newKeyring(t)
	env := func(vars map[string]string) func(string) string { return func(k string) string { return vars[k] } }

	s, err := webhook.LoadSettings(env(nil))
	require.NoError(t, err)
	assert.Nil(t, s.Keyring, "no key: no keyring")
	assert.False(t, s.Policy.AllowInsecure, "strict by default")

	s, err = webhook.LoadSettings(env(map[string]string{"WEBHOOK_SECRET_KEY": key, "WEBHOOK_ALLOW_INSECURE": "1"}))
	require.NoError(t, err)
	assert.NotNil(t, s.Keyring)
	assert.True(t, s.Policy.AllowInsecure)

	for name, vars := range map[string]map[string]string{
		"short key":      {"WEBHOOK_SECRET_KEY": base64.StdEncoding.EncodeToString([]byte("short"))},
		"not base64":     {"WEBHOOK_SECRET_KEY": "not base64 at all!"},
		"insecure maybe": {"WEBHOOK_ALLOW_INSECURE": "yes please"},
	} {
		_, err := webhook.LoadSettings(env(vars))
		assert.Error(t, err, name)
	}
}

func TestDefaultScheduleIsAboutTheDocumentedOne(t *testing.T) {
	s := webhook.DefaultSchedule
	require.True(t, s.Valid())
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	want := []time.Duration{5 * time.Second, 30 * time.Second, 2 * time.Minute, 10 * time.Minute, 30 * time.Minute,
		time.Hour, time.Hour, time.Hour}
	at := start
	for i, w := range want {
		next, ok := s.Next(i+1, start, at)
		require.True(t, ok, "attempt %d", i+1)
		d := next.Sub(at)
		assert.GreaterOrEqual(t, d, time.Duration(float64(w)*0.8), "delay %d", i+1)
		assert.LessOrEqual(t, d, time.Duration(float64(w)*1.2), "delay %d", i+1)
		at = next
	}
	// Keep failing: the schedule ends once the next try would fall past 24h after the start.
	attempts := len(want) + 1
	for {
		next, ok := s.Next(attempts, start, at)
		if !ok {
			break
		}
		at = next
		attempts++
		require.Less(t, attempts, 100)
	}
	assert.LessOrEqual(t, at.Sub(start), 24*time.Hour)
	assert.Greater(t, at.Sub(start), 22*time.Hour, "it keeps trying hourly for about 24h")
	t.Logf("%d attempts, the last %s after the first", attempts, at.Sub(start))
}
