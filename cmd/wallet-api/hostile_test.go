package main

import (
	"bytes"
	"compress/gzip"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentic-commerce/wallet-ledger/eventstore"
	"github.com/agentic-commerce/wallet-ledger/internal/auth"
)

// What probing the running service from outside, as a hostile or careless client, turned up: each request gets a
// clear problem or the answer the contract promises, and changes nothing it should not.

func detail(t *testing.T, r response) string {
	t.Helper()
	d, _ := r.JSON(t)["detail"].(string)
	return d
}

// Naming a mandate_id must not tell another owner's wallet from a missing one: both are wallet_not_found, with
// the same words.
func TestAnotherOwnersWalletLooksMissingWhateverMandateIsNamed(t *testing.T) {
	a := newAPI(t)
	alice := token(t, "alice", auth.ScopeRead, auth.ScopeWrite)
	mallory := token(t, "mallory", auth.ScopeRead, auth.ScopeWrite)
	victim := a.createWallet(alice, "USD")
	a.fund(victim, "USD", 1000)
	mine := a.createWallet(mallory, "USD")
	other := a.createWallet(alice, "USD")
	// mallory's own mandate, on another of alice's wallets, opens this one no more than a made-up ID does.
	own := grant(t, a, alice, other, map[string]any{"agent": "mallory"})["mandate_id"].(string)
	missing := uuid.NewString()

	for _, mandate := range []string{uuid.NewString(), own} {
		for path, body := range map[string]func(from string) map[string]any{
			"/v1/transfers": func(from string) map[string]any {
				return map[string]any{"from_wallet_id": from, "to_wallet_id": mine, "amount": 1, "asset": "USD", "mandate_id": mandate}
			},
			"/v1/holds": func(from string) map[string]any {
				return map[string]any{"wallet_id": from, "amount": 1, "asset": "USD", "mandate_id": mandate}
			},
		} {
			existing := a.post(mallory, path, body(victim))
			absent := a.post(mallory, path, body(missing))
			expectProblem(t, existing, http.StatusNotFound, "wallet_not_found")
			expectProblem(t, absent, http.StatusNotFound, "wallet_not_found")
			assert.Equal(t, strings.ReplaceAll(detail(t, absent), missing, "ID"), strings.ReplaceAll(detail(t, existing), victim, "ID"), path)
		}
	}
	// The owner, who may see the wallet, learns that the mandate is wrong.
	expectProblem(t, a.post(alice, "/v1/transfers", map[string]any{"from_wallet_id": victim, "to_wallet_id": other,
		"amount": 1, "asset": "USD", "mandate_id": uuid.NewString()}), http.StatusNotFound, "mandate_not_found")
	assert.Equal(t, funds{1000, 1000, 0}, a.funds(victim))
}

// A hold or mandate whose expires_at has passed by the time the client retries is answered from its key, so the
// client learns the hold_id or mandate_id it created; a new request with that expiry is refused, and that refusal
// is replayed in turn.
func TestRetriesReplayAfterTheirExpiryHasPassed(t *testing.T) {
	a := newAPI(t)
	alice := token(t, "alice", auth.ScopeRead, auth.ScopeWrite)
	from := a.createWallet(alice, "USD")
	a.fund(from, "USD", 1000)
	soon := time.Now().Add(1500 * time.Millisecond)
	at := soon.UTC().Format(time.RFC3339Nano)
	writes := []request{
		{Method: http.MethodPost, Path: "/v1/holds", Token: alice, Key: newKey(),
			Body: map[string]any{"wallet_id": from, "amount": 100, "asset": "USD", "expires_at": at}},
		{Method: http.MethodPost, Path: "/v1/wallets/" + from + "/mandates", Token: alice, Key: newKey(),
			Body: map[string]any{"agent": "agent-9", "max_per_transaction": 100, "expires_at": at}},
	}
	var first []response
	for _, w := range writes {
		r := a.do(w)
		require.Equal(t, http.StatusCreated, r.Status, "%s", r.Body)
		first = append(first, r)
	}
	time.Sleep(time.Until(soon) + 100*time.Millisecond)
	for i, w := range writes {
		again := a.do(w)
		require.Equal(t, http.StatusCreated, again.Status, "%s: %s", w.Path, again.Body)
		assert.Equal(t, "true", again.Header.Get("Idempotent-Replayed"))
		assert.JSONEq(t, string(first[i].Body), string(again.Body))

		w.Key = newKey()
		late := a.do(w)
		expectProblem(t, late, http.StatusUnprocessableEntity, "validation_error")
		assert.Contains(t, string(late.Body), "must be in the future")
		replayed := a.do(w)
		expectProblem(t, replayed, http.StatusUnprocessableEntity, "validation_error")
		assert.Equal(t, "true", replayed.Header.Get("Idempotent-Replayed"))
	}
	assert.Equal(t, funds{1000, 900, 100}, a.funds(from), "one hold, held once")
}

// Writes on one resource take no body as the empty object, with or without a Content-Type; a body that is sent
// must be JSON (white space is not), and a Content-Encoding is refused all the same.
func TestEmptyBodyOnAResourceWriteIsTheEmptyObject(t *testing.T) {
	a := newAPI(t)
	alice := token(t, "alice", auth.ScopeRead, auth.ScopeWrite)
	from := a.createWallet(alice, "USD")
	a.fund(from, "USD", 1000)
	hold := func() string {
		return created(t, a.post(alice, "/v1/holds", map[string]any{"wallet_id": from, "amount": 10, "asset": "USD"}))["hold_id"].(string)
	}
	for _, c := range []struct {
		body any
		ct   string
	}{{nil, ""}, {nil, "application/json"}, {"", "text/plain"}} {
		req := request{Method: http.MethodPost, Path: "/v1/holds/" + hold() + "/void", Token: alice, Key: newKey(), Body: c.body, ContentType: c.ct}
		if c.ct != "" && c.body == nil {
			req.Header = map[string]string{"Content-Type": c.ct}
		}
		v := created(t, a.do(req), http.StatusOK)
		assert.Equal(t, "voided", v["status"], "body %q, Content-Type %q", c.body, c.ct)
	}
	id := hold()
	expectProblem(t, a.do(request{Method: http.MethodPost, Path: "/v1/holds/" + id + "/void", Token: alice, Key: newKey(), Body: "  \n"}),
		http.StatusBadRequest, "invalid_json")
	for _, body := range []any{nil, "{}"} {
		expectProblem(t, a.do(request{Method: http.MethodPost, Path: "/v1/holds/" + id + "/capture", Token: alice, Key: newKey(),
			Body: body, Header: map[string]string{"Content-Encoding": "gzip"}}), http.StatusUnsupportedMediaType, "unsupported_media_type")
	}
	assert.Equal(t, funds{1000, 990, 10}, a.funds(from), "only the last hold is still held")
}

// Requests that say two things at once, or that the service cannot read as sent, are refused and move nothing.
func TestAmbiguousAndUnreadableRequestsAreRefused(t *testing.T) {
	a := newAPI(t)
	alice := token(t, "alice", auth.ScopeRead, auth.ScopeWrite)
	from, to := a.createWallet(alice, "USD"), a.createWallet(alice, "USD")
	a.fund(from, "USD", 1000)
	transfer := map[string]any{"from_wallet_id": from, "to_wallet_id": to, "amount": 5, "asset": "USD"}

	expectProblem(t, a.do(request{Method: http.MethodPost, Path: "/v1/transfers", Key: newKey(), Body: transfer,
		Multi: http.Header{"Authorization": {"Bearer " + alice, "Bearer " + token(t, "bob", auth.ScopeWrite)}}}),
		http.StatusUnauthorized, "unauthorized")
	expectProblem(t, a.do(request{Method: http.MethodPost, Path: "/v1/transfers", Token: alice, Body: transfer,
		Multi: http.Header{"Idempotency-Key": {newKey(), newKey()}}}), http.StatusBadRequest, "invalid_idempotency_key")

	var zipped bytes.Buffer
	zw := gzip.NewWriter(&zipped)
	_, err := zw.Write([]byte(`{"from_wallet_id":"` + from + `","to_wallet_id":"` + to + `","amount":5,"asset":"USD"}`))
	require.NoError(t, err)
	require.NoError(t, zw.Close())
	for _, body := range []any{transfer, zipped.Bytes()} {
		expectProblem(t, a.do(request{Method: http.MethodPost, Path: "/v1/transfers", Token: alice, Key: newKey(), Body: body,
			Header: map[string]string{"Content-Encoding": "gzip"}}), http.StatusUnsupportedMediaType, "unsupported_media_type")
	}

	// A field in another case is not the field, and a number jsonb cannot hold is refused before the key is
	// taken: the corrected request under the same key goes through.
	expectProblem(t, a.post(alice, "/v1/transfers", map[string]any{"from_wallet_id": from, "to_wallet_id": to, "Amount": 5, "asset": "USD"}),
		http.StatusBadRequest, "invalid_json")
	key := newKey()
	bad := `{"from_wallet_id":"` + from + `","to_wallet_id":"` + to + `","amount":5,"asset":"USD","metadata":{"x":1e999999}}`
	expectProblem(t, a.do(request{Method: http.MethodPost, Path: "/v1/transfers", Token: alice, Key: key, Body: bad}),
		http.StatusBadRequest, "invalid_json")
	assert.Equal(t, funds{1000, 1000, 0}, a.funds(from), "nothing moved")
	created(t, a.do(request{Method: http.MethodPost, Path: "/v1/transfers", Token: alice, Key: key, Body: transfer}))
	assert.Equal(t, funds{995, 995, 0}, a.funds(from))
}

// The ledger's own identity owns the system wallets and writes the hold sweeper's expiries: no token carries it.
func TestNoTokenActsAsTheLedger(t *testing.T) {
	a := newAPI(t)
	from := a.createWallet(token(t, "alice", auth.ScopeWrite), "USD")
	a.fund(from, "USD", 10) // creates the USD system wallet
	system := token(t, auth.SystemSub, auth.ScopeRead, auth.ScopeWrite)
	for _, r := range []response{
		a.get(system, "/v1/wallets/"+eventstore.SystemWalletID(testConfig(t).SystemWalletID, "USD").String()+"/balance"),
		a.post(system, "/v1/wallets", map[string]any{"asset": "USD"}),
	} {
		expectProblem(t, r, http.StatusUnauthorized, "unauthorized")
	}
	// Nor can anything be given to it: nobody could use it.
	admin := token(t, "ops", auth.ScopeAdmin)
	expectProblem(t, a.post(admin, "/v1/wallets", map[string]any{"asset": "USD", "owner": auth.SystemSub}),
		http.StatusUnprocessableEntity, "validation_error")
	expectProblem(t, a.post(admin, "/v1/wallets/"+from+"/mandates", map[string]any{"agent": auth.SystemSub, "max_per_transaction": 1, "expires_at": in(time.Hour)}),
		http.StatusUnprocessableEntity, "validation_error")
}

// A path is routed as sent: no redirect to a cleaned path (which a client follows as a GET), no encoded slash
// taken for a separator, and a 405 names the methods the path does serve.
func TestPathsAreRoutedAsSent(t *testing.T) {
	a := newAPI(t)
	alice := token(t, "alice", auth.ScopeRead, auth.ScopeWrite)
	from := a.createWallet(alice, "USD")
	a.fund(from, "USD", 100)
	transfer := map[string]any{"from_wallet_id": from, "to_wallet_id": a.createWallet(alice, "USD"), "amount": 5, "asset": "USD"}
	for _, path := range []string{"//v1/transfers", "/v1/./transfers", "/v1/wallets/../transfers"} {
		expectProblem(t, a.do(request{Method: http.MethodPost, Path: path, Token: alice, Key: newKey(), Body: transfer}),
			http.StatusNotFound, "not_found")
	}
	expectProblem(t, a.get(alice, "/v1/wallets/"+from+"%2Fbalance"), http.StatusBadRequest, "invalid_id")
	expectProblem(t, a.get(alice, "/v1/wallets/"+from+"/balance%2Faudit"), http.StatusNotFound, "not_found")
	assert.Equal(t, funds{100, 100, 0}, a.funds(from))

	for path, allow := range map[string]string{"/v1/wallets": "GET, POST", "/v1/wallets/" + from: "GET",
		"/v1/wallets/" + from + "/mandates": "GET, POST", "/v1/health": "GET"} {
		r := a.do(request{Method: http.MethodDelete, Path: path, Token: alice})
		expectProblem(t, r, http.StatusMethodNotAllowed, "method_not_allowed")
		assert.Equal(t, allow, r.Header.Get("Allow"), path)
	}
}
