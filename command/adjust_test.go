package command

import (
	"net/http"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentic-commerce/wallet-ledger/eventstore"
	"github.com/agentic-commerce/wallet-ledger/internal/auth"
)

// Adjustments (POST /v1/adjustments), in process: an admin's correction of one wallet against the asset's system
// wallet.

func (l *ledger) adjust(caller auth.Caller, key Idempotency, wallet uuid.UUID, asset string, amount int64) (Outcome, error) {
	return serve(l.c.Adjust, caller, key, nil, AdjustmentRequest{WalletID: wallet.String(), Asset: asset, Amount: &amount, Reason: ptr("correction")})
}

func TestAdjustCreditsAndDebitsAgainstTheSystemWallet(t *testing.T) {
	l := newLedger(t)
	l.setClock()
	wallet := l.wallet(alice, "USD")
	system := eventstore.SystemWalletID(systemBase, "USD")
	key := idem(admin)
	req := AdjustmentRequest{WalletID: wallet.String(), Asset: "USD", Amount: ptr[int64](500), Reason: ptr("opening balance"),
		Metadata: []byte(`{"ticket": "T-1"}`)}
	out, err := serve(l.c.Adjust, admin, key, nil, req)
	body := bodyOf(t)(out, err)
	id := idOf(t, body, "transaction_id")
	assert.Equal(t, http.StatusCreated, out.Status)
	assert.Equal(t, "/v1/transactions/"+id.String(), out.Location)
	assert.Equal(t, "adjustment", body["kind"])
	assert.EqualValues(t, 500, body["amount"])
	assert.Equal(t, "USD", body["asset"])
	assert.Equal(t, wallet.String(), body["wallet_id"])
	assert.Equal(t, "opening balance", body["reason"])
	assert.Equal(t, "treasury", body["sub"])
	assert.Nil(t, body["actor"])
	assert.Equal(t, key.Key, body["idempotency_key"])
	assert.Equal(t, map[string]any{"ticket": "T-1"}, body["metadata"])
	assert.Equal(t, "2031-03-04T10:00:00Z", body["created_at"])
	assert.Equal(t, []any{
		map[string]any{"wallet_id": wallet.String(), "asset": "USD", "amount": 500.0},
		map[string]any{"wallet_id": system.String(), "asset": "USD", "amount": -500.0},
	}, body["entries"])

	// The journal, both projections and the event agree with the answer.
	tx := l.journal(id)
	assert.Equal(t, eventstore.KindAdjustment, tx.Kind)
	assert.Equal(t, "opening balance", tx.Description)
	assert.Equal(t, []eventstore.Entry{{WalletID: wallet, Asset: "USD", Amount: 500}, {WalletID: system, Asset: "USD", Amount: -500}}, tx.Entries)
	assert.EqualValues(t, body["position"], tx.Position)
	bal, _ := l.balance(wallet)
	assert.EqualValues(t, 500, bal)
	bal, _ = l.balance(system)
	assert.EqualValues(t, -500, bal, "the system wallet carries the counter-entry")
	sys := l.walletRow(system)
	assert.Equal(t, eventstore.KindSystem, sys.Kind)
	assert.Equal(t, eventstore.SystemOwner, sys.Owner)
	committed := l.eventsOf(eventstore.EventTransactionCommitted)
	require.Len(t, committed, 1)
	assert.Equal(t, id.String(), committed[0]["transaction_id"])
	assert.Equal(t, "adjustment", committed[0]["kind"])
	assert.EqualValues(t, 500, committed[0]["amount"])

	before := l.state()
	replayOf(t, out)(serve(l.c.Adjust, admin, key, nil, req))
	assert.Equal(t, "idempotency_key_reuse", codeOf(t)(l.adjust(admin, reused(key), wallet, "USD", 1)))
	l.unchanged(before, "a replay and a reused key move nothing")

	// A debit is a negative amount.
	debit := bodyOf(t)(l.adjust(admin, idem(admin), wallet, "USD", -200))
	assert.EqualValues(t, -200, debit["amount"])
	bal, _ = l.balance(wallet)
	assert.EqualValues(t, 300, bal)
	bal, _ = l.balance(system)
	assert.EqualValues(t, -300, bal)
	l.consistent()
}

// Each refusal is stored under its key (a retry replays it) and moves nothing.
func TestAdjustRefusals(t *testing.T) {
	l := newLedger(t)
	wallet, euros := l.wallet(alice, "USD"), l.wallet(alice, "EUR")
	l.fund(wallet, "USD", 100)
	holdID(t)(l.hold(alice, wallet, l.wallet(bob, "USD"), 80))
	before := l.state()
	for name, c := range map[string]struct {
		wallet uuid.UUID
		asset  string
		amount int64
		code   string
		status int
	}{
		"missing wallet":      {uuid.New(), "USD", 1, "wallet_not_found", http.StatusNotFound},
		"the system wallet":   {eventstore.SystemWalletID(systemBase, "USD"), "USD", 1, "system_wallet", http.StatusUnprocessableEntity},
		"another asset":       {euros, "USD", 1, "asset_mismatch", http.StatusUnprocessableEntity},
		"more than available": {wallet, "USD", -21, "insufficient_funds", http.StatusUnprocessableEntity}, // 80 of 100 held
		"more than balance":   {wallet, "USD", -101, "insufficient_funds", http.StatusUnprocessableEntity},
	} {
		key := idem(admin)
		out, err := l.adjust(admin, key, c.wallet, c.asset, c.amount)
		assert.Equal(t, c.code, codeOf(t)(out, err), name)
		assert.Equal(t, c.status, out.Status, name)
		replayOf(t, out)(l.adjust(admin, key, c.wallet, c.asset, c.amount))
	}
	l.unchanged(before)
	bal, held := l.balance(wallet)
	assert.Equal(t, [2]int64{100, 80}, [2]int64{bal, held})

	// What is available may go, to the last unit.
	bodyOf(t)(l.adjust(admin, idem(admin), wallet, "USD", -20))
	bal, held = l.balance(wallet)
	assert.Equal(t, [2]int64{80, 80}, [2]int64{bal, held})
	l.consistent()
}

// The first adjustments of an asset that has no system wallet yet: one that is refused creates nothing, not even
// the system wallet; the first credit creates it, in the same batch as a refusal.
func TestAdjustRefusedInANewAssetCreatesNothing(t *testing.T) {
	l := newLedger(t)
	yen, euros := l.wallet(alice, "JPY"), l.wallet(alice, "EUR")
	system := eventstore.SystemWalletID(systemBase, "JPY")
	before := l.state()
	for name, c := range map[string]struct {
		wallet uuid.UUID
		amount int64
		code   string
	}{
		"credit to a missing wallet":   {uuid.New(), 5, "wallet_not_found"},
		"credit to another asset":      {euros, 5, "asset_mismatch"},
		"credit to the system wallet":  {system, 5, "wallet_not_found"},
		"debit where no money entered": {yen, -5, "insufficient_funds"},
	} {
		out, err := l.adjust(admin, idem(admin), c.wallet, "JPY", c.amount)
		assert.Equal(t, c.code, codeOf(t)(out, err), name)
	}
	l.unchanged(before, "a refused adjustment changes nothing, and creates no system wallet")

	// A refusal and the first credit in one batch: the credit creates the system wallet.
	credit := func(w uuid.UUID) *job {
		return jobFor(t, l.c.Adjust, admin, idem(admin), Adjustment{WalletID: w, Asset: "JPY", Amount: 7, Reason: "first"})
	}
	outs := l.together(credit(uuid.New()), credit(yen))
	assert.Equal(t, "wallet_not_found", codeOf(t)(outs[0].out, outs[0].err))
	bodyOf(t)(outs[1].out, outs[1].err)
	bal, _ := l.balance(system)
	assert.EqualValues(t, -7, bal)
	l.consistent()
}

// Only admins adjust: the route asks for the admin scope, an agent acting for an admin may not, and an admin's
// correction of a frozen wallet is never blocked (a debit by anyone else is, should it ever be run in process).
func TestAdjustWho(t *testing.T) {
	l := newLedger(t)
	assert.Equal(t, auth.ScopeAdmin, l.c.Adjust.scope)
	wallet := l.wallet(alice, "USD")
	l.fund(wallet, "USD", 100)
	bodyOf(t)(l.freeze(alice, wallet, "lost card"))
	before := l.state()
	agentOfAdmin := auth.Caller{Sub: "treasury", Actor: "bot", Scopes: []string{auth.ScopeAdmin}}
	assert.Equal(t, "forbidden", codeOf(t)(l.adjust(agentOfAdmin, idem(agentOfAdmin), wallet, "USD", 5)))
	assert.Equal(t, "wallet_frozen", codeOf(t)(l.adjust(alice, idem(alice), wallet, "USD", -5)))
	l.unchanged(before)

	bodyOf(t)(l.adjust(admin, idem(admin), wallet, "USD", -5))
	bodyOf(t)(l.adjust(admin, idem(admin), wallet, "USD", 7))
	bal, _ := l.balance(wallet)
	assert.EqualValues(t, 102, bal)
	l.consistent()
}

func TestAdjustValidation(t *testing.T) {
	l := newLedger(t)
	wallet := l.wallet(alice, "USD")
	before := l.state()
	ok := AdjustmentRequest{WalletID: wallet.String(), Asset: "USD", Amount: ptr[int64](1), Reason: ptr("r")}
	for name, c := range map[string]struct {
		change func(*AdjustmentRequest)
		want   []string
	}{
		"amount missing":     {func(r *AdjustmentRequest) { r.Amount = nil }, []string{"amount"}},
		"amount zero":        {func(r *AdjustmentRequest) { r.Amount = ptr[int64](0) }, []string{"amount"}},
		"amount over 2^53-1": {func(r *AdjustmentRequest) { r.Amount = ptr[int64](maxAmount + 1) }, []string{"amount"}},
		"debit over 2^53-1":  {func(r *AdjustmentRequest) { r.Amount = ptr[int64](-maxAmount - 1) }, []string{"amount"}},
		"reason missing":     {func(r *AdjustmentRequest) { r.Reason = nil }, []string{"reason"}},
		"reason empty":       {func(r *AdjustmentRequest) { r.Reason = ptr("") }, []string{"reason"}},
		"wallet_id missing":  {func(r *AdjustmentRequest) { r.WalletID = "" }, []string{"wallet_id"}},
		"asset invalid":      {func(r *AdjustmentRequest) { r.Asset = "US" }, []string{"asset"}},
	} {
		req := ok
		c.change(&req)
		assert.ElementsMatch(t, c.want, invalidFields(t)(serve(l.c.Adjust, admin, idem(admin), nil, req)), name)
	}
	l.unchanged(before)
	// The bounds themselves are accepted.
	for _, amount := range []int64{maxAmount, -maxAmount} {
		req := ok
		req.Amount = &amount
		_, err := ValidateAdjustment(req)
		assert.NoError(t, err, amount)
	}
}
