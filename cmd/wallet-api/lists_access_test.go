package main

import (
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentic-commerce/wallet-ledger/internal/auth"
)

// A list never shows what the caller could not read one by one: not another owner's wallets, holds, mandates or
// transactions; an agent sees what its mandate lets it see, and no more.
func TestListsShowOnlyWhatTheCallerMayRead(t *testing.T) {
	a := newAPI(t)
	alice := token(t, "lv-alice", auth.ScopeRead, auth.ScopeWrite)
	bob := token(t, "lv-bob", auth.ScopeRead, auth.ScopeWrite)
	agent := token(t, "lv-agent", auth.ScopeRead, auth.ScopeWrite)
	aliceW, bobW := a.createWallet(alice, "USD"), a.createWallet(bob, "USD")
	a.fund(bobW, "USD", 1000)
	mandate := created(t, a.post(bob, "/v1/wallets/"+bobW+"/mandates", map[string]any{"agent": "lv-agent",
		"limit": map[string]any{"amount": 500, "period": "total"}, "expires_at": in(time.Hour)}))
	mandateID := mandate["mandate_id"].(string)
	other := created(t, a.post(bob, "/v1/wallets/"+bobW+"/mandates", map[string]any{"agent": "lv-someone-else",
		"max_per_transaction": 10, "expires_at": in(time.Hour)}))
	agentHold := created(t, a.post(agent, "/v1/holds", map[string]any{"wallet_id": bobW, "amount": 100, "asset": "USD",
		"to_wallet_id": aliceW}))
	bobHold := created(t, a.post(bob, "/v1/holds", map[string]any{"wallet_id": bobW, "amount": 50, "asset": "USD"}))

	ids := func(r response, key string) []string {
		t.Helper()
		require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
		var out []string
		for _, item := range r.JSON(t)["data"].([]any) {
			out = append(out, item.(map[string]any)[key].(string))
		}
		return out
	}

	assert.Equal(t, []string{aliceW}, ids(a.get(alice, "/v1/wallets"), "wallet_id"))
	assert.Empty(t, ids(a.get(alice, "/v1/wallets?owner=lv-bob"), "wallet_id"), "the owner filter is no way in")
	for _, path := range []string{"/v1/wallets/" + bobW + "/holds", "/v1/wallets/" + bobW + "/mandates",
		"/v1/transactions?wallet_id=" + bobW} {
		expectProblem(t, a.get(alice, path), http.StatusNotFound, "wallet_not_found")
	}
	expectProblem(t, a.get(alice, "/v1/transactions?mandate_id="+mandateID), http.StatusNotFound, "mandate_not_found")
	for _, tx := range a.get(alice, "/v1/transactions").JSON(t)["data"].([]any) {
		assert.NotEqual(t, bobHold["transaction_id"], tx.(map[string]any)["transaction_id"], "bob's own hold")
	}

	// The agent: the wallet it may spend (and read), its own hold and mandate on it, the transactions it made.
	assert.Equal(t, []string{bobW}, ids(a.get(agent, "/v1/wallets"), "wallet_id"))
	assert.Equal(t, []string{agentHold["hold_id"].(string)}, ids(a.get(agent, "/v1/wallets/"+bobW+"/holds"), "hold_id"))
	assert.Equal(t, []string{mandateID}, ids(a.get(agent, "/v1/wallets/"+bobW+"/mandates"), "mandate_id"))
	expectProblem(t, a.get(agent, "/v1/wallets/"+bobW+"/mandates?agent=lv-someone-else"), http.StatusNotFound, "wallet_not_found")
	assert.Equal(t, []string{agentHold["transaction_id"].(string)},
		ids(a.get(agent, "/v1/transactions?mandate_id="+mandateID), "transaction_id"))
	expectProblem(t, a.get(agent, "/v1/transactions?wallet_id="+bobW), http.StatusNotFound, "wallet_not_found")

	// The owner sees everything on its wallet, and filters it.
	assert.ElementsMatch(t, []string{agentHold["hold_id"].(string), bobHold["hold_id"].(string)},
		ids(a.get(bob, "/v1/wallets/"+bobW+"/holds"), "hold_id"))
	created(t, a.post(bob, "/v1/holds/"+bobHold["hold_id"].(string)+"/void", map[string]any{}), http.StatusOK)
	assert.Equal(t, []string{agentHold["hold_id"].(string)}, ids(a.get(bob, "/v1/wallets/"+bobW+"/holds?status=active"), "hold_id"))
	assert.Equal(t, []string{bobHold["hold_id"].(string)}, ids(a.get(bob, "/v1/wallets/"+bobW+"/holds?status=voided"), "hold_id"))
	assert.Empty(t, ids(a.get(bob, "/v1/wallets/"+bobW+"/holds?status=expired"), "hold_id"))
	assert.ElementsMatch(t, []string{mandateID, other["mandate_id"].(string)}, ids(a.get(bob, "/v1/wallets/"+bobW+"/mandates"), "mandate_id"))
	assert.Equal(t, []string{mandateID}, ids(a.get(bob, "/v1/wallets/"+bobW+"/mandates?agent=lv-agent"), "mandate_id"))
	assert.Equal(t, []string{agentHold["transaction_id"].(string)},
		ids(a.get(bob, "/v1/transactions?mandate_id="+mandateID), "transaction_id"))

	// Revoked, the mandate no longer opens the wallet to the agent; the agent still sees its own mandate.
	created(t, a.post(bob, "/v1/mandates/"+mandateID+"/revoke", map[string]any{}), http.StatusOK)
	assert.Empty(t, ids(a.get(agent, "/v1/wallets"), "wallet_id"))
	expectProblem(t, a.get(agent, "/v1/wallets/"+bobW+"/holds"), http.StatusNotFound, "wallet_not_found")
	assert.Equal(t, []string{mandateID}, ids(a.get(agent, "/v1/wallets/"+bobW+"/mandates?status=revoked"), "mandate_id"))
	assert.Empty(t, ids(a.get(bob, "/v1/wallets/"+bobW+"/mandates?status=active&agent=lv-agent"), "mandate_id"))

	// The deprecated fields of the mandate list still carry the page, for one release.
	m := a.get(bob, "/v1/wallets/"+bobW+"/mandates").JSON(t)
	assert.Equal(t, bobW, m["wallet_id"])
	assert.Equal(t, m["data"], m["mandates"])
}

// A cursor answers only the query it came from: the same filters, the same caller. Anything else, and anything
// that is not a list parameter, is a 400 that says what is wrong.
func TestCursorsAndFiltersAreChecked(t *testing.T) {
	a := newAPI(t)
	alice := token(t, "lc-alice", auth.ScopeRead, auth.ScopeWrite)
	bob := token(t, "lc-bob", auth.ScopeRead, auth.ScopeWrite)
	w1, w2 := a.createWallet(alice, "USD"), a.createWallet(alice, "USD")
	a.createWallet(alice, "USD")
	a.fund(w1, "USD", 100)
	a.fund(w2, "USD", 100)
	a.fund(w2, "USD", 100)

	next := func(path string) string {
		t.Helper()
		r := a.get(alice, path)
		require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
		c, ok := r.JSON(t)["next_cursor"].(string)
		require.True(t, ok, "%s has a next page: %s", path, r.Body)
		return url.QueryEscape(c)
	}
	startHistoryProjector(t, a)
	require.Eventually(t, func() bool { return len(a.history(alice, w2, 5, nil).Data) == 2 }, patience,
		50*time.Millisecond, "the history of w2 was not projected")
	usd := next("/v1/wallets?asset=USD&limit=1")
	require.Equal(t, http.StatusOK, a.get(alice, "/v1/wallets?asset=USD&limit=5&cursor="+usd).Status, "the limit may change")
	history := next("/v1/wallets/" + w2 + "/transactions?limit=1")
	txs := next("/v1/transactions?limit=1")

	for name, r := range map[string]response{
		"other filter":     a.get(alice, "/v1/wallets?asset=EUR&cursor="+usd),
		"filter dropped":   a.get(alice, "/v1/wallets?cursor="+usd),
		"other caller":     a.get(bob, "/v1/wallets?asset=USD&cursor="+usd),
		"other list":       a.get(alice, "/v1/transactions?cursor="+usd),
		"other wallet":     a.get(alice, "/v1/wallets/"+w1+"/transactions?cursor="+history),
		"holds":            a.get(alice, "/v1/wallets/"+w1+"/holds?cursor="+txs),
		"tampered":         a.get(alice, "/v1/wallets?asset=USD&cursor="+flip(usd)),
		"not a cursor":     a.get(alice, "/v1/transactions?cursor=abc"),
		"empty cursor":     a.get(alice, "/v1/transactions?cursor="),
		"limit 0":          a.get(alice, "/v1/wallets?limit=0"),
		"limit 201":        a.get(alice, "/v1/transactions?limit=201"),
		"unknown param":    a.get(alice, "/v1/wallets?colour=red"),
		"twice":            a.get(alice, "/v1/wallets?asset=USD&asset=EUR"),
		"bad asset":        a.get(alice, "/v1/wallets?asset=usd"),
		"bad status":       a.get(alice, "/v1/wallets/"+w1+"/holds?status=pending"),
		"bad kind":         a.get(alice, "/v1/transactions?kind=payment"),
		"bad wallet_id":    a.get(alice, "/v1/transactions?wallet_id=w1"),
		"bad time":         a.get(alice, "/v1/transactions?created_after=yesterday"),
		"empty window":     a.get(alice, "/v1/transactions?created_after=2026-01-02T00:00:00Z&created_before=2026-01-01T00:00:00Z"),
		"mandate status":   a.get(alice, "/v1/wallets/"+w1+"/mandates?status=paused"),
		"history filter":   a.get(alice, "/v1/wallets/"+w1+"/transactions?kind=transfer"),
		"control in owner": a.get(alice, "/v1/wallets?owner=a%00b"),
	} {
		expectProblem(t, r, http.StatusBadRequest, "invalid_query")
		assert.NotEmpty(t, r.JSON(t)["detail"], name)
	}
}

// flip changes one character in the middle of an (escaped) cursor.
func flip(c string) string {
	b := []byte(c)
	i := len(b) / 2
	if b[i] == 'A' {
		b[i] = 'B'
	} else {
		b[i] = 'A'
	}
	return string(b)
}
