package main

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentic-commerce/wallet-ledger/internal/auth"
	"github.com/agentic-commerce/wallet-ledger/internal/telemetry"
	"github.com/agentic-commerce/wallet-ledger/internal/telemetry/otlptest"
)

// A caller's X-Request-Id comes back in Request-Id when it is safe to echo; any other (or none) is replaced by a
// generated one. Every response has one, whatever route or status, and every problem body names it.
func TestEveryResponseCarriesARequestID(t *testing.T) {
	a := newAPI(t)
	alice := token(t, "alice", auth.ScopeRead, auth.ScopeWrite)
	wallet := a.createWallet(alice, "USD")

	echoed := a.do(request{Method: http.MethodGet, Path: "/v1/wallets/" + wallet, Token: alice,
		Header: map[string]string{"X-Request-Id": "checkout-7f3a:try.2"}})
	require.Equal(t, http.StatusOK, echoed.Status)
	assert.Equal(t, "checkout-7f3a:try.2", echoed.Header.Get("Request-Id"))

	seen := map[string]bool{}
	for name, r := range map[string]response{
		"none":      a.get(alice, "/v1/wallets/"+wallet),
		"health":    a.get("", "/v1/health"),
		"ready":     a.get("", "/v1/ready"),
		"too long":  a.do(request{Method: http.MethodGet, Path: "/v1/health", Header: map[string]string{"X-Request-Id": strings.Repeat("r", 129)}}),
		"unsafe":    a.do(request{Method: http.MethodGet, Path: "/v1/health", Header: map[string]string{"X-Request-Id": `"><script>`}}),
		"two":       a.do(request{Method: http.MethodGet, Path: "/v1/health", Multi: http.Header{"X-Request-Id": {"a", "b"}}}),
		"404 route": a.get(alice, "/v1/nowhere"),
		"405":       a.do(request{Method: http.MethodDelete, Path: "/v1/wallets/" + wallet, Token: alice}),
		"401":       a.get("", "/v1/wallets/"+wallet),
		"invalid":   a.post(alice, "/v1/transfers", map[string]any{"amount": -1}),
	} {
		id := r.Header.Get("Request-Id")
		_, err := uuid.Parse(id)
		assert.NoError(t, err, "%s: a generated id (%q)", name, id)
		assert.False(t, seen[id], "%s: ids are unique", name)
		seen[id] = true
		if r.Status >= 400 {
			assert.Equal(t, id, r.JSON(t)["request_id"], "%s: the problem body names the request", name)
		}
	}

	problem := a.do(request{Method: http.MethodGet, Path: "/v1/wallets/" + uuid.NewString(), Token: alice,
		Header: map[string]string{"X-Request-Id": "support-ticket-1234"}})
	require.Equal(t, http.StatusNotFound, problem.Status)
	assert.Equal(t, "support-ticket-1234", problem.JSON(t)["request_id"])
}

// checkRequestIDsInTelemetry shows that an operator given a Request-Id finds every log line of that request, the
// access line among them, its OTLP log records and its trace. It runs inside TestTelemetryOfATransfer, with the
// telemetry that test set up: a process installs its providers once (the relay's tracer binds to the first).
func checkRequestIDsInTelemetry(t *testing.T, tel *telemetry.Telemetry, rcv *otlptest.Receiver, stderr *syncBuffer, a *testAPI) {
	t.Helper()
	alice := token(t, "alice", auth.ScopeRead, auth.ScopeWrite)
	wallet := a.createWallet(alice, "USD")

	// A success and a refusal, each under the caller's own id; and a failure that logs more than its access line
	// (a 503 logs "request failed"), from an API whose database is gone.
	ok := a.do(request{Method: http.MethodGet, Path: "/v1/wallets/" + wallet, Token: alice,
		Header: map[string]string{"X-Request-Id": "trace-me-ok"}})
	require.Equal(t, http.StatusOK, ok.Status)
	bad := a.do(request{Method: http.MethodPost, Path: "/v1/transfers", Token: alice, Key: newKey(),
		Body:   map[string]any{"from_wallet_id": wallet, "to_wallet_id": wallet, "amount": 1, "asset": "USD"},
		Header: map[string]string{"X-Request-Id": "trace-me-bad"}})
	require.Equal(t, http.StatusUnprocessableEntity, bad.Status)
	cfg := testConfig(t)
	cfg.DatabaseURL = "postgres://postgres@127.0.0.1:1/nowhere?sslmode=disable&connect_timeout=1"
	down := newAPIWith(t, cfg)
	failed := down.do(request{Method: http.MethodGet, Path: "/v1/wallets/" + wallet + "/balance", Token: alice,
		Header: map[string]string{"X-Request-Id": "trace-me-503"}})
	require.Equal(t, http.StatusServiceUnavailable, failed.Status)

	msgs := map[any]bool{}
	for _, l := range linesWith(t, stderr, "trace-me-503") {
		msgs[l["msg"]] = true
	}
	assert.True(t, msgs["request failed"] && msgs["http request"], "both lines of the failed request name it: %v", msgs)
	for _, id := range []string{"trace-me-ok", "trace-me-bad"} {
		access := false
		for _, l := range linesWith(t, stderr, id) {
			access = access || l["msg"] == "http request"
		}
		assert.True(t, access, "the access line of %s names it", id)
	}
	for _, l := range linesWith(t, stderr, "") {
		if l["msg"] == "http request" {
			assert.NotEmpty(t, l["request_id"], "every access line names its request: %v", l)
		}
	}

	require.Eventually(t, func() bool {
		require.NoError(t, tel.ForceFlush(context.Background()))
		for _, s := range rcv.Spans() {
			if id, _ := otlptest.Attr(s.GetAttributes(), "request_id"); id == "trace-me-ok" {
				return s.GetName() == "GET /v1/wallets/{id}"
			}
		}
		return false
	}, 15*time.Second, 100*time.Millisecond, "no server span carries request_id trace-me-ok")
	require.Eventually(t, func() bool {
		require.NoError(t, tel.ForceFlush(context.Background()))
		for _, rec := range rcv.Logs() {
			if id, _ := otlptest.Attr(rec.GetAttributes(), "request_id"); id == "trace-me-bad" {
				return true
			}
		}
		return false
	}, 15*time.Second, 100*time.Millisecond, "no OTLP log record carries request_id trace-me-bad")
}

// linesWith returns the JSON stderr lines whose request_id is id (every line when id is empty).
func linesWith(t *testing.T, stderr *syncBuffer, id string) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(stderr.String()))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var m map[string]any
		require.NoError(t, json.Unmarshal(sc.Bytes(), &m), "stderr line is not JSON: %s", sc.Text())
		if id == "" || m["request_id"] == id {
			out = append(out, m)
		}
	}
	return out
}

// The id a customer quotes leads an operator to the exact journal transaction: every write records its request's
// id in the transaction's metadata (request_id), beside what the client sent, and the key is the server's alone.
func TestWritesRecordTheirRequestIDInTheJournal(t *testing.T) {
	a := newAPI(t)
	alice := token(t, "alice", auth.ScopeRead, auth.ScopeWrite)
	from, to := a.createWallet(alice, "USD"), a.createWallet(alice, "USD")
	a.fund(from, "USD", 100)
	body := map[string]any{"from_wallet_id": from, "to_wallet_id": to, "amount": 7, "asset": "USD",
		"metadata": map[string]any{"order": "A-17"}}
	key := newKey()
	r := a.do(request{Method: http.MethodPost, Path: "/v1/transfers", Token: alice, Key: key, Body: body,
		Header: map[string]string{"X-Request-Id": "quote-me-42"}})
	require.Equal(t, http.StatusCreated, r.Status, "%s", r.Body)
	assert.Equal(t, map[string]any{"order": "A-17", "request_id": "quote-me-42"}, r.JSON(t)["metadata"])
	tx := r.JSON(t)["transaction_id"].(string)

	var stored string
	require.NoError(t, a.app.pool.QueryRow(context.Background(),
		`SELECT metadata->>'request_id' FROM journal_transactions WHERE transaction_id = $1`, tx).Scan(&stored))
	assert.Equal(t, "quote-me-42", stored)
	got := created(t, a.get(alice, "/v1/transactions/"+tx), http.StatusOK)
	assert.Equal(t, "quote-me-42", got["metadata"].(map[string]any)["request_id"])

	// A retry under another request id replays the first answer: the journal keeps the id of the request that
	// moved the money.
	again := a.do(request{Method: http.MethodPost, Path: "/v1/transfers", Token: alice, Key: key, Body: body,
		Header: map[string]string{"X-Request-Id": "quote-me-43"}})
	require.Equal(t, "true", again.Header.Get("Idempotent-Replayed"))
	assert.Equal(t, "quote-me-43", again.Header.Get("Request-Id"))
	assert.Equal(t, "quote-me-42", again.JSON(t)["metadata"].(map[string]any)["request_id"])

	body["metadata"] = map[string]any{"request_id": "forged"}
	expectProblem(t, a.post(alice, "/v1/transfers", body), http.StatusUnprocessableEntity, "validation_error")
	assert.EqualValues(t, 93, a.balance(from))
}
