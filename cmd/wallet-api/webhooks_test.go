package main

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentic-commerce/wallet-ledger/internal/auth"
	"github.com/agentic-commerce/wallet-ledger/internal/pgtest"
)

// testWebhookKey is the WEBHOOK_SECRET_KEY of these tests.
var testWebhookKey = base64.StdEncoding.EncodeToString([]byte("wallet-ledger-webhook-test-key!!"))

// webhookAPI is a wallet-api with WEBHOOK_SECRET_KEY, and WEBHOOK_ALLOW_INSECURE as asked.
func webhookAPI(t *testing.T, insecure bool) *testAPI {
	t.Helper()
	t.Setenv("WEBHOOK_SECRET_KEY", testWebhookKey)
	t.Setenv("WEBHOOK_ALLOW_INSECURE", map[bool]string{true: "1", false: "0"}[insecure])
	return newAPI(t)
}

// uniqueSub keeps each test's owners apart on the shared package database.
func uniqueSub(name string) string { return name + "-" + uuid.NewString()[:8] }

// databaseText is every row of every table of the database as text (bytea as hex): what a dump reveals.
func databaseText(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	pool := pgtest.Pool(t)
	rows, err := pool.Query(ctx, `SELECT table_name FROM information_schema.tables
		WHERE table_schema = 'public' AND table_type = 'BASE TABLE'`)
	require.NoError(t, err)
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	var b strings.Builder
	for _, table := range tables {
		var text *string
		require.NoError(t, pool.QueryRow(ctx, `SELECT string_agg(t::text, E'\n') FROM `+pgx.Identifier{table}.Sanitize()+` t`).Scan(&text))
		if text != nil {
			b.WriteString(*text)
		}
	}
	return b.String()
}

func TestWebhookEndpointsContract(t *testing.T) {
	a := webhookAPI(t, false)
	owner, other := uniqueSub("wh-owner"), uniqueSub("wh-other")
	tok := token(t, owner, auth.ScopeRead, auth.ScopeWrite)
	bob := token(t, other, auth.ScopeRead, auth.ScopeWrite)
	readOnly := token(t, owner, auth.ScopeRead)
	admin := token(t, "ops", auth.ScopeAdmin)
	status := func(want int, r response, code string) {
		t.Helper()
		require.Equal(t, want, r.Status, "%s", r.Body)
		if code != "" {
			assert.Equal(t, code, r.Code(t))
		}
	}

	// Create, replay.
	create := request{Method: http.MethodPost, Path: "/v1/webhook_endpoints", Token: tok, Key: newKey(), Body: map[string]any{
		"url": "https://8.8.8.8/hooks", "event_types": []string{"wallet.created", "transaction.committed", "wallet.created"},
		"description": "payments"}}
	first := a.do(create)
	status(http.StatusCreated, first, "")
	ep := first.JSON(t)
	id := ep["endpoint_id"].(string)
	secret := ep["secret"].(string)
	assert.Equal(t, "/v1/webhook_endpoints/"+id, first.Header.Get("Location"))
	assert.True(t, strings.HasPrefix(secret, "whsec_"))
	assert.Equal(t, []any{"transaction.committed", "wallet.created"}, ep["event_types"])
	assert.Equal(t, "enabled", ep["status"])
	assert.Equal(t, false, ep["all_events"])
	again := a.do(create)
	status(http.StatusCreated, again, "")
	assert.Equal(t, "true", again.Header.Get("Idempotent-Replayed"))
	assert.Equal(t, first.Body, again.Body, "the replay shows the same secret")

	// Refusals: URLs that are not public https, and bad fields. None is stored under its key.
	for _, url := range []string{"http://example.com/hooks", "https://127.0.0.1/hooks", "https://10.0.0.1/hooks",
		"https://169.254.169.254/latest/meta-data", "https://localhost:8443/hooks", "https://[::1]/hooks"} {
		status(http.StatusUnprocessableEntity, a.post(tok, "/v1/webhook_endpoints", map[string]any{"url": url}), "webhook_url_not_allowed")
	}
	status(http.StatusUnprocessableEntity, a.post(tok, "/v1/webhook_endpoints",
		map[string]any{"url": "https://8.8.8.8/", "event_types": []string{"money.printed"}}), "validation_error")
	status(http.StatusUnprocessableEntity, a.post(tok, "/v1/webhook_endpoints", map[string]any{"description": "no url"}), "validation_error")
	status(http.StatusBadRequest, a.post(tok, "/v1/webhook_endpoints", map[string]any{"url": "https://8.8.8.8/", "colour": "red"}), "invalid_json")
	status(http.StatusForbidden, a.post(readOnly, "/v1/webhook_endpoints", map[string]any{"url": "https://8.8.8.8/"}), "insufficient_scope")

	// Reads: the owner and admins see it, without its secret; another owner does not.
	list := a.get(tok, "/v1/webhook_endpoints")
	status(http.StatusOK, list, "")
	assert.Len(t, list.JSON(t)["endpoints"], 1)
	assert.NotContains(t, string(list.Body), secret)
	status(http.StatusOK, a.get(bob, "/v1/webhook_endpoints"), "")
	assert.Empty(t, a.get(bob, "/v1/webhook_endpoints").JSON(t)["endpoints"])
	got := a.get(tok, "/v1/webhook_endpoints/"+id)
	status(http.StatusOK, got, "")
	assert.NotContains(t, got.JSON(t), "secret")
	status(http.StatusOK, a.get(admin, "/v1/webhook_endpoints/"+id), "")
	status(http.StatusNotFound, a.get(bob, "/v1/webhook_endpoints/"+id), "webhook_endpoint_not_found")
	status(http.StatusNotFound, a.get(tok, "/v1/webhook_endpoints/"+uuid.NewString()), "webhook_endpoint_not_found")
	status(http.StatusBadRequest, a.get(tok, "/v1/webhook_endpoints/nope"), "invalid_id")

	// Disable, enable, rotate.
	dis := a.post(tok, "/v1/webhook_endpoints/"+id+"/disable", nil)
	status(http.StatusOK, dis, "")
	assert.Equal(t, "disabled", dis.JSON(t)["status"])
	assert.Equal(t, "requested", dis.JSON(t)["disabled_reason"])
	en := a.post(tok, "/v1/webhook_endpoints/"+id+"/enable", map[string]any{})
	status(http.StatusOK, en, "")
	assert.Equal(t, "enabled", en.JSON(t)["status"])
	status(http.StatusNotFound, a.post(bob, "/v1/webhook_endpoints/"+id+"/disable", nil), "webhook_endpoint_not_found")
	rot := a.post(tok, "/v1/webhook_endpoints/"+id+"/rotate_secret", nil)
	status(http.StatusOK, rot, "")
	rotated := rot.JSON(t)["secret"].(string)
	assert.NotEqual(t, secret, rotated)
	expires, err := time.Parse(time.RFC3339Nano, rot.JSON(t)["previous_secret_expires_at"].(string))
	require.NoError(t, err)
	assert.WithinDuration(t, time.Now().Add(24*time.Hour), expires, time.Minute)
	status(http.StatusNotFound, a.post(bob, "/v1/webhook_endpoints/"+id+"/rotate_secret", nil), "webhook_endpoint_not_found")

	// A database dump holds neither secret in clear, nor their keys: not in the endpoint, nor in the answers
	// stored under the Idempotency-Keys.
	dump := databaseText(t)
	require.Contains(t, dump, id, "the dump holds the endpoint")
	for _, s := range []string{secret, rotated} {
		key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(s, "whsec_"))
		require.NoError(t, err)
		assert.NotContains(t, dump, strings.TrimPrefix(s, "whsec_"), "a secret in clear")
		assert.NotContains(t, dump, hex.EncodeToString([]byte(s)), "a secret in clear, as bytes")
		assert.NotContains(t, dump, hex.EncodeToString(key), "a secret's key")
	}

	// Deliveries: none yet; bad queries refused.
	dl := a.get(tok, "/v1/webhook_endpoints/"+id+"/deliveries")
	status(http.StatusOK, dl, "")
	assert.Empty(t, dl.JSON(t)["deliveries"])
	assert.Nil(t, dl.JSON(t)["next_cursor"])
	for _, q := range []string{"?status=lost", "?limit=0", "?limit=201", "?cursor=nope", "?status=failed&status=pending"} {
		status(http.StatusBadRequest, a.get(tok, "/v1/webhook_endpoints/"+id+"/deliveries"+q), "invalid_query")
	}
	status(http.StatusNotFound, a.get(bob, "/v1/webhook_endpoints/"+id+"/deliveries"), "webhook_endpoint_not_found")
	status(http.StatusNotFound, a.post(tok, "/v1/webhook_endpoints/"+id+"/deliveries/"+uuid.NewString()+"/retry", nil), "webhook_delivery_not_found")
	status(http.StatusBadRequest, a.post(tok, "/v1/webhook_endpoints/"+id+"/deliveries/nope/retry", nil), "invalid_id")

	// Delete: idempotent by nature, no Idempotency-Key.
	del := request{Method: http.MethodDelete, Path: "/v1/webhook_endpoints/" + id, Token: tok}
	status(http.StatusNotFound, a.do(request{Method: http.MethodDelete, Path: "/v1/webhook_endpoints/" + id, Token: bob}), "webhook_endpoint_not_found")
	status(http.StatusForbidden, a.do(request{Method: http.MethodDelete, Path: "/v1/webhook_endpoints/" + id, Token: readOnly}), "insufficient_scope")
	status(http.StatusUnauthorized, a.do(request{Method: http.MethodDelete, Path: "/v1/webhook_endpoints/" + id}), "unauthorized")
	status(http.StatusNoContent, a.do(del), "")
	status(http.StatusNoContent, a.do(del), "")
	status(http.StatusNotFound, a.get(tok, "/v1/webhook_endpoints/"+id), "webhook_endpoint_not_found")
	status(http.StatusNotFound, a.post(tok, "/v1/webhook_endpoints/"+id+"/enable", nil), "webhook_endpoint_not_found")
	assert.Empty(t, a.get(tok, "/v1/webhook_endpoints").JSON(t)["endpoints"])
	status(http.StatusNotFound, a.do(request{Method: http.MethodDelete, Path: "/v1/webhook_endpoints/" + uuid.NewString(), Token: tok}), "webhook_endpoint_not_found")

	// The events feed's parameters.
	status(http.StatusOK, a.get(tok, "/v1/events"), "")
	for _, q := range []string{"?limit=0", "?limit=501", "?after=nope", "?type=money.printed", "?wallet_id=nope", "?limit=1&limit=2"} {
		status(http.StatusBadRequest, a.get(tok, "/v1/events"+q), "invalid_query")
	}
	status(http.StatusUnauthorized, a.get("", "/v1/events"), "unauthorized")
}

func TestWebhookEndpointLimitPerOwner(t *testing.T) {
	a := webhookAPI(t, false)
	tok := token(t, uniqueSub("wh-many"), auth.ScopeRead, auth.ScopeWrite)
	for i := range 20 {
		r := a.post(tok, "/v1/webhook_endpoints", map[string]any{"url": "https://8.8.8.8/hooks/" + string(rune('a'+i))})
		require.Equal(t, http.StatusCreated, r.Status, "%s", r.Body)
	}
	r := a.post(tok, "/v1/webhook_endpoints", map[string]any{"url": "https://8.8.8.8/one-more"})
	require.Equal(t, http.StatusUnprocessableEntity, r.Status, "%s", r.Body)
	assert.Equal(t, "webhook_endpoint_limit", r.Code(t))
}

// Without WEBHOOK_SECRET_KEY the API refuses to create endpoints rather than store secrets unsealed.
func TestWebhooksNeedTheSecretKey(t *testing.T) {
	t.Setenv("WEBHOOK_SECRET_KEY", "")
	a := newAPI(t)
	tok := token(t, uniqueSub("wh-nokey"), auth.ScopeRead, auth.ScopeWrite)
	r := a.post(tok, "/v1/webhook_endpoints", map[string]any{"url": "https://8.8.8.8/hooks"})
	require.Equal(t, http.StatusServiceUnavailable, r.Status, "%s", r.Body)
	assert.Equal(t, "webhooks_not_configured", r.Code(t))
	assert.Contains(t, r.JSON(t)["detail"], "WEBHOOK_SECRET_KEY")
	require.Equal(t, http.StatusOK, a.get(tok, "/v1/webhook_endpoints").Status)

	t.Setenv("WEBHOOK_SECRET_KEY", "too-short")
	_, err := newApp(context.Background(), testConfig(t))
	assert.ErrorContains(t, err, "WEBHOOK_SECRET_KEY", "a malformed key stops the API from starting")
}
