package main

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentic-commerce/wallet-ledger/eventstore"
	"github.com/agentic-commerce/wallet-ledger/internal/auth"
	"github.com/agentic-commerce/wallet-ledger/internal/pgtest"
	"github.com/agentic-commerce/wallet-ledger/migrations"
)

// expectProblem checks status and problem code of r.
func expectProblem(t *testing.T, r response, status int, code string) {
	t.Helper()
	require.Equal(t, status, r.Status, "body: %s", r.Body)
	assert.Equal(t, code, r.Code(t))
	p := r.JSON(t)
	assert.Equal(t, "urn:wallet-ledger:problem:"+code, p["type"])
	assert.EqualValues(t, status, p["status"])
	assert.NotEmpty(t, p["title"])
}

func TestCreateWallet(t *testing.T) {
	a := newAPI(t)
	alice := token(t, "alice", auth.ScopeWrite, auth.ScopeRead)

	r := a.post(alice, "/v1/wallets", map[string]any{"asset": "USD", "metadata": map[string]any{"agent": "shopper-1"}})
	require.Equal(t, http.StatusCreated, r.Status, "%s", r.Body)
	w := r.JSON(t)
	id := w["wallet_id"].(string)
	_, err := uuid.Parse(id)
	require.NoError(t, err, "a wallet_id is generated when omitted")
	assert.Equal(t, "/v1/wallets/"+id, r.Header.Get("Location"))
	assert.Equal(t, "alice", w["owner"])
	assert.Equal(t, "USD", w["asset"])
	assert.EqualValues(t, 0, w["balance"])
	assert.EqualValues(t, 0, w["available"])
	assert.NotEmpty(t, w["created_at"])
	assert.Equal(t, map[string]any{"agent": "shopper-1"}, w["metadata"])

	// The seed design's example ID (a version-1 UUID) is accepted as given.
	given := "11111111-1111-1111-1111-111111111111"
	r = a.post(alice, "/v1/wallets", map[string]any{"wallet_id": given, "asset": "USD"})
	require.Equal(t, http.StatusCreated, r.Status, "%s", r.Body)
	assert.Equal(t, given, r.JSON(t)["wallet_id"])

	expectProblem(t, a.post(alice, "/v1/wallets", map[string]any{"wallet_id": given, "asset": "USD"}), http.StatusConflict, "wallet_exists")
	expectProblem(t, a.post(alice, "/v1/wallets", map[string]any{"wallet_id": given, "asset": "EUR"}), http.StatusConflict, "wallet_exists")
}

func TestCreateWalletOwnership(t *testing.T) {
	a := newAPI(t)
	alice := token(t, "alice", auth.ScopeWrite)
	admin := token(t, "ops", auth.ScopeAdmin)

	expectProblem(t, a.post(alice, "/v1/wallets", map[string]any{"asset": "USD", "owner": "bob"}), http.StatusForbidden, "forbidden")
	r := a.post(alice, "/v1/wallets", map[string]any{"asset": "USD", "owner": "alice"})
	require.Equal(t, http.StatusCreated, r.Status)

	r = a.post(admin, "/v1/wallets", map[string]any{"asset": "USD", "owner": "bob"})
	require.Equal(t, http.StatusCreated, r.Status, "%s", r.Body)
	assert.Equal(t, "bob", r.JSON(t)["owner"])
}

func TestCreateWalletValidation(t *testing.T) {
	a := newAPI(t)
	alice := token(t, "alice", auth.ScopeWrite)
	systemLike := uuid.NewSHA1(uuid.MustParse("00000000-0000-0000-0000-000000000001"), []byte("asset:USD"))
	cases := map[string]struct {
		body   any
		status int
		code   string
	}{
		"lowercase asset":   {map[string]any{"asset": "usd"}, 422, "validation_error"},
		"short asset":       {map[string]any{"asset": "US"}, 422, "validation_error"},
		"long asset":        {map[string]any{"asset": "ABCDEFGHIJKLM"}, 422, "validation_error"},
		"missing asset":     {map[string]any{}, 422, "validation_error"},
		"bad wallet id":     {map[string]any{"asset": "USD", "wallet_id": "123"}, 422, "validation_error"},
		"nil wallet id":     {map[string]any{"asset": "USD", "wallet_id": uuid.Nil.String()}, 422, "validation_error"},
		"metadata array":    {map[string]any{"asset": "USD", "metadata": []int{1}}, 422, "validation_error"},
		"system-like id":    {map[string]any{"asset": "USD", "wallet_id": systemLike.String()}, 422, "reserved_wallet_id"},
		"system base id":    {map[string]any{"asset": "USD", "wallet_id": "00000000-0000-0000-0000-000000000001"}, 422, "reserved_wallet_id"},
		"asset not string":  {`{"asset": 5}`, 400, "invalid_json"},
		"unknown field":     {`{"asset":"USD","colour":"red"}`, 400, "invalid_json"},
		"trailing data":     {`{"asset":"USD"} {}`, 400, "invalid_json"},
		"malformed":         {`{"asset":"USD"`, 400, "invalid_json"},
		"duplicate field":   {`{"asset":"USD","asset":"EUR"}`, 400, "invalid_json"},
		"NUL in metadata":   {`{"asset":"USD","metadata":{"k":"a\u0000"}}`, 400, "invalid_json"},
		"lone surrogate":    {`{"asset":"USD","metadata":{"k":"\ud800"}}`, 400, "invalid_json"},
		"top-level array":   {`[]`, 400, "invalid_json"},
		"empty body":        {``, 400, "invalid_json"},
		"owner unprintable": {map[string]any{"asset": "USD", "owner": "a\u0007b"}, 422, "validation_error"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			r := a.do(request{Method: http.MethodPost, Path: "/v1/wallets", Token: alice, Key: newKey(), Body: c.body})
			expectProblem(t, r, c.status, c.code)
		})
	}
}

// The most deeply nested metadata that fits the size limit is stored, not refused by jsonb with a 500.
func TestDeepestMetadataIsStored(t *testing.T) {
	a := newAPI(t)
	depth := 8185
	body := `{"asset":"USD","metadata":{"a":` + strings.Repeat("[", depth) + strings.Repeat("]", depth) + `}}`
	r := a.do(request{Method: http.MethodPost, Path: "/v1/wallets", Token: token(t, "alice", auth.ScopeWrite), Key: newKey(), Body: body})
	require.Equal(t, http.StatusCreated, r.Status, "%.300s", r.Body)
}

func TestTransportErrors(t *testing.T) {
	a := newAPI(t)
	alice := token(t, "alice", auth.ScopeWrite)
	body := `{"asset":"USD"}`

	r := a.do(request{Method: http.MethodPost, Path: "/v1/wallets", Token: alice, Key: newKey(), Body: body, ContentType: "text/plain"})
	expectProblem(t, r, http.StatusUnsupportedMediaType, "unsupported_media_type")
	r = a.do(request{Method: http.MethodPost, Path: "/v1/wallets", Token: alice, Key: newKey(),
		Body: `{"asset":"USD","metadata":{"pad":"` + strings.Repeat("x", 70<<10) + `"}}`})
	expectProblem(t, r, http.StatusRequestEntityTooLarge, "body_too_large")
	r = a.do(request{Method: http.MethodPost, Path: "/v1/wallets", Token: alice, Body: body})
	expectProblem(t, r, http.StatusBadRequest, "idempotency_key_required")
	r = a.do(request{Method: http.MethodPost, Path: "/v1/wallets", Token: alice, Key: strings.Repeat("k", 256), Body: body})
	expectProblem(t, r, http.StatusBadRequest, "invalid_idempotency_key")
	r = a.do(request{Method: http.MethodPost, Path: "/v1/wallets", Token: alice, Key: "clé", Body: body})
	expectProblem(t, r, http.StatusBadRequest, "invalid_idempotency_key")

	r = a.get(alice, "/v1/nowhere")
	expectProblem(t, r, http.StatusNotFound, "not_found")
	r = a.do(request{Method: http.MethodDelete, Path: "/v1/wallets", Token: alice})
	expectProblem(t, r, http.StatusMethodNotAllowed, "method_not_allowed")
}

func TestAuthentication(t *testing.T) {
	a := newAPI(t)
	body := map[string]any{"asset": "USD"}
	for name, hdr := range map[string]string{
		"no header":      "",
		"basic scheme":   "Basic YWxpY2U6cHc=",
		"empty bearer":   "Bearer ",
		"garbage token":  "Bearer not-a-token",
		"wrong audience": "Bearer " + mustMint(t, testSecret, "other-audience"),
		"wrong secret":   "Bearer " + mustMint(t, "some-other-secret-0123456789", "agentic-commerce"),
	} {
		t.Run(name, func(t *testing.T) {
			hdrs := map[string]string{}
			if hdr != "" {
				hdrs["Authorization"] = hdr
			}
			r := a.do(request{Method: http.MethodPost, Path: "/v1/wallets", Key: newKey(), Body: body, Header: hdrs})
			expectProblem(t, r, http.StatusUnauthorized, "unauthorized")
			assert.Contains(t, r.Header.Get("WWW-Authenticate"), "Bearer")
			r = a.do(request{Method: http.MethodGet, Path: "/v1/wallets/" + uuid.NewString() + "/balance", Header: hdrs})
			expectProblem(t, r, http.StatusUnauthorized, "unauthorized")
		})
	}
}

func mustMint(t *testing.T, secret, audience string) string {
	tok, err := auth.Mint(secret, audience, "alice", []string{auth.ScopeAdmin}, 3600e9)
	require.NoError(t, err)
	return tok
}

func TestScopes(t *testing.T) {
	a := newAPI(t)
	reader := token(t, "alice", auth.ScopeRead)
	writer := token(t, "alice", auth.ScopeWrite)
	walletID := a.createWallet(writer, "USD")

	expectProblem(t, a.post(reader, "/v1/wallets", map[string]any{"asset": "USD"}), http.StatusForbidden, "insufficient_scope")
	r := a.post(writer, "/v1/adjustments", map[string]any{"wallet_id": walletID, "asset": "USD", "amount": 5, "reason": "x"})
	expectProblem(t, r, http.StatusForbidden, "insufficient_scope")
	assert.Contains(t, r.Header.Get("WWW-Authenticate"), `error="insufficient_scope"`)
	expectProblem(t, a.get(writer, "/v1/wallets/"+walletID+"/balance"), http.StatusForbidden, "insufficient_scope")
	require.Equal(t, http.StatusOK, a.get(reader, "/v1/wallets/"+walletID+"/balance").Status)
}

func TestTransfer(t *testing.T) {
	a := newAPI(t)
	alice := token(t, "alice", auth.ScopeRead, auth.ScopeWrite)
	bob := token(t, "bob", auth.ScopeRead, auth.ScopeWrite)
	from := a.createWallet(alice, "USD")
	to := a.createWallet(bob, "USD")
	a.fund(from, "USD", 1000)

	r := a.post(alice, "/v1/transfers", map[string]any{"from_wallet_id": from, "to_wallet_id": to, "amount": 250, "asset": "USD",
		"description": "coffee beans", "metadata": map[string]any{"order": "A-1"}})
	require.Equal(t, http.StatusCreated, r.Status, "%s", r.Body)
	tx := r.JSON(t)
	txID := tx["transaction_id"].(string)
	assert.Equal(t, "/v1/transactions/"+txID, r.Header.Get("Location"))
	assert.Equal(t, "transfer", tx["kind"])
	assert.Equal(t, "alice", tx["sub"])
	assert.Equal(t, from, tx["from_wallet_id"])
	assert.Equal(t, to, tx["to_wallet_id"])
	assert.EqualValues(t, 250, tx["amount"])
	assert.Equal(t, []any{
		map[string]any{"wallet_id": from, "asset": "USD", "amount": float64(-250)},
		map[string]any{"wallet_id": to, "asset": "USD", "amount": float64(250)},
	}, tx["entries"])

	assert.EqualValues(t, 750, a.balance(from))
	assert.EqualValues(t, 250, a.balance(to))

	// Both parties see the transaction, and it reads back exactly as the 201 described it.
	for _, tok := range []string{alice, bob} {
		g := a.get(tok, "/v1/transactions/"+txID)
		require.Equal(t, http.StatusOK, g.Status, "%s", g.Body)
		assert.JSONEq(t, string(r.Body), string(g.Body))
	}
	expectProblem(t, a.get(token(t, "mallory", auth.ScopeRead), "/v1/transactions/"+txID), http.StatusNotFound, "transaction_not_found")
	expectProblem(t, a.get(alice, "/v1/transactions/"+uuid.NewString()), http.StatusNotFound, "transaction_not_found")
	expectProblem(t, a.get(alice, "/v1/transactions/not-a-uuid"), http.StatusBadRequest, "invalid_id")
}

func TestTransferRefusals(t *testing.T) {
	a := newAPI(t)
	alice := token(t, "alice", auth.ScopeRead, auth.ScopeWrite)
	bob := token(t, "bob", auth.ScopeRead, auth.ScopeWrite)
	from := a.createWallet(alice, "USD")
	to := a.createWallet(bob, "USD")
	eur := a.createWallet(bob, "EUR")
	bobs := a.createWallet(bob, "USD")
	a.fund(from, "USD", 100)
	a.fund(bobs, "USD", 100)
	system := eventstore.SystemWalletID(uuid.MustParse("00000000-0000-0000-0000-000000000001"), "USD").String()
	transfer := func(f, t string, amount any, asset string) map[string]any {
		return map[string]any{"from_wallet_id": f, "to_wallet_id": t, "amount": amount, "asset": asset}
	}
	cases := map[string]struct {
		body   any
		status int
		code   string
	}{
		"insufficient funds":      {transfer(from, to, 101, "USD"), 422, "insufficient_funds"},
		"asset mismatch request":  {transfer(from, to, 1, "EUR"), 422, "asset_mismatch"},
		"asset mismatch wallets":  {transfer(from, eur, 1, "USD"), 422, "asset_mismatch"},
		"same wallet":             {transfer(from, from, 1, "USD"), 422, "same_wallet"},
		"unknown source":          {transfer(uuid.NewString(), to, 1, "USD"), 404, "wallet_not_found"},
		"another owner's source":  {transfer(bobs, to, 1, "USD"), 404, "wallet_not_found"},
		"unknown destination":     {transfer(from, uuid.NewString(), 1, "USD"), 404, "wallet_not_found"},
		"to a system wallet":      {transfer(from, system, 1, "USD"), 422, "system_wallet"},
		"zero amount":             {transfer(from, to, 0, "USD"), 422, "validation_error"},
		"negative amount":         {transfer(from, to, -5, "USD"), 422, "validation_error"},
		"amount above 2^53-1":     {transfer(from, to, int64(1)<<53, "USD"), 422, "validation_error"},
		"amount missing":          {map[string]any{"from_wallet_id": from, "to_wallet_id": to, "asset": "USD"}, 422, "validation_error"},
		"fractional amount":       {`{"from_wallet_id":"` + from + `","to_wallet_id":"` + to + `","amount":1.5,"asset":"USD"}`, 400, "invalid_json"},
		"amount as string":        {`{"from_wallet_id":"` + from + `","to_wallet_id":"` + to + `","amount":"5","asset":"USD"}`, 400, "invalid_json"},
		"amount beyond int64":     {`{"from_wallet_id":"` + from + `","to_wallet_id":"` + to + `","amount":1e30,"asset":"USD"}`, 400, "invalid_json"},
		"wallet id not a uuid":    {transfer("abc", to, 1, "USD"), 422, "validation_error"},
		"description too long":    {map[string]any{"from_wallet_id": from, "to_wallet_id": to, "amount": 1, "asset": "USD", "description": strings.Repeat("d", 1001)}, 422, "validation_error"},
		"wallet id non-canonical": {transfer(strings.ReplaceAll(from, "-", ""), to, 1, "USD"), 422, "validation_error"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			expectProblem(t, a.do(request{Method: http.MethodPost, Path: "/v1/transfers", Token: alice, Key: newKey(), Body: c.body}), c.status, c.code)
		})
	}
	// Nothing moved.
	assert.EqualValues(t, 100, a.balance(from))
	assert.EqualValues(t, 0, a.balance(to))
	assert.EqualValues(t, 100, a.balance(bobs))
}

func TestAdjustments(t *testing.T) {
	a := newAPI(t)
	admin := token(t, "ops", auth.ScopeAdmin)
	alice := token(t, "alice", auth.ScopeWrite, auth.ScopeRead)
	usd := a.createWallet(alice, "USD")
	gbp := a.createWallet(alice, "GBP")
	usdSystem := eventstore.SystemWalletID(uuid.MustParse("00000000-0000-0000-0000-000000000001"), "USD").String()
	a.fund(a.createWallet(alice, "USD"), "USD", 1) // the system wallet exists from here on
	systemBefore := a.balance(usdSystem)

	r := a.post(admin, "/v1/adjustments", map[string]any{"wallet_id": usd, "asset": "USD", "amount": 500, "reason": "top-up"})
	require.Equal(t, http.StatusCreated, r.Status, "%s", r.Body)
	adj := r.JSON(t)
	assert.Equal(t, "adjustment", adj["kind"])
	assert.Equal(t, usd, adj["wallet_id"])
	assert.Equal(t, "top-up", adj["reason"])
	assert.Equal(t, []any{
		map[string]any{"wallet_id": usd, "asset": "USD", "amount": float64(500)},
		map[string]any{"wallet_id": usdSystem, "asset": "USD", "amount": float64(-500)},
	}, adj["entries"])

	r = a.post(admin, "/v1/adjustments", map[string]any{"wallet_id": gbp, "asset": "GBP", "amount": 70, "reason": "top-up"})
	require.Equal(t, http.StatusCreated, r.Status, "%s", r.Body)
	gbpSystem := r.JSON(t)["entries"].([]any)[1].(map[string]any)["wallet_id"]
	assert.NotEqual(t, usdSystem, gbpSystem, "each asset has its own system wallet")

	r = a.post(admin, "/v1/adjustments", map[string]any{"wallet_id": usd, "asset": "USD", "amount": -200, "reason": "chargeback"})
	require.Equal(t, http.StatusCreated, r.Status, "%s", r.Body)
	assert.EqualValues(t, 300, a.balance(usd))
	assert.EqualValues(t, systemBefore-300, a.balance(usdSystem), "the counter-entries land on the system wallet, which may go negative")
	assert.Negative(t, a.balance(usdSystem))

	expectProblem(t, a.post(admin, "/v1/adjustments", map[string]any{"wallet_id": usd, "asset": "USD", "amount": -301, "reason": "x"}), 422, "insufficient_funds")
	expectProblem(t, a.post(admin, "/v1/adjustments", map[string]any{"wallet_id": usd, "asset": "USD", "amount": 0, "reason": "x"}), 422, "validation_error")
	expectProblem(t, a.post(admin, "/v1/adjustments", map[string]any{"wallet_id": usd, "asset": "USD", "amount": 5}), 422, "validation_error")
	expectProblem(t, a.post(admin, "/v1/adjustments", map[string]any{"wallet_id": usd, "asset": "EUR", "amount": 5, "reason": "x"}), 422, "asset_mismatch")
	expectProblem(t, a.post(admin, "/v1/adjustments", map[string]any{"wallet_id": uuid.NewString(), "asset": "USD", "amount": 5, "reason": "x"}), 404, "wallet_not_found")
	expectProblem(t, a.post(admin, "/v1/adjustments", map[string]any{"wallet_id": usdSystem, "asset": "USD", "amount": 5, "reason": "x"}), 422, "system_wallet")
	assert.EqualValues(t, 300, a.balance(usd))
}

func TestReadsHideOtherOwnersWallets(t *testing.T) {
	a := newAPI(t)
	alice := token(t, "alice", auth.ScopeRead, auth.ScopeWrite)
	bob := token(t, "bob", auth.ScopeRead)
	w := a.createWallet(alice, "USD")
	a.fund(w, "USD", 42)

	for _, path := range []string{"/v1/wallets/" + w, "/v1/wallets/" + w + "/balance", "/v1/wallets/" + w + "/balance/audit"} {
		ok := a.get(alice, path)
		require.Equal(t, http.StatusOK, ok.Status, "%s: %s", path, ok.Body)
		other := a.get(bob, path)
		missing := a.get(bob, strings.Replace(path, w, uuid.NewString(), 1))
		expectProblem(t, other, http.StatusNotFound, "wallet_not_found")
		expectProblem(t, missing, http.StatusNotFound, "wallet_not_found")
		assert.Equal(t, len(other.Body) > 0, len(missing.Body) > 0)
	}
	expectProblem(t, a.get(alice, "/v1/wallets/xyz/balance"), http.StatusBadRequest, "invalid_id")

	bal := a.get(alice, "/v1/wallets/"+w+"/balance").JSON(t)
	assert.EqualValues(t, 42, bal["balance"])
	assert.EqualValues(t, 42, bal["available"])
	assert.EqualValues(t, 1, bal["version"])
	audit := a.get(alice, "/v1/wallets/"+w+"/balance/audit").JSON(t)
	assert.Equal(t, true, audit["consistent"])
	assert.EqualValues(t, 42, audit["projected_balance"])
	assert.EqualValues(t, 42, audit["journal_balance"])
	assert.EqualValues(t, 1, audit["entry_count"])
}

func TestHealthAndReady(t *testing.T) {
	a := newAPI(t)
	r := a.get("", "/v1/health")
	require.Equal(t, http.StatusOK, r.Status)
	r = a.get("", "/v1/ready")
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	assert.EqualValues(t, a.app.cfg.DBMaxConns > 0, true)
}

// During a rollout migrate runs first, so the pods of the previous release see a newer schema: they must stay
// ready. A schema older than the binary's is refused until migrate has run.
func TestReadyAcceptsANewerSchemaAndRefusesAnOlderOne(t *testing.T) {
	cfg := testConfig(t)
	cfg.DatabaseURL = pgtest.NewDatabase(t, migrations.Apply)
	a := newAPIWith(t, cfg)
	setVersion := func(v int32) {
		_, err := a.app.pool.Exec(context.Background(), `UPDATE `+migrations.VersionTable+` SET version = $1`, v)
		require.NoError(t, err)
	}
	want := migrations.Expected()
	setVersion(want + 1)
	r := a.get("", "/v1/ready")
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	assert.EqualValues(t, want+1, r.JSON(t)["schema_version"])
	setVersion(want - 1)
	r = a.get("", "/v1/ready")
	require.Equal(t, http.StatusServiceUnavailable, r.Status, "%s", r.Body)
	assert.Contains(t, string(r.Body), "run migrate")
}
