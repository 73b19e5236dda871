package command

import (
	"net/http"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentic-commerce/wallet-ledger/eventstore"
	"github.com/agentic-commerce/wallet-ledger/internal/auth"
)

// Transfers (POST /v1/transfers), in process, one at a time: what one answers and stores, what it refuses and who
// may make it. What a batch of them does is in commit_test.go; spends under a mandate in the mandate tests.

func transferRequest(from, to uuid.UUID, asset string, amount int64) TransferRequest {
	return TransferRequest{FromWalletID: from.String(), ToWalletID: to.String(), Asset: asset, Amount: &amount}
}

func TestTransferMovesMoney(t *testing.T) {
	l := newLedger(t)
	l.setClock()
	from, to := l.wallet(alice, "USD"), l.wallet(bob, "USD")
	l.fund(from, "USD", 100)
	key := idem(alice)
	req := transferRequest(from, to, "USD", 30)
	req.Description, req.Metadata = ptr("coffee beans"), []byte(`{"order": 17}`)
	out, err := serve(l.c.Transfer, alice, key, nil, req)
	body := bodyOf(t)(out, err)
	id := idOf(t, body, "transaction_id")
	assert.Equal(t, http.StatusCreated, out.Status)
	assert.Equal(t, "/v1/transactions/"+id.String(), out.Location)
	assert.Equal(t, "transfer", body["kind"])
	assert.Equal(t, from.String(), body["from_wallet_id"])
	assert.Equal(t, to.String(), body["to_wallet_id"])
	assert.EqualValues(t, 30, body["amount"])
	assert.Equal(t, "USD", body["asset"])
	assert.Equal(t, "coffee beans", body["description"])
	assert.Equal(t, map[string]any{"order": 17.0}, body["metadata"])
	assert.Equal(t, "alice", body["sub"])
	assert.Equal(t, key.Key, body["idempotency_key"])
	assert.Equal(t, "2031-03-04T10:00:00Z", body["created_at"])
	assert.NotContains(t, body, "mandate_id", "the owner spends without one")

	tx := l.journal(id)
	assert.Equal(t, []eventstore.Entry{{WalletID: from, Asset: "USD", Amount: -30}, {WalletID: to, Asset: "USD", Amount: 30}}, tx.Entries)
	assert.Nil(t, tx.MandateID)
	bal, _ := l.balance(from)
	assert.EqualValues(t, 70, bal)
	bal, _ = l.balance(to)
	assert.EqualValues(t, 30, bal)
	committed := l.eventsOf(eventstore.EventTransactionCommitted)
	require.Len(t, committed, 2, "the funding and the transfer")
	assert.Equal(t, id.String(), committed[1]["transaction_id"])
	assert.Equal(t, []any{from.String(), to.String()}, committed[1]["wallet_ids"])

	before := l.state()
	replayOf(t, out)(serve(l.c.Transfer, alice, key, nil, req))
	assert.Equal(t, "idempotency_key_reuse", codeOf(t)(serve(l.c.Transfer, alice, reused(key), nil, transferRequest(from, to, "USD", 31))))
	l.unchanged(before, "a replay and a reused key move nothing")
	// A key is its caller's: bob's request under alice's key string is bob's own, new request.
	bobs := Idempotency{Sub: bob.Sub, Key: key.Key, Hash: key.Hash}
	assert.False(t, succeeded(t)(serve(l.c.Transfer, bob, bobs, nil, transferRequest(to, from, "USD", 1))).Replayed)
	bal, _ = l.balance(from)
	assert.EqualValues(t, 71, bal)
	l.consistent()
}

// Each domain refusal is stored under its key (a retry replays it) and moves nothing.
func TestTransferRefusals(t *testing.T) {
	l := newLedger(t)
	from, to, euros := l.wallet(alice, "USD"), l.wallet(bob, "USD"), l.wallet(bob, "EUR")
	frozen := l.wallet(alice, "USD")
	l.fund(from, "USD", 100)
	l.fund(frozen, "USD", 100)
	bodyOf(t)(l.freeze(alice, frozen, "stolen phone"))
	holdID(t)(l.hold(alice, from, to, 60))
	system := eventstore.SystemWalletID(systemBase, "USD")
	before := l.state()
	for name, c := range map[string]struct {
		caller   auth.Caller
		from, to uuid.UUID
		asset    string
		amount   int64
		code     string
		status   int
	}{
		"another asset's wallet": {alice, from, euros, "USD", 1, "asset_mismatch", http.StatusUnprocessableEntity},
		"another asset":          {alice, from, to, "EUR", 1, "asset_mismatch", http.StatusUnprocessableEntity},
		"more than available":    {alice, from, to, "USD", 41, "insufficient_funds", http.StatusUnprocessableEntity}, // 60 of 100 held
		"frozen source":          {alice, frozen, to, "USD", 1, "wallet_frozen", http.StatusLocked},
		"missing source":         {alice, uuid.New(), to, "USD", 1, "wallet_not_found", http.StatusNotFound},
		"missing destination":    {alice, from, uuid.New(), "USD", 1, "wallet_not_found", http.StatusNotFound},
		"to a system wallet":     {alice, from, system, "USD", 1, "system_wallet", http.StatusUnprocessableEntity},
		"from a system wallet":   {admin, system, to, "USD", 1, "system_wallet", http.StatusUnprocessableEntity},
	} {
		key := idem(c.caller)
		req := transferRequest(c.from, c.to, c.asset, c.amount)
		out, err := serve(l.c.Transfer, c.caller, key, nil, req)
		assert.Equal(t, c.code, codeOf(t)(out, err), name)
		assert.Equal(t, c.status, out.Status, name)
		replayOf(t, out)(serve(l.c.Transfer, c.caller, key, nil, req))
	}
	l.unchanged(before)

	// The same wallet on both sides is refused before anything is read or claimed.
	key := idem(alice)
	assert.Equal(t, "same_wallet", codeOf(t)(serve(l.c.Transfer, alice, key, nil, transferRequest(from, from, "USD", 1))))
	bodyOf(t)(serve(l.c.Transfer, alice, key, nil, transferRequest(from, to, "USD", 40)))
	bal, held := l.balance(from)
	assert.Equal(t, [2]int64{60, 60}, [2]int64{bal, held}, "exactly what was available could go")
	l.consistent()
}

// A wallet that is not the caller's answers exactly like one that does not exist; an admin spends from any user
// wallet; money still comes into a frozen wallet.
func TestTransferWho(t *testing.T) {
	l := newLedger(t)
	alices, bobs := l.wallet(alice, "USD"), l.wallet(bob, "USD")
	l.fund(alices, "USD", 100)
	before := l.state()
	missing := uuid.New()
	foreign := decodedProblem(t)(serve(l.c.Transfer, bob, idem(bob), nil, transferRequest(alices, bobs, "USD", 1)))
	absent := decodedProblem(t)(serve(l.c.Transfer, bob, idem(bob), nil, transferRequest(missing, bobs, "USD", 1)))
	assert.Equal(t, "wallet_not_found", foreign["code"])
	assert.Equal(t, absent["code"], foreign["code"])
	assert.Equal(t, absent["detail"], strings.ReplaceAll(foreign["detail"].(string), alices.String(), missing.String()))
	assert.Equal(t, "wallet_not_found", codeOf(t)(serve(l.c.Transfer, shopperForAlice, idem(shopperForAlice), nil,
		transferRequest(alices, bobs, "USD", 1))), "an agent acting for alice has not her authority")
	l.unchanged(before)

	byAdmin := bodyOf(t)(serve(l.c.Transfer, admin, idem(admin), nil, transferRequest(alices, bobs, "USD", 10)))
	assert.Equal(t, "treasury", byAdmin["sub"])
	bodyOf(t)(l.freeze(bob, bobs, "travelling"))
	bodyOf(t)(serve(l.c.Transfer, alice, idem(alice), nil, transferRequest(alices, bobs, "USD", 5)))
	bal, _ := l.balance(bobs)
	assert.EqualValues(t, 15, bal)
	l.consistent()
}

func TestTransferValidation(t *testing.T) {
	l := newLedger(t)
	from, to := l.wallet(alice, "USD"), l.wallet(bob, "USD")
	before := l.state()
	for name, c := range map[string]struct {
		change func(*TransferRequest)
		want   []string
	}{
		"amount missing":       {func(r *TransferRequest) { r.Amount = nil }, []string{"amount"}},
		"amount zero":          {func(r *TransferRequest) { r.Amount = ptr[int64](0) }, []string{"amount"}},
		"amount negative":      {func(r *TransferRequest) { r.Amount = ptr[int64](-5) }, []string{"amount"}},
		"amount over 2^53-1":   {func(r *TransferRequest) { r.Amount = ptr[int64](maxAmount + 1) }, []string{"amount"}},
		"from missing":         {func(r *TransferRequest) { r.FromWalletID = "" }, []string{"from_wallet_id"}},
		"to not a UUID":        {func(r *TransferRequest) { r.ToWalletID = "bob" }, []string{"to_wallet_id"}},
		"mandate_id not UUID":  {func(r *TransferRequest) { r.MandateID = "m1" }, []string{"mandate_id"}},
		"description too long": {func(r *TransferRequest) { r.Description = ptr(strings.Repeat("é", maxTextLength+1)) }, []string{"description"}},
		"metadata too large":   {func(r *TransferRequest) { r.Metadata = []byte(`{"a":"` + strings.Repeat("x", maxMetadataBytes) + `"}`) }, []string{"metadata"}},
		"everything at once":   {func(r *TransferRequest) { r.Amount, r.Asset, r.FromWalletID = nil, "", "x" }, []string{"amount", "asset", "from_wallet_id"}},
	} {
		req := transferRequest(from, to, "USD", 1)
		c.change(&req)
		assert.ElementsMatch(t, c.want, invalidFields(t)(serve(l.c.Transfer, alice, idem(alice), nil, req)), name)
	}
	l.unchanged(before)
	// The longest description is accepted (its length is counted in characters, not bytes).
	req := transferRequest(from, to, "USD", 1)
	req.Description = ptr(strings.Repeat("é", maxTextLength))
	_, err := ValidateTransfer(req)
	assert.NoError(t, err)
}

// succeeded returns a function that requires a successful outcome and returns it whole.
func succeeded(t *testing.T) func(Outcome, error) Outcome {
	return func(out Outcome, err error) Outcome {
		t.Helper()
		bodyOf(t)(out, err)
		return out
	}
}

// decodedProblem returns a function that requires a refusal stored under the key and decodes its problem body.
func decodedProblem(t *testing.T) func(Outcome, error) map[string]any {
	return func(out Outcome, err error) map[string]any {
		t.Helper()
		require.NoError(t, err)
		require.True(t, out.Problem, "not refused: %d %s", out.Status, out.Body)
		return decoded(t, out)
	}
}
