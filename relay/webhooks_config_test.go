package relay_test

import (
	"encoding/base64"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentic-commerce/wallet-ledger/relay"
	"github.com/agentic-commerce/wallet-ledger/webhook"
)

func TestLoadWebhookConfig(t *testing.T) {
	env := func(vars map[string]string) func(string) string { return func(k string) string { return vars[k] } }

	c, err := relay.LoadWebhookConfig(env(nil))
	require.NoError(t, err)
	assert.Nil(t, c.Settings.Keyring)
	assert.False(t, c.Settings.Policy.AllowInsecure)
	assert.Equal(t, webhook.DefaultSchedule.Delays, c.Schedule.Delays)
	assert.Equal(t, time.Hour, c.Schedule.Every)
	assert.Equal(t, 24*time.Hour, c.Schedule.Window)
	assert.Equal(t, 10*time.Second, c.Timeout)
	assert.Equal(t, 72*time.Hour, c.DisableAfter)
	assert.Equal(t, 4, c.PerEndpoint)
	assert.Equal(t, 64, c.MaxEndpoints)

	c, err = relay.LoadWebhookConfig(env(map[string]string{
		"WEBHOOK_SECRET_KEY": base64.StdEncoding.EncodeToString(make([]byte, 32)), "WEBHOOK_ALLOW_INSECURE": "1",
		"WEBHOOK_RETRY_DELAYS": "1s, 2s", "WEBHOOK_RETRY_EVERY": "3s", "WEBHOOK_RETRY_FOR": "1m",
		"WEBHOOK_TIMEOUT": "2s", "WEBHOOK_DISABLE_AFTER": "5m", "WEBHOOK_CONCURRENCY": "1", "WEBHOOK_MAX_ENDPOINTS": "9",
	}))
	require.NoError(t, err)
	assert.NotNil(t, c.Settings.Keyring)
	assert.True(t, c.Settings.Policy.AllowInsecure)
	assert.Equal(t, []time.Duration{time.Second, 2 * time.Second}, c.Schedule.Delays)
	assert.Equal(t, 3*time.Second, c.Schedule.Every)
	assert.Equal(t, time.Minute, c.Schedule.Window)
	assert.Equal(t, 2*time.Second, c.Timeout)
	assert.Equal(t, 5*time.Minute, c.DisableAfter)
	assert.Equal(t, 1, c.PerEndpoint)
	assert.Equal(t, 9, c.MaxEndpoints)
	assert.Len(t, webhook.DefaultSchedule.Delays, 6, "the default schedule is left as it was")

	for name, vars := range map[string]map[string]string{
		"bad delay":       {"WEBHOOK_RETRY_DELAYS": "5s,soon"},
		"negative delay":  {"WEBHOOK_RETRY_DELAYS": "-5s"},
		"zero timeout":    {"WEBHOOK_TIMEOUT": "0s"},
		"no concurrency":  {"WEBHOOK_CONCURRENCY": "0"},
		"word endpoints":  {"WEBHOOK_MAX_ENDPOINTS": "many"},
		"short key":       {"WEBHOOK_SECRET_KEY": "c2hvcnQ="},
		"insecure maybe":  {"WEBHOOK_ALLOW_INSECURE": "perhaps"},
		"disable instant": {"WEBHOOK_DISABLE_AFTER": "now"},
	} {
		_, err := relay.LoadWebhookConfig(env(vars))
		assert.Error(t, err, name)
	}
}
