package command

import (
	"context"
	"net/http"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentic-commerce/wallet-ledger/eventstore"
	"github.com/agentic-commerce/wallet-ledger/internal/auth"
)

// Opening a wallet (POST /v1/wallets), in process: what it answers and stores, what it refuses, who may.

func (l *ledger) createWallet(caller auth.Caller, key Idempotency, req CreateWalletRequest) (Outcome, error) {
	return serve(l.c.CreateWallet, caller, key, nil, req)
}

// walletRow reads a wallet as stored.
func (l *ledger) walletRow(id uuid.UUID) eventstore.Wallet {
	l.t.Helper()
	w, err := eventstore.GetWallet(context.Background(), l.pool, id)
	require.NoError(l.t, err)
	return w
}

func TestCreateWalletOpensAnEmptyWallet(t *testing.T) {
	l := newLedger(t)
	l.setClock()
	id := uuid.New()
	key := idem(alice)
	req := CreateWalletRequest{WalletID: id.String(), Asset: "EUR", Metadata: []byte(`{"tier": "gold"}`)}
	out, err := l.createWallet(alice, key, req)
	body := bodyOf(t)(out, err)
	assert.Equal(t, http.StatusCreated, out.Status)
	assert.Equal(t, "/v1/wallets/"+id.String(), out.Location)
	assert.False(t, out.Replayed)
	assert.Equal(t, map[string]any{
		"wallet_id": id.String(), "asset": "EUR", "owner": "alice", "kind": "user",
		"balance": 0.0, "available": 0.0, "held": 0.0, "metadata": map[string]any{"tier": "gold"},
		"created_at": "2031-03-04T10:00:00Z", "status": "active", "frozen_reason": nil, "frozen_by": nil,
		"frozen_at": nil, "frozen_by_admin": false,
	}, body)

	w := l.walletRow(id)
	assert.Equal(t, "alice", w.Owner)
	assert.Equal(t, "EUR", w.Asset)
	assert.Equal(t, eventstore.KindUser, w.Kind)
	assert.JSONEq(t, `{"tier": "gold"}`, string(w.Metadata))
	assert.True(t, w.CreatedAt.Equal(epoch))
	assert.False(t, w.Frozen())
	var bal, held, version int64
	require.NoError(t, l.pool.QueryRow(context.Background(), `SELECT balance, held, version FROM balance_projections
		WHERE wallet_id = $1 AND asset = 'EUR' AND kind = 'user'`, id).Scan(&bal, &held, &version))
	assert.Equal(t, [3]int64{0, 0, 0}, [3]int64{bal, held, version})
	created := l.eventsOf(eventstore.EventWalletCreated)
	require.Len(t, created, 1)
	assert.Equal(t, id.String(), created[0]["wallet_id"])
	assert.Equal(t, "alice", created[0]["owner"])
	assert.Equal(t, "alice", created[0]["sub"])
	assert.Equal(t, "EUR", created[0]["asset"])
	assert.Equal(t, "user", created[0]["wallet_kind"])

	// The same request again: the same answer, one wallet. The same key for another wallet: refused, no wallet.
	before := l.state()
	replayOf(t, out)(l.createWallet(alice, key, req))
	other := CreateWalletRequest{WalletID: uuid.NewString(), Asset: "EUR"}
	assert.Equal(t, "idempotency_key_reuse", codeOf(t)(l.createWallet(alice, reused(key), other)))
	l.unchanged(before)
	l.consistent()
}

// Without wallet_id the ledger draws a random (version 4) one; without owner the caller owns the wallet.
func TestCreateWalletDrawsItsIDAndOwner(t *testing.T) {
	l := newLedger(t)
	out, err := l.createWallet(bob, idem(bob), CreateWalletRequest{Asset: "USD"})
	body := bodyOf(t)(out, err)
	id := idOf(t, body, "wallet_id")
	assert.Equal(t, uuid.Version(4), id.Version())
	assert.Equal(t, "/v1/wallets/"+id.String(), out.Location)
	assert.Equal(t, "bob", body["owner"])
	assert.Equal(t, map[string]any{}, body["metadata"])
	assert.Equal(t, "bob", l.walletRow(id).Owner)
}

// Only an admin opens a wallet for another owner; an agent acting for its principal opens none.
func TestCreateWalletForAnotherOwner(t *testing.T) {
	l := newLedger(t)
	before := l.state()
	assert.Equal(t, "forbidden", codeOf(t)(l.createWallet(alice, idem(alice), CreateWalletRequest{Asset: "USD", Owner: "bob"})))
	assert.Equal(t, "forbidden", codeOf(t)(l.createWallet(shopperForAlice, idem(shopperForAlice), CreateWalletRequest{Asset: "USD"})))
	l.unchanged(before)

	out, err := l.createWallet(admin, idem(admin), CreateWalletRequest{Asset: "USD", Owner: "bob"})
	body := bodyOf(t)(out, err)
	assert.Equal(t, "bob", body["owner"])
	w := l.walletRow(idOf(t, body, "wallet_id"))
	assert.Equal(t, "bob", w.Owner)
	created := l.eventsOf(eventstore.EventWalletCreated)
	require.Len(t, created, 1)
	assert.Equal(t, "treasury", created[0]["sub"], "the event says who opened it")
	assert.Equal(t, "bob", created[0]["owner"])
}

// A wallet_id already taken answers 409 wallet_exists, stored under the key like any domain answer; two requests
// for one wallet_id in one batch open it once.
func TestCreateWalletRefusesATakenID(t *testing.T) {
	l := newLedger(t)
	id := l.wallet(alice, "USD")
	l.fund(id, "USD", 10)
	before := l.state()
	key := idem(bob)
	req := CreateWalletRequest{WalletID: id.String(), Asset: "USD"}
	out, err := l.createWallet(bob, key, req)
	assert.Equal(t, "wallet_exists", codeOf(t)(out, err))
	assert.Equal(t, http.StatusConflict, out.Status)
	replayOf(t, out)(l.createWallet(bob, key, req))
	l.unchanged(before)
	assert.Equal(t, "alice", l.walletRow(id).Owner, "still alice's")

	fresh := uuid.New()
	cmd := CreateWallet{WalletID: fresh, Asset: "USD", Owner: "alice"}
	answers := l.together(jobFor(t, l.c.CreateWallet, alice, idem(alice), cmd), jobFor(t, l.c.CreateWallet, alice, idem(alice), cmd))
	require.NoError(t, answers[0].err)
	require.NoError(t, answers[1].err)
	assert.Equal(t, http.StatusCreated, answers[0].out.Status)
	assert.Equal(t, http.StatusConflict, answers[1].out.Status)
	assert.Equal(t, "wallet_exists", decoded(t, answers[1].out)["code"])
	assert.Len(t, l.eventsOf(eventstore.EventWalletCreated), 2, "the first wallet and the fresh one")
	l.consistent()
}

// System wallet IDs are derived (version 5) from SYSTEM_WALLET_ID: no caller may take one, nor the base itself.
func TestCreateWalletRefusesReservedIDs(t *testing.T) {
	l := newLedger(t)
	before := l.state()
	for _, id := range []uuid.UUID{eventstore.SystemWalletID(systemBase, "USD"), uuid.NewSHA1(uuid.NameSpaceURL, []byte("x")), systemBase} {
		assert.Equal(t, "reserved_wallet_id", codeOf(t)(l.createWallet(admin, idem(admin), CreateWalletRequest{WalletID: id.String(), Asset: "USD"})), id)
	}
	l.unchanged(before)
}

// Every invalid field is named at once, and nothing is stored.
func TestCreateWalletValidation(t *testing.T) {
	l := newLedger(t)
	before := l.state()
	for name, c := range map[string]struct {
		req  CreateWalletRequest
		want []string
	}{
		"asset lower case":       {CreateWalletRequest{Asset: "usd"}, []string{"asset"}},
		"asset missing":          {CreateWalletRequest{}, []string{"asset"}},
		"wallet_id not a UUID":   {CreateWalletRequest{WalletID: "w-1", Asset: "USD"}, []string{"wallet_id"}},
		"owner is the ledger":    {CreateWalletRequest{Asset: "USD", Owner: auth.SystemSub}, []string{"owner"}},
		"owner not printable":    {CreateWalletRequest{Asset: "USD", Owner: "a\x00b"}, []string{"owner"}},
		"metadata not object":    {CreateWalletRequest{Asset: "USD", Metadata: []byte(`[1]`)}, []string{"metadata"}},
		"metadata request_id":    {CreateWalletRequest{Asset: "USD", Metadata: []byte(`{"request_id": "x"}`)}, []string{"metadata"}},
		"several fields at once": {CreateWalletRequest{WalletID: "nope", Asset: "$$"}, []string{"asset", "wallet_id"}},
	} {
		assert.ElementsMatch(t, c.want, invalidFields(t)(l.createWallet(admin, idem(admin), c.req)), name)
	}
	l.unchanged(before)
	var keys int
	require.NoError(t, l.pool.QueryRow(context.Background(), `SELECT count(*) FROM idempotency_keys`).Scan(&keys))
	assert.Zero(t, keys, "a request refused before it runs claims no key")
}
