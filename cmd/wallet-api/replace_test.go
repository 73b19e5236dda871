package main

import (
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentic-commerce/wallet-ledger/internal/auth"
)

// Safe replacement (issue 15), from outside: POST /v1/mandates/{id}/replace with If-Match.

func replaceRequest(tok, mid, ifMatch string, body map[string]any) request {
	if _, ok := body["expires_at"]; !ok {
		body["expires_at"] = in(24 * time.Hour)
	}
	r := request{Method: http.MethodPost, Path: "/v1/mandates/" + mid + "/replace", Token: tok, Key: newKey(), Body: body}
	if ifMatch != "" {
		r.Header = map[string]string{"If-Match": ifMatch}
	}
	return r
}

func TestReplaceMandate(t *testing.T) {
	a := newAPI(t)
	alice := token(t, "alice", auth.ScopeRead, auth.ScopeWrite)
	agent := token(t, "agent-r", auth.ScopeRead, auth.ScopeWrite)
	wallet, shop := a.createWallet(alice, "USD"), a.createWallet(token(t, "shop", auth.ScopeWrite), "USD")
	a.fund(wallet, "USD", 10_000)
	mid := grant(t, a, alice, wallet, map[string]any{"agent": "agent-r", "limit": map[string]any{"amount": 500, "period": "total"},
		"max_transactions": map[string]any{"count": 5, "period": "total"}})["mandate_id"].(string)
	for _, amount := range []int{100, 150} {
		created(t, a.post(agent, "/v1/transfers", map[string]any{"from_wallet_id": wallet, "to_wallet_id": shop, "amount": amount, "asset": "USD"}))
	}
	etag := a.get(alice, "/v1/mandates/"+mid).Header.Get("ETag")
	require.Equal(t, `"3"`, etag)
	terms := func() map[string]any {
		return map[string]any{"agent": "agent-r", "max_per_transaction": 400, "limit": map[string]any{"amount": 1_000, "period": "total"},
			"max_transactions": map[string]any{"count": 4, "period": "total"}}
	}

	expectProblem(t, a.do(replaceRequest(alice, mid, "", terms())), http.StatusPreconditionRequired, "precondition_required")
	expectProblem(t, a.do(replaceRequest(alice, mid, "*", terms())), http.StatusPreconditionRequired, "precondition_required")
	expectProblem(t, a.do(replaceRequest(alice, mid, `"2"`, terms())), http.StatusPreconditionFailed, "version_mismatch")
	expectProblem(t, a.do(replaceRequest(alice, mid, `W/"3"`, terms())), http.StatusPreconditionFailed, "version_mismatch")
	expectProblem(t, a.do(replaceRequest(alice, mid, "3", terms())), http.StatusPreconditionFailed, "version_mismatch")
	two := replaceRequest(alice, mid, "", terms())
	two.Multi = http.Header{"If-Match": {`"3"`, `"3"`}}
	expectProblem(t, a.do(two), http.StatusPreconditionRequired, "precondition_required")
	other := terms()
	other["agent"] = "agent-other"
	expectProblem(t, a.do(replaceRequest(alice, mid, etag, other)), http.StatusUnprocessableEntity, "validation_error")
	expectProblem(t, a.do(replaceRequest(agent, mid, etag, terms())), http.StatusForbidden, "forbidden")
	expectProblem(t, a.do(replaceRequest(token(t, "mallory", auth.ScopeWrite), mid, etag, terms())), http.StatusNotFound, "mandate_not_found")
	expectProblem(t, a.do(replaceRequest(alice, uuid.NewString(), etag, terms())), http.StatusNotFound, "mandate_not_found")
	assert.Equal(t, "active", created(t, a.get(alice, "/v1/mandates/"+mid), http.StatusOK)["status"], "no refusal changed it")

	req := replaceRequest(alice, mid, etag, terms())
	r := a.do(req)
	repl := created(t, r)
	newID := repl["mandate_id"].(string)
	assert.Equal(t, "/v1/mandates/"+newID, r.Header.Get("Location"))
	assert.Equal(t, mid, repl["replaces"])
	assert.EqualValues(t, 250, repl["spent_in_period"], "the old spend is carried: a replacement never resets a budget")
	assert.EqualValues(t, 750, repl["remaining"])
	assert.EqualValues(t, 2, repl["transactions_in_period"])
	assert.EqualValues(t, 2, repl["transactions_remaining"])
	assert.EqualValues(t, 1, repl["version"])

	// The same request under its key replays; the same key with another If-Match is another request.
	again := a.do(req)
	assert.Equal(t, "true", again.Header.Get("Idempotent-Replayed"))
	assert.Equal(t, r.Body, again.Body)
	req.Header["If-Match"] = `"4"`
	expectProblem(t, a.do(req), http.StatusUnprocessableEntity, "idempotency_key_reuse")

	old := created(t, a.get(alice, "/v1/mandates/"+mid), http.StatusOK)
	assert.Equal(t, "revoked", old["status"])
	assert.Equal(t, "replaced", old["deactivated_reason"])
	assert.Equal(t, "alice", old["revoked_by"])
	expectProblem(t, a.do(replaceRequest(alice, mid, `"4"`, terms())), http.StatusForbidden, "mandate_inactive")
	assert.Equal(t, 1, eventsOf(t, "mandate.replaced", mid))

	// The agent spends under the new one without naming it; the old one no longer spends.
	tx := created(t, a.post(agent, "/v1/transfers", map[string]any{"from_wallet_id": wallet, "to_wallet_id": shop, "amount": 400, "asset": "USD"}))
	assert.Equal(t, newID, tx["mandate_id"])
	expectProblem(t, a.post(agent, "/v1/transfers", map[string]any{"from_wallet_id": wallet, "to_wallet_id": shop, "amount": 1, "asset": "USD", "mandate_id": mid}),
		http.StatusForbidden, "mandate_inactive")
	created(t, a.post(agent, "/v1/transfers", map[string]any{"from_wallet_id": wallet, "to_wallet_id": shop, "amount": 1, "asset": "USD"}))
	expectProblem(t, a.post(agent, "/v1/transfers", map[string]any{"from_wallet_id": wallet, "to_wallet_id": shop, "amount": 1, "asset": "USD"}),
		http.StatusForbidden, "mandate_limit_exceeded") // 4 spends in all: 2 carried, 2 new

	// Replaced with lower limits than already spent: clamped, no room, never reset.
	etag = a.get(alice, "/v1/mandates/"+newID).Header.Get("ETag")
	low := created(t, a.do(replaceRequest(alice, newID, etag, map[string]any{"agent": "agent-r", "limit": map[string]any{"amount": 100, "period": "total"}})))
	assert.EqualValues(t, 100, low["spent_in_period"])
	assert.EqualValues(t, 0, low["remaining"])
	ledgerConsistent(t, a, wallet, shop)
}

// Replacing a suspended mandate: the replacement starts suspended.
func TestReplaceKeepsASuspension(t *testing.T) {
	a := newAPI(t)
	alice := token(t, "alice", auth.ScopeRead, auth.ScopeWrite)
	wallet := a.createWallet(alice, "USD")
	mid := grant(t, a, alice, wallet, map[string]any{"agent": "agent-z", "max_per_transaction": 5})["mandate_id"].(string)
	created(t, a.post(alice, "/v1/mandates/"+mid+"/suspend", nil), http.StatusOK)
	etag := a.get(alice, "/v1/mandates/"+mid).Header.Get("ETag")
	repl := created(t, a.do(replaceRequest(alice, mid, etag, map[string]any{"agent": "agent-z", "max_per_transaction": 50})))
	assert.Equal(t, "suspended", repl["status"])
	assert.Equal(t, "active", created(t, a.post(alice, "/v1/mandates/"+repl["mandate_id"].(string)+"/resume", nil), http.StatusOK)["status"])
}

// A replacement racing spends under the old mandate: every spend is charged to the old one before the
// replacement or to the new one after it (which carries the old one's spend), so the total spent across both never
// exceeds the limit, and the new mandate's counter is exactly what the journal holds under both. The spends come
// in two waves: the replacement races the first (and, as a client would, reads the version again whenever a spend
// moved it), and lands at the latest between the waves; the second wave spends the rest of the one budget.
func TestReplaceRacingSpends(t *testing.T) {
	a := newAPI(t)
	alice := token(t, "alice", auth.ScopeRead, auth.ScopeWrite)
	agent := token(t, "agent-race", auth.ScopeRead, auth.ScopeWrite)
	wallet, shop := a.createWallet(alice, "USD"), a.createWallet(token(t, "shop", auth.ScopeWrite), "USD")
	a.fund(wallet, "USD", 1_000_000)
	const limit, amount, spenders, rounds = 1_000, 5, 50, 6
	mid := grant(t, a, alice, wallet, map[string]any{"agent": "agent-race", "limit": map[string]any{"amount": limit, "period": "total"}})["mandate_id"].(string)

	start, secondWave := make(chan struct{}), make(chan struct{})
	var firstWave, spending, replacing sync.WaitGroup
	var mu sync.Mutex
	statuses, codes := map[int]int{}, map[string]int{}
	for range spenders {
		spending.Add(1)
		firstWave.Add(1)
		go func() {
			defer spending.Done()
			<-start
			for round := range rounds {
				if round == rounds/2 {
					firstWave.Done()
					<-secondWave
				}
				r := a.post(agent, "/v1/transfers", map[string]any{"from_wallet_id": wallet, "to_wallet_id": shop, "amount": amount, "asset": "USD"})
				mu.Lock()
				statuses[r.Status]++
				if r.Status != http.StatusCreated {
					codes[r.Code(t)]++
				}
				mu.Unlock()
				time.Sleep(time.Millisecond)
			}
		}()
	}
	var newID string
	tries := 0
	replacing.Add(1)
	go func() {
		defer replacing.Done()
		<-start
		// A real client: read the version, replace, and read again when a spend moved it meanwhile.
		for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); tries++ {
			etag := a.get(alice, "/v1/mandates/"+mid).Header.Get("ETag")
			r := a.do(replaceRequest(alice, mid, etag, map[string]any{"agent": "agent-race", "limit": map[string]any{"amount": limit, "period": "total"}}))
			if r.Status == http.StatusPreconditionFailed {
				continue
			}
			newID = created(t, r)["mandate_id"].(string)
			return
		}
	}()
	close(start)
	firstWave.Wait()
	replacing.Wait()
	close(secondWave)
	spending.Wait()
	require.NotEmpty(t, newID, "the replacement never landed")
	oldCount, oldSum := spendsUnder(t, mid)
	newCount, newSum := spendsUnder(t, newID)
	t.Logf("statuses %v, refusals %v; %d spends under the old mandate, %d under the new, after %d stale versions",
		statuses, codes, oldCount, newCount, tries)
	assert.Equal(t, spenders*rounds, statuses[http.StatusCreated]+statuses[http.StatusForbidden], "only 201 or 403: %v", statuses)
	for code := range codes {
		assert.Contains(t, []string{"mandate_limit_exceeded", "mandate_inactive"}, code)
	}
	assert.LessOrEqual(t, oldSum+newSum, int64(limit), "old and new together never spend above the limit")
	assert.EqualValues(t, statuses[http.StatusCreated], oldCount+newCount)
	repl := created(t, a.get(alice, "/v1/mandates/"+newID), http.StatusOK)
	assert.EqualValues(t, oldSum+newSum, repl["spent_in_period"], "the replacement carries exactly what the old one spent")
	assert.EqualValues(t, oldCount+newCount, repl["transactions_in_period"])

	// Whatever the race left, the agent can spend only the rest of the one budget.
	if rest := int(limit - oldSum - newSum); rest > 0 {
		expectProblem(t, a.post(agent, "/v1/transfers", map[string]any{"from_wallet_id": wallet, "to_wallet_id": shop, "amount": rest + 1, "asset": "USD"}),
			http.StatusForbidden, "mandate_limit_exceeded")
		created(t, a.post(agent, "/v1/transfers", map[string]any{"from_wallet_id": wallet, "to_wallet_id": shop, "amount": rest, "asset": "USD"}))
	}
	_, finalSum := spendsUnder(t, newID)
	assert.EqualValues(t, limit, oldSum+finalSum)
	ledgerConsistent(t, a, wallet, shop)
}
