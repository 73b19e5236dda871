package command

import (
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

// Granting a mandate (POST /v1/wallets/{id}/mandates), in process: what it answers and stores, what it refuses,
// who may grant. Spending under mandates and their lifecycle are tested in the mandate and spending tests.

// mandateRequest is a capped grant to agent-7 that expires in 30 days from epoch.
func mandateRequest() GrantMandateRequest {
	return GrantMandateRequest{Agent: agent.Sub, MaxPerTransaction: ptr[int64](50), ExpiresAt: ptr("2031-04-03T10:00:00Z")}
}

func (l *ledger) grant(caller auth.Caller, key Idempotency, wallet uuid.UUID, req GrantMandateRequest) (Outcome, error) {
	return serve(l.c.GrantMandate, caller, key, at(wallet), req)
}

func TestGrantMandate(t *testing.T) {
	l := newLedger(t)
	l.setClock()
	wallet, shop, cafe := l.wallet(alice, "USD"), l.wallet(bob, "USD"), l.wallet(bob, "USD")
	req := mandateRequest()
	req.Limit = &LimitRequest{Amount: ptr[int64](100), Period: eventstore.PeriodDay}
	req.MaxTransactions = &CountLimitRequest{Count: ptr[int64](3), Period: eventstore.PeriodWeek}
	req.AllowedDestinations = []string{shop.String(), cafe.String(), shop.String()}
	req.Description = ptr("groceries")
	key := idem(alice)
	out, err := l.grant(alice, key, wallet, req)
	body := bodyOf(t)(out, err)
	id := idOf(t, body, "mandate_id")
	assert.Equal(t, http.StatusCreated, out.Status)
	assert.Equal(t, "/v1/mandates/"+id.String(), out.Location)
	assert.Equal(t, map[string]any{
		"mandate_id": id.String(), "wallet_id": wallet.String(), "asset": "USD", "agent": "agent-7", "granted_by": "alice",
		"status": "active", "version": 1.0, "single_use": false, "max_per_transaction": 50.0,
		"limit":                map[string]any{"amount": 100.0, "period": "day"},
		"max_transactions":     map[string]any{"count": 3.0, "period": "week"},
		"allowed_destinations": []any{shop.String(), cafe.String()}, "description": "groceries",
		"spent_in_period": 0.0, "remaining": 100.0, "period_start": "2031-03-04T00:00:00Z",
		"transactions_in_period": 0.0, "transactions_remaining": 3.0,
		"expires_at": "2031-04-03T10:00:00Z", "created_at": "2031-03-04T10:00:00Z",
	}, body, "each destination once, in the order given")

	m := l.mandateRow(id)
	assert.Equal(t, wallet, m.WalletID)
	assert.Equal(t, "agent-7", m.Agent)
	assert.Equal(t, "alice", m.GrantedBy)
	assert.Equal(t, eventstore.MandateActive, m.Status)
	assert.EqualValues(t, 1, m.Version)
	assert.Equal(t, ptr[int64](50), m.MaxPerTransaction)
	assert.Equal(t, ptr[int64](100), m.LimitAmount)
	assert.Equal(t, ptr[int64](3), m.MaxTransactions)
	assert.Equal(t, []uuid.UUID{shop, cafe}, m.AllowedDestinations)
	assert.True(t, m.ExpiresAt.Equal(time.Date(2031, 4, 3, 10, 0, 0, 0, time.UTC)))
	granted := l.eventsOf(eventstore.EventMandateGranted)
	require.Len(t, granted, 1)
	assert.Equal(t, id.String(), granted[0]["mandate"].(map[string]any)["mandate_id"])
	assert.Equal(t, "alice", granted[0]["sub"])

	before := l.state()
	replayOf(t, out)(l.grant(alice, key, wallet, req))
	assert.Equal(t, "idempotency_key_reuse", codeOf(t)(l.grant(alice, reused(key), wallet, mandateRequest())))
	l.unchanged(before)

	// It authorises its agent at once, within its terms.
	l.fund(wallet, "USD", 1_000)
	tx := bodyOf(t)(l.transfer(agent, wallet, shop, 50))
	assert.Equal(t, id.String(), tx["mandate_id"])
	assert.Equal(t, "destination_not_allowed", codeOf(t)(l.transfer(agent, wallet, l.wallet(bob, "USD"), 1)))
	l.consistent()
}

// The wallet's owner and admins grant; anyone else (another owner, an agent holding a mandate on it) is told the
// wallet does not exist, as for a missing one; an agent acting for the owner may not grant at all.
func TestGrantMandateWho(t *testing.T) {
	l := newLedger(t)
	wallet := l.wallet(alice, "USD")
	l.grantTo(wallet, GrantMandate{MaxPerTransaction: ptr[int64](5)})
	before := l.state()
	for name, c := range map[string]struct {
		caller auth.Caller
		wallet uuid.UUID
		code   string
	}{
		"another owner":          {bob, wallet, "wallet_not_found"},
		"an agent with one":      {agent, wallet, "wallet_not_found"},
		"a missing wallet":       {alice, uuid.New(), "wallet_not_found"},
		"a system wallet":        {admin, eventstore.SystemWalletID(systemBase, "USD"), "wallet_not_found"},
		"an agent acting for it": {shopperForAlice, wallet, "forbidden"},
	} {
		req := mandateRequest()
		req.Agent = "helper"
		assert.Equal(t, c.code, codeOf(t)(l.grant(c.caller, idem(c.caller), c.wallet, req)), name)
	}
	l.unchanged(before)

	byAdmin := bodyOf(t)(l.grant(admin, idem(admin), wallet, mandateRequest()))
	assert.Equal(t, "treasury", byAdmin["granted_by"])
	assert.Equal(t, "treasury", l.mandateRow(idOf(t, byAdmin, "mandate_id")).GrantedBy)
	l.consistent()
}

// What only the ledger can check is refused in the write, stored under the key like any domain answer: the agent
// is the owner, a destination is not another user wallet of the asset, the expiry has passed.
func TestGrantMandateRefusals(t *testing.T) {
	l := newLedger(t)
	l.setClock()
	wallet, euros := l.wallet(alice, "USD"), l.wallet(bob, "EUR")
	l.fund(wallet, "USD", 1)
	before := l.state()
	for name, c := range map[string]struct {
		change func(*GrantMandateRequest)
		field  string
	}{
		"the owner as agent":     {func(r *GrantMandateRequest) { r.Agent = "alice" }, "agent"},
		"the wallet itself":      {func(r *GrantMandateRequest) { r.AllowedDestinations = []string{wallet.String()} }, "allowed_destinations"},
		"another asset's wallet": {func(r *GrantMandateRequest) { r.AllowedDestinations = []string{euros.String()} }, "allowed_destinations"},
		"a missing wallet":       {func(r *GrantMandateRequest) { r.AllowedDestinations = []string{uuid.NewString()} }, "allowed_destinations"},
		"a system wallet": {func(r *GrantMandateRequest) {
			r.AllowedDestinations = []string{eventstore.SystemWalletID(systemBase, "USD").String()}
		}, "allowed_destinations"},
		"an expiry now":         {func(r *GrantMandateRequest) { r.ExpiresAt = ptr("2031-03-04T10:00:00Z") }, "expires_at"},
		"an expiry in the past": {func(r *GrantMandateRequest) { r.ExpiresAt = ptr("2031-03-04T09:59:59Z") }, "expires_at"},
	} {
		req := mandateRequest()
		c.change(&req)
		key := idem(alice)
		out, err := l.grant(alice, key, wallet, req)
		assert.Equal(t, []string{c.field}, invalidFields(t)(out, err), name)
		replayOf(t, out)(l.grant(alice, key, wallet, req))
	}
	l.unchanged(before)
}

// Malformed terms are refused before a key is claimed, every field named at once; a mandate always caps spending
// and always ends.
func TestGrantMandateValidation(t *testing.T) {
	l := newLedger(t)
	wallet := l.wallet(alice, "USD")
	many := make([]string, maxAllowedDestinations+1)
	for i := range many {
		many[i] = uuid.NewString()
	}
	before := l.state()
	for name, c := range map[string]struct {
		change func(*GrantMandateRequest)
		want   []string
	}{
		"no cap":              {func(r *GrantMandateRequest) { r.MaxPerTransaction = nil }, []string{"max_per_transaction"}},
		"no agent":            {func(r *GrantMandateRequest) { r.Agent = "" }, []string{"agent"}},
		"the ledger as agent": {func(r *GrantMandateRequest) { r.Agent = auth.SystemSub }, []string{"agent"}},
		"no expiry":           {func(r *GrantMandateRequest) { r.ExpiresAt = nil }, []string{"expires_at"}},
		"a malformed expiry":  {func(r *GrantMandateRequest) { r.ExpiresAt = ptr("next week") }, []string{"expires_at"}},
		"a zero cap":          {func(r *GrantMandateRequest) { r.MaxPerTransaction = ptr[int64](0) }, []string{"max_per_transaction"}},
		"an unknown period":   {func(r *GrantMandateRequest) { r.Limit = &LimitRequest{Amount: ptr[int64](5), Period: "year"} }, []string{"limit.period"}},
		"a limit of nothing":  {func(r *GrantMandateRequest) { r.Limit = &LimitRequest{Period: "day"} }, []string{"limit.amount"}},
		"no spends at all": {func(r *GrantMandateRequest) {
			r.MaxTransactions = &CountLimitRequest{Count: ptr[int64](0), Period: "day"}
		}, []string{"max_transactions.count"}},
		"too many spends": {func(r *GrantMandateRequest) {
			r.MaxTransactions = &CountLimitRequest{Count: ptr[int64](maxTransactionsCount + 1), Period: "day"}
		}, []string{"max_transactions.count"}},
		"a count, no period":   {func(r *GrantMandateRequest) { r.MaxTransactions = &CountLimitRequest{Count: ptr[int64](1)} }, []string{"max_transactions.period"}},
		"an empty destination": {func(r *GrantMandateRequest) { r.AllowedDestinations = []string{} }, []string{"allowed_destinations"}},
		"too many":             {func(r *GrantMandateRequest) { r.AllowedDestinations = many }, []string{"allowed_destinations"}},
		"not a wallet ID":      {func(r *GrantMandateRequest) { r.AllowedDestinations = []string{"shop"} }, []string{"allowed_destinations"}},
		"a long description":   {func(r *GrantMandateRequest) { r.Description = ptr(strings.Repeat("x", maxTextLength+1)) }, []string{"description"}},
	} {
		req := mandateRequest()
		c.change(&req)
		assert.ElementsMatch(t, c.want, invalidFields(t)(l.grant(alice, idem(alice), wallet, req)), name)
	}
	l.unchanged(before)
}
