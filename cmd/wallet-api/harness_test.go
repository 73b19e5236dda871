package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/agentic-commerce/wallet-ledger/api/apitest"
	"github.com/agentic-commerce/wallet-ledger/internal/auth"
	"github.com/agentic-commerce/wallet-ledger/internal/config"
	"github.com/agentic-commerce/wallet-ledger/internal/pgtest"
	"github.com/agentic-commerce/wallet-ledger/migrations"
)

// The black-box suite: every test drives the real handler over HTTP against a real, freshly migrated database.

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m, migrations.Apply)) }

const testSecret = "test-secret-0123456789abcdef"

// testConfig is the configuration of a test API on the package database.
func testConfig(t testing.TB) config.Config {
	t.Setenv("DATABASE_URL", pgtest.URL(t))
	t.Setenv("JWT_SECRET", testSecret)
	cfg, err := config.Load()
	require.NoError(t, err)
	return cfg
}

// testAPI is a running wallet-api and a client for it.
type testAPI struct {
	t    testing.TB
	app  *app
	srv  *httptest.Server
	base string
}

// newAPI starts the wallet-api handler on the package database.
func newAPI(t testing.TB) *testAPI {
	t.Helper()
	return newAPIWith(t, testConfig(t))
}

func newAPIWith(t testing.TB, cfg config.Config) *testAPI {
	t.Helper()
	a, err := newApp(context.Background(), cfg)
	require.NoError(t, err)
	srv := httptest.NewServer(a.handler())
	t.Cleanup(func() { srv.Close(); a.pool.Close() })
	return &testAPI{t: t, app: a, srv: srv, base: srv.URL}
}

// token mints a token for sub with scopes.
func token(t testing.TB, sub string, scopes ...string) string {
	t.Helper()
	tok, err := auth.Mint(testSecret, config.DefaultJWTAudience, sub, scopes, time.Hour)
	require.NoError(t, err)
	return tok
}

// response is what a test sees of one HTTP exchange.
type response struct {
	Status int
	Header http.Header
	Body   []byte
}

// JSON decodes the body into a map.
func (r response) JSON(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(r.Body, &m), "body: %s", r.Body)
	return m
}

// Code returns the problem code of an error response.
func (r response) Code(t testing.TB) string {
	t.Helper()
	require.Equal(t, "application/problem+json", r.Header.Get("Content-Type"), "body: %s", r.Body)
	code, _ := r.JSON(t)["code"].(string)
	return code
}

// request describes one call; zero fields are left out.
type request struct {
	Method      string
	Path        string
	Token       string
	Key         string // Idempotency-Key
	Body        any    // marshalled to JSON unless it is a string or []byte
	ContentType string // default application/json when there is a body
	Header      map[string]string
}

var keySeq atomic.Int64

// newKey returns a unique idempotency key.
func newKey() string { return fmt.Sprintf("test-%d-%s", keySeq.Add(1), uuid.NewString()[:8]) }

func (a *testAPI) do(req request) response {
	a.t.Helper()
	var body io.Reader
	var sent []byte
	switch b := req.Body.(type) {
	case nil:
	case string:
		sent = []byte(b)
		body = strings.NewReader(b)
	case []byte:
		sent = b
		body = bytes.NewReader(b)
	default:
		enc, err := json.Marshal(b)
		require.NoError(a.t, err)
		sent = enc
		body = bytes.NewReader(enc)
	}
	httpReq, err := http.NewRequest(req.Method, a.base+req.Path, body)
	require.NoError(a.t, err)
	if req.Token != "" {
		httpReq.Header.Set("Authorization", "Bearer "+req.Token)
	}
	if req.Key != "" {
		httpReq.Header.Set("Idempotency-Key", req.Key)
	}
	if body != nil {
		ct := req.ContentType
		if ct == "" {
			ct = "application/json"
		}
		httpReq.Header.Set("Content-Type", ct)
	}
	for k, v := range req.Header {
		httpReq.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(httpReq)
	require.NoError(a.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(a.t, err)
	// Every exchange is held to api/openapi.yaml: undocumented routes, statuses, headers or fields fail the test.
	if err := contract(a.t).Check(apitest.Exchange{Method: req.Method, URL: httpReq.URL.String(), Header: httpReq.Header,
		RequestBody: sent, Status: resp.StatusCode, RespHeader: resp.Header, RespBody: b}); err != nil {
		a.t.Errorf("%v", err)
	}
	return response{Status: resp.StatusCode, Header: resp.Header, Body: b}
}

// contract returns the validator of api/openapi.yaml, parsed once per test binary.
func contract(t testing.TB) *apitest.Validator {
	t.Helper()
	v, err := apitest.Shared()
	require.NoError(t, err, "api/openapi.yaml")
	return v
}

// post sends a JSON write with a fresh idempotency key.
func (a *testAPI) post(tok, path string, body any) response {
	a.t.Helper()
	return a.do(request{Method: http.MethodPost, Path: path, Token: tok, Key: newKey(), Body: body})
}

// get reads a path.
func (a *testAPI) get(tok, path string) response {
	a.t.Helper()
	return a.do(request{Method: http.MethodGet, Path: path, Token: tok})
}

// createWallet opens a wallet of asset for the token's sub and returns its ID.
func (a *testAPI) createWallet(tok, asset string) string {
	a.t.Helper()
	r := a.post(tok, "/v1/wallets", map[string]any{"asset": asset})
	require.Equal(a.t, http.StatusCreated, r.Status, "create wallet: %s", r.Body)
	return r.JSON(a.t)["wallet_id"].(string)
}

// fund credits a wallet through an admin adjustment.
func (a *testAPI) fund(walletID, asset string, amount int64) {
	a.t.Helper()
	r := a.post(token(a.t, "treasury", auth.ScopeAdmin), "/v1/adjustments",
		map[string]any{"wallet_id": walletID, "asset": asset, "amount": amount, "reason": "test funding"})
	require.Equal(a.t, http.StatusCreated, r.Status, "fund: %s", r.Body)
}

// balance returns a wallet's balance as an admin sees it.
func (a *testAPI) balance(walletID string) int64 {
	a.t.Helper()
	r := a.get(token(a.t, "auditor", auth.ScopeAdmin), "/v1/wallets/"+walletID+"/balance")
	require.Equal(a.t, http.StatusOK, r.Status, "balance: %s", r.Body)
	return int64(r.JSON(a.t)["balance"].(float64))
}
