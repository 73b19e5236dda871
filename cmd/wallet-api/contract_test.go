package main

import (
	"net/http"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentic-commerce/wallet-ledger/api/apitest"
	"github.com/agentic-commerce/wallet-ledger/internal/auth"
	"github.com/agentic-commerce/wallet-ledger/internal/httpapi"
)

// The router and api/openapi.yaml list exactly the same operations: a route added without its documentation, or
// documentation of a route that does not exist, fails here even before a test calls it.
func TestRouterAndDocumentListTheSameRoutes(t *testing.T) {
	a := newAPI(t)
	routed, err := apitest.RouterOperations(a.app.router())
	require.NoError(t, err)
	documented := contract(t).Operations()
	assert.Equal(t, documented, routed, "routes in the router (actual) vs api/openapi.yaml (expected)")
	assert.Contains(t, routed, "GET /v1/openapi.json")
}

func TestOpenAPIDocumentIsServedWithoutAuth(t *testing.T) {
	a := newAPI(t)
	r := a.get("", "/v1/openapi.json")
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	assert.Equal(t, "3.1.0", r.JSON(t)["openapi"])
}

// TestContractOfTheCoreRoutes drives every core route through its answers, so the document is checked against
// each real status the server gives (the harness validates every exchange).
func TestContractOfTheCoreRoutes(t *testing.T) {
	a := newAPI(t)
	alice := token(t, "alice", auth.ScopeRead, auth.ScopeWrite)
	bob := token(t, "bob", auth.ScopeRead, auth.ScopeWrite)
	readOnly := token(t, "alice", auth.ScopeRead)
	admin := token(t, "ops", auth.ScopeAdmin)

	status := func(want int, r response, code string) {
		t.Helper()
		require.Equal(t, want, r.Status, "%s", r.Body)
		if code != "" {
			assert.Equal(t, code, r.Code(t))
		}
	}

	status(http.StatusOK, a.get("", "/v1/health"), "")
	status(http.StatusOK, a.get("", "/v1/ready"), "")

	// Wallets.
	key := newKey()
	create := request{Method: http.MethodPost, Path: "/v1/wallets", Token: alice, Key: key,
		Body: map[string]any{"asset": "USD", "metadata": map[string]any{"label": "main"}}}
	first := a.do(create)
	status(http.StatusCreated, first, "")
	from := first.JSON(t)["wallet_id"].(string)
	assert.Equal(t, "/v1/wallets/"+from, first.Header.Get("Location"))
	again := a.do(create)
	status(http.StatusCreated, again, "")
	assert.Equal(t, "true", again.Header.Get("Idempotent-Replayed"))
	assert.Equal(t, first.Body, again.Body)
	to := a.createWallet(bob, "USD")
	eur := a.createWallet(alice, "EUR")

	status(http.StatusConflict, a.post(alice, "/v1/wallets", map[string]any{"wallet_id": from, "asset": "USD"}), "wallet_exists")
	status(http.StatusUnprocessableEntity, a.post(alice, "/v1/wallets", map[string]any{"asset": "usd"}), "validation_error")
	status(http.StatusUnprocessableEntity, a.post(alice, "/v1/wallets",
		map[string]any{"asset": "USD", "wallet_id": uuid.NewSHA1(uuid.NameSpaceURL, []byte("x")).String()}), "reserved_wallet_id")
	status(http.StatusForbidden, a.post(alice, "/v1/wallets", map[string]any{"asset": "USD", "owner": "bob"}), "forbidden")
	status(http.StatusForbidden, a.post(readOnly, "/v1/wallets", map[string]any{"asset": "USD"}), "insufficient_scope")
	status(http.StatusUnauthorized, a.post("", "/v1/wallets", map[string]any{"asset": "USD"}), "unauthorized")
	status(http.StatusUnauthorized, a.post("not-a-jwt", "/v1/wallets", map[string]any{"asset": "USD"}), "unauthorized")
	status(http.StatusBadRequest, a.post(alice, "/v1/wallets", `{"asset":`), "invalid_json")
	status(http.StatusBadRequest, a.post(alice, "/v1/wallets", map[string]any{"asset": "USD", "colour": "red"}), "invalid_json")
	status(http.StatusBadRequest, a.do(request{Method: http.MethodPost, Path: "/v1/wallets", Token: alice,
		Body: map[string]any{"asset": "USD"}}), "idempotency_key_required")
	status(http.StatusBadRequest, a.do(request{Method: http.MethodPost, Path: "/v1/wallets", Token: alice,
		Key: strings.Repeat("k", 256), Body: map[string]any{"asset": "USD"}}), "invalid_idempotency_key")
	status(http.StatusUnsupportedMediaType, a.do(request{Method: http.MethodPost, Path: "/v1/wallets", Token: alice,
		Key: newKey(), Body: `asset=USD`, ContentType: "text/plain"}), "unsupported_media_type")
	status(http.StatusRequestEntityTooLarge, a.post(alice, "/v1/wallets",
		`{"asset":"USD","metadata":{"x":"`+strings.Repeat("a", 70<<10)+`"}}`), "body_too_large")

	// Adjustments and transfers.
	adj := a.post(admin, "/v1/adjustments", map[string]any{"wallet_id": from, "asset": "USD", "amount": 1000, "reason": "top-up"})
	status(http.StatusCreated, adj, "")
	assert.Equal(t, "adjustment", adj.JSON(t)["kind"])
	status(http.StatusForbidden, a.post(alice, "/v1/adjustments",
		map[string]any{"wallet_id": from, "asset": "USD", "amount": 1, "reason": "x"}), "insufficient_scope")
	status(http.StatusUnprocessableEntity, a.post(admin, "/v1/adjustments",
		map[string]any{"wallet_id": from, "asset": "USD", "amount": 0, "reason": "x"}), "validation_error")
	status(http.StatusNotFound, a.post(admin, "/v1/adjustments",
		map[string]any{"wallet_id": uuid.NewString(), "asset": "USD", "amount": 1, "reason": "x"}), "wallet_not_found")

	tkey := newKey()
	transfer := request{Method: http.MethodPost, Path: "/v1/transfers", Token: alice, Key: tkey,
		Body: map[string]any{"from_wallet_id": from, "to_wallet_id": to, "amount": 300, "asset": "USD", "description": "lunch"}}
	tr := a.do(transfer)
	status(http.StatusCreated, tr, "")
	txID := tr.JSON(t)["transaction_id"].(string)
	assert.Equal(t, "/v1/transactions/"+txID, tr.Header.Get("Location"))
	replay := a.do(transfer)
	status(http.StatusCreated, replay, "")
	assert.Equal(t, "true", replay.Header.Get("Idempotent-Replayed"))
	transfer.Body = map[string]any{"from_wallet_id": from, "to_wallet_id": to, "amount": 301, "asset": "USD"}
	status(http.StatusUnprocessableEntity, a.do(transfer), "idempotency_key_reuse")

	broke := request{Method: http.MethodPost, Path: "/v1/transfers", Token: alice, Key: newKey(),
		Body: map[string]any{"from_wallet_id": from, "to_wallet_id": to, "amount": 1 << 40, "asset": "USD"}}
	status(http.StatusUnprocessableEntity, a.do(broke), "insufficient_funds")
	stored := a.do(broke)
	status(http.StatusUnprocessableEntity, stored, "insufficient_funds")
	assert.Equal(t, "true", stored.Header.Get("Idempotent-Replayed"))
	status(http.StatusUnprocessableEntity, a.post(alice, "/v1/transfers",
		map[string]any{"from_wallet_id": from, "to_wallet_id": from, "amount": 1, "asset": "USD"}), "same_wallet")
	status(http.StatusUnprocessableEntity, a.post(alice, "/v1/transfers",
		map[string]any{"from_wallet_id": from, "to_wallet_id": eur, "amount": 1, "asset": "USD"}), "asset_mismatch")
	status(http.StatusNotFound, a.post(bob, "/v1/transfers",
		map[string]any{"from_wallet_id": from, "to_wallet_id": to, "amount": 1, "asset": "USD"}), "wallet_not_found")
	status(http.StatusUnprocessableEntity, a.post(alice, "/v1/transfers",
		map[string]any{"from_wallet_id": from, "to_wallet_id": to, "amount": -5, "asset": "USD"}), "validation_error")

	// Reads.
	for _, path := range []string{"/v1/wallets/" + from, "/v1/wallets/" + from + "/balance",
		"/v1/wallets/" + from + "/balance/audit", "/v1/transactions/" + txID} {
		status(http.StatusOK, a.get(alice, path), "")
	}
	assert.Equal(t, true, a.get(alice, "/v1/wallets/"+from+"/balance/audit").JSON(t)["consistent"])
	status(http.StatusOK, a.get(admin, "/v1/transactions/"+adj.JSON(t)["transaction_id"].(string)), "")
	status(http.StatusNotFound, a.get(bob, "/v1/wallets/"+from), "wallet_not_found")
	status(http.StatusNotFound, a.get(alice, "/v1/transactions/"+uuid.NewString()), "transaction_not_found")
	status(http.StatusBadRequest, a.get(alice, "/v1/wallets/not-a-uuid/balance"), "invalid_id")
	status(http.StatusUnauthorized, a.get("", "/v1/wallets/"+from), "unauthorized")
	status(http.StatusForbidden, a.get(token(t, "alice", auth.ScopeWrite), "/v1/wallets/"+from), "insufficient_scope")

	// Outside the document: the router's own refusals.
	status(http.StatusNotFound, a.get(alice, "/v1/nothing-here"), "not_found")
	status(http.StatusMethodNotAllowed, a.do(request{Method: http.MethodDelete, Path: "/v1/wallets/" + from, Token: alice}), "method_not_allowed")
}

// With the database unreachable every route that needs it fails closed with a documented 503 and Retry-After.
func TestContractWhenTheDatabaseIsDown(t *testing.T) {
	cfg := testConfig(t)
	cfg.DatabaseURL = "postgres://postgres@127.0.0.1:1/nowhere?sslmode=disable&connect_timeout=1"
	a := newAPIWith(t, cfg)
	alice := token(t, "alice", auth.ScopeRead, auth.ScopeWrite)
	for _, r := range []response{
		a.get("", "/v1/ready"),
		a.get(alice, "/v1/wallets/"+uuid.NewString()+"/balance"),
		a.post(alice, "/v1/wallets", map[string]any{"asset": "USD"}),
	} {
		require.Equal(t, http.StatusServiceUnavailable, r.Status, "%s", r.Body)
		assert.Equal(t, "service_unavailable", r.Code(t))
		assert.NotEmpty(t, r.Header.Get("Retry-After"))
	}
	status := a.get("", "/v1/health")
	assert.Equal(t, http.StatusOK, status.Status)
}

// Every problem code the server can answer with (internal/httpapi's table, and any code a package registers) is in the document's ProblemCode enum, so a client generated from the document knows each one. The
// api package checks the other direction.
func TestEveryServerProblemCodeIsDocumented(t *testing.T) {
	documented := map[string]bool{}
	for _, c := range contract(t).Document().Components.Schemas["ProblemCode"].Value.Enum {
		documented[c.(string)] = true
	}
	codes := httpapi.Codes()
	require.NotEmpty(t, codes)
	for code := range codes {
		assert.True(t, documented[code], "problem code %q is not in #/components/schemas/ProblemCode", code)
	}
}
