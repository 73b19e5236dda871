package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
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
	"github.com/agentic-commerce/wallet-ledger/client"
	"github.com/agentic-commerce/wallet-ledger/internal/auth"
	"github.com/agentic-commerce/wallet-ledger/internal/config"
	"github.com/agentic-commerce/wallet-ledger/internal/pgtest"
	"github.com/agentic-commerce/wallet-ledger/migrations"
)

// The black-box suite: every test drives the real handler over HTTP against a real, freshly migrated database.

func TestMain(m *testing.M) {
	code := pgtest.Main(m, migrations.Apply)
	if walletctlErr == nil && walletctlRoot != "" {
		_ = os.RemoveAll(walletctlRoot) // the walletctl the documentation tests built
	}
	os.Exit(code)
}

const testSecret = "test-secret-0123456789abcdef"

// testConfig is the configuration of a test API on the package database. Its per-caller rate limit is far above
// what any test sends, because the suite checks the ledger, not the limiter: the rate limit tests set their own
// (limitedConfig).
func testConfig(t testing.TB) config.Config {
	t.Setenv("DATABASE_URL", pgtest.URL(t))
	t.Setenv("JWT_SECRET", testSecret)
	t.Setenv("RATE_LIMIT_RPS", "1000000")
	t.Setenv("RATE_LIMIT_BURST", "1000000")
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

// newIsolatedAPI starts the wallet-api handler on a database of its own. Tests that read or rewrite more than
// their own rows use it (database-wide sums, a corrupted projection, the read side's checkpoints, every backend
// waiting on a lock): on the package database one test's wallets would show up in another's checks.
func newIsolatedAPI(t testing.TB) *testAPI {
	t.Helper()
	cfg := testConfig(t)
	cfg.DatabaseURL = pgtest.NewDatabase(t, migrations.Apply)
	return newAPIWith(t, cfg)
}

func newAPIWith(t testing.TB, cfg config.Config) *testAPI {
	t.Helper()
	a, err := newApp(context.Background(), cfg)
	require.NoError(t, err)
	srv := httptest.NewServer(a.handler())
	t.Cleanup(func() { srv.Close(); a.close() })
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
	Multi       http.Header // added as given, after Header: for repeated headers
}

// harnessClient bounds every exchange, so a request the server never answers fails its test instead of hanging it.
// The bound is far beyond any busy machine's slowness: only a wait that would never end (or one left to a
// 10-minute timeout, as the fail-closed tests arrange) reaches it.
var harnessClient = &http.Client{Timeout: 2 * time.Minute}

// patience bounds every wait for something to happen (a lock to be waited on, a process to drain, a projector to
// catch up): generous, because a busy machine can be many times slower than an idle one, and a wait that ends as soon
// as its condition holds costs nothing.
const patience = 2 * time.Minute

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
	for k, vs := range req.Multi {
		for _, v := range vs {
			httpReq.Header.Add(k, v)
		}
	}
	resp, err := harnessClient.Do(httpReq)
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

// newClient returns a client of a as the token's sub, whose every exchange is also held to api/openapi.yaml.
// base is the transport under the validator (nil: http.DefaultTransport).
func (a *testAPI) newClient(tok string, base http.RoundTripper, retry client.Retry) *client.Client {
	a.t.Helper()
	c, err := client.New(a.base, client.WithToken(tok), client.WithRetry(retry),
		client.WithHTTPClient(&http.Client{Transport: apitest.NewTransport(a.t, base), Timeout: 10 * time.Second}))
	require.NoError(a.t, err)
	return c
}

// setUpRetry sends set-up calls once: a 503 while a test sets up is a failure to see, not to wait out.
var setUpRetry = client.Retry{Attempts: 1}

// requireOK fails the test when a set-up call through the client was refused, with the problem's code, detail and
// invalid fields in the message.
func (a *testAPI) requireOK(err error, what string) {
	a.t.Helper()
	if err == nil {
		return
	}
	var p *client.Error
	if !errors.As(err, &p) {
		a.t.Fatalf("%s: %v", what, err)
	}
	msg := fmt.Sprintf("%s: HTTP %d %s", what, p.StatusCode, p.Code)
	if p.Detail != "" {
		msg += ": " + p.Detail
	}
	for _, f := range p.Errors {
		if !strings.Contains(p.Detail, f.Message) { // a single invalid field is often the whole detail
			msg += fmt.Sprintf("; %s %s", f.Field, f.Message)
		}
	}
	a.t.Fatal(msg)
}

// admin is a client with the wallet:admin scope, as sub.
func (a *testAPI) admin(sub string) *client.Client {
	a.t.Helper()
	return a.newClient(token(a.t, sub, auth.ScopeAdmin), nil, setUpRetry)
}

// The set-up helpers go through the Go client, the way a real caller does; tests of malformed or hostile input
// use a.do, which sends exactly the bytes it is given.

// createWallet opens a wallet of asset for the token's sub and returns its ID.
func (a *testAPI) createWallet(tok, asset string) string {
	a.t.Helper()
	w, _, err := a.newClient(tok, nil, setUpRetry).CreateWallet(context.Background(), client.CreateWalletRequest{Asset: asset})
	a.requireOK(err, "create "+asset+" wallet")
	return w.WalletID
}

// fund credits a wallet through an admin adjustment.
func (a *testAPI) fund(walletID, asset string, amount int64) {
	a.t.Helper()
	_, _, err := a.admin("treasury").Adjust(context.Background(),
		client.AdjustmentRequest{WalletID: walletID, Asset: asset, Amount: amount, Reason: "test funding"})
	a.requireOK(err, "fund "+walletID)
}

// balance returns a wallet's balance as an admin sees it.
func (a *testAPI) balance(walletID string) int64 {
	a.t.Helper()
	b, _, err := a.admin("auditor").GetBalance(context.Background(), walletID)
	a.requireOK(err, "balance of "+walletID)
	return b.Balance
}
