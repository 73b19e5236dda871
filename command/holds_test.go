package command

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentic-commerce/wallet-ledger/eventstore"
	"github.com/agentic-commerce/wallet-ledger/internal/auth"
)

// Creating a hold (POST /v1/holds), in process: what it answers and stores, what it refuses. Captures and voids
// are in hold_release_test.go, the sweeper in hold_expiry_test.go.

// holdRequest reserves amount of wallet for to (uuid.Nil: no destination yet).
func holdRequest(wallet, to uuid.UUID, amount int64) CreateHoldRequest {
	req := CreateHoldRequest{WalletID: wallet.String(), Asset: "USD", Amount: &amount}
	if to != uuid.Nil {
		req.ToWalletID = to.String()
	}
	return req
}

func (l *ledger) createHold(caller auth.Caller, key Idempotency, req CreateHoldRequest) (Outcome, error) {
	return serve(l.c.CreateHold, caller, key, nil, req)
}

// holdRow reads a hold as stored.
func (l *ledger) holdRow(id uuid.UUID) eventstore.Hold {
	l.t.Helper()
	h, err := eventstore.GetHold(context.Background(), l.pool, id)
	require.NoError(l.t, err)
	return h
}

func TestCreateHoldReservesMoney(t *testing.T) {
	l := newLedger(t)
	l.setClock()
	wallet, shop := l.wallet(alice, "USD"), l.wallet(bob, "USD")
	l.fund(wallet, "USD", 100)
	key := idem(alice)
	req := holdRequest(wallet, shop, 40)
	req.Description, req.Metadata = ptr("hotel deposit"), []byte(`{"room": "12"}`)
	out, err := l.createHold(alice, key, req)
	body := bodyOf(t)(out, err)
	id := idOf(t, body, "hold_id")
	txID := idOf(t, body, "transaction_id")
	assert.Equal(t, http.StatusCreated, out.Status)
	assert.Equal(t, "/v1/holds/"+id.String(), out.Location)
	assert.Equal(t, map[string]any{
		"hold_id": id.String(), "wallet_id": wallet.String(), "to_wallet_id": shop.String(), "asset": "USD",
		"amount": 40.0, "captured_amount": 0.0, "status": "active", "expires_at": "2031-03-11T10:00:00Z",
		"sub": "alice", "actor": nil, "description": "hotel deposit", "metadata": map[string]any{"room": "12"},
		"transaction_id": txID.String(), "created_at": "2031-03-04T10:00:00Z", "updated_at": "2031-03-04T10:00:00Z",
	}, body, "a hold without expires_at lasts DefaultHoldTTL (7 days)")

	bal, held := l.balance(wallet)
	assert.Equal(t, [2]int64{100, 40}, [2]int64{bal, held}, "held, still in the balance")
	h := l.holdRow(id)
	assert.Equal(t, eventstore.HoldActive, h.Status)
	assert.Equal(t, txID, h.TransactionID)
	assert.True(t, h.ExpiresAt.Equal(epoch.Add(DefaultHoldTTL)))
	tx := l.journal(txID)
	assert.Equal(t, eventstore.KindHold, tx.Kind)
	assert.Equal(t, &id, tx.HoldID)
	assert.Equal(t, []eventstore.Entry{{WalletID: wallet, Asset: "USD", Amount: -40},
		{WalletID: wallet, Asset: "USD", Amount: 40, Bucket: eventstore.BucketHeld}}, tx.Entries)
	created := l.eventsOf(eventstore.EventHoldCreated)
	require.Len(t, created, 1)
	assert.Equal(t, id.String(), created[0]["hold_id"])
	assert.Equal(t, []any{wallet.String(), shop.String()}, created[0]["wallet_ids"])
	assert.Equal(t, "active", created[0]["hold"].(map[string]any)["status"])

	before := l.state()
	replayOf(t, out)(l.createHold(alice, key, req))
	assert.Equal(t, "idempotency_key_reuse", codeOf(t)(l.createHold(alice, reused(key), holdRequest(wallet, shop, 41))))
	l.unchanged(before)

	// A named expiry is kept to the microsecond; a hold may name no destination.
	req = holdRequest(wallet, uuid.Nil, 10)
	req.ExpiresAt = ptr("2031-03-04T11:30:00.123456789Z")
	h2 := bodyOf(t)(l.createHold(alice, idem(alice), req))
	assert.Equal(t, "2031-03-04T11:30:00.123456Z", h2["expires_at"])
	assert.NotContains(t, h2, "to_wallet_id")
	l.consistent()
}

// HOLD_MAX_TTL bounds expires_at and, when shorter than 7 days, is the default.
func TestCreateHoldExpiryBounds(t *testing.T) {
	l := newLedger(t)
	l.setClock()
	require.NoError(t, l.c.SetHoldMaxTTL(48*time.Hour))
	assert.Error(t, l.c.SetHoldMaxTTL(time.Second))
	wallet := l.wallet(alice, "USD")
	l.fund(wallet, "USD", 100)
	assert.Equal(t, "2031-03-06T10:00:00Z", bodyOf(t)(l.createHold(alice, idem(alice), holdRequest(wallet, uuid.Nil, 1)))["expires_at"])
	atMost := holdRequest(wallet, uuid.Nil, 1)
	atMost.ExpiresAt = ptr("2031-03-06T10:00:00Z")
	bodyOf(t)(l.createHold(alice, idem(alice), atMost))

	// Decided against the write's own time, the refusal is the write's answer: stored under the key.
	before := l.state()
	for name, at := range map[string]string{"now": "2031-03-04T10:00:00Z", "past": "2020-01-01T00:00:00Z", "beyond the max": "2031-03-06T10:00:00.000001Z"} {
		req := holdRequest(wallet, uuid.Nil, 1)
		req.ExpiresAt = &at
		key := idem(alice)
		out, err := l.createHold(alice, key, req)
		assert.Equal(t, []string{"expires_at"}, invalidFields(t)(out, err), name)
		replayOf(t, out)(l.createHold(alice, key, req))
	}
	l.unchanged(before)
}

// Each domain refusal is stored under its key (a retry replays it) and reserves nothing.
func TestCreateHoldRefusals(t *testing.T) {
	l := newLedger(t)
	wallet, shop, euros := l.wallet(alice, "USD"), l.wallet(bob, "USD"), l.wallet(bob, "EUR")
	frozen, bobs := l.wallet(alice, "USD"), l.wallet(bob, "USD")
	for _, w := range []uuid.UUID{wallet, frozen, bobs} {
		l.fund(w, "USD", 100)
	}
	bodyOf(t)(l.freeze(alice, frozen, "lost card"))
	bodyOf(t)(l.hold(alice, wallet, shop, 70))
	system := eventstore.SystemWalletID(systemBase, "USD")
	before := l.state()
	for name, c := range map[string]struct {
		caller     auth.Caller
		wallet, to uuid.UUID
		amount     int64
		code       string
		status     int
	}{
		"more than available":     {alice, wallet, shop, 31, "insufficient_funds", http.StatusUnprocessableEntity},
		"frozen wallet":           {alice, frozen, shop, 1, "wallet_frozen", http.StatusLocked},
		"another asset's wallet":  {alice, wallet, euros, 1, "asset_mismatch", http.StatusUnprocessableEntity},
		"missing wallet":          {alice, uuid.New(), shop, 1, "wallet_not_found", http.StatusNotFound},
		"missing destination":     {alice, wallet, uuid.New(), 1, "wallet_not_found", http.StatusNotFound},
		"another owner's wallet":  {alice, bobs, shop, 1, "wallet_not_found", http.StatusNotFound},
		"an agent without one":    {agent, wallet, shop, 1, "wallet_not_found", http.StatusNotFound},
		"to a system wallet":      {alice, wallet, system, 1, "system_wallet", http.StatusUnprocessableEntity},
		"from a system wallet":    {admin, system, shop, 1, "system_wallet", http.StatusUnprocessableEntity},
		"an admin, over the rest": {admin, wallet, shop, 31, "insufficient_funds", http.StatusUnprocessableEntity},
	} {
		key := idem(c.caller)
		req := holdRequest(c.wallet, c.to, c.amount)
		out, err := l.createHold(c.caller, key, req)
		assert.Equal(t, c.code, codeOf(t)(out, err), name)
		assert.Equal(t, c.status, out.Status, name)
		replayOf(t, out)(l.createHold(c.caller, key, req))
	}
	euro := holdRequest(euros, uuid.Nil, 1)
	assert.Equal(t, "asset_mismatch", codeOf(t)(l.createHold(bob, idem(bob), euro)), "a EUR wallet held in USD")
	l.unchanged(before)

	// Refused before a key is claimed: the same wallet on both sides, and malformed fields.
	key := idem(alice)
	assert.Equal(t, "same_wallet", codeOf(t)(l.createHold(alice, key, holdRequest(wallet, wallet, 1))))
	bad := holdRequest(wallet, shop, 0)
	bad.ExpiresAt, bad.Asset, bad.MandateID = ptr("tomorrow"), "usd", "m"
	assert.ElementsMatch(t, []string{"amount", "asset", "expires_at", "mandate_id"}, invalidFields(t)(l.createHold(alice, key, bad)))
	l.unchanged(before)
	bodyOf(t)(l.createHold(alice, key, holdRequest(wallet, shop, 30)))
	bal, held := l.balance(wallet)
	assert.Equal(t, [2]int64{100, 100}, [2]int64{bal, held}, "exactly what was available could be held")
	l.consistent()
}

// An agent holds under its mandate, which the hold charges; the owner and admins hold without one.
func TestCreateHoldUnderAMandate(t *testing.T) {
	l := newLedger(t)
	wallet, shop := l.wallet(alice, "USD"), l.wallet(bob, "USD")
	l.fund(wallet, "USD", 1_000)
	mid := l.grantTo(wallet, GrantMandate{LimitAmount: ptr[int64](100), LimitPeriod: eventstore.PeriodDay, AllowedDestinations: []uuid.UUID{shop}})
	h := bodyOf(t)(l.createHold(agent, idem(agent), holdRequest(wallet, shop, 60)))
	assert.Equal(t, mid.String(), h["mandate_id"])
	assert.Equal(t, "agent-7", h["sub"])
	assert.EqualValues(t, 60, l.mandateRow(mid).SpentInPeriod)
	before := l.state()
	assert.Equal(t, "mandate_limit_exceeded", codeOf(t)(l.createHold(agent, idem(agent), holdRequest(wallet, shop, 41))))
	assert.Equal(t, "destination_not_allowed", codeOf(t)(l.createHold(agent, idem(agent), holdRequest(wallet, uuid.Nil, 1))),
		"a mandate that lists destinations needs the hold to name one")
	l.unchanged(before)
	byAdmin := bodyOf(t)(l.createHold(admin, idem(admin), holdRequest(wallet, uuid.Nil, 500)))
	assert.NotContains(t, byAdmin, "mandate_id")
	assert.EqualValues(t, 60, l.mandateRow(mid).SpentInPeriod)
	l.consistent()
}
