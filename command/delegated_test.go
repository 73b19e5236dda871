package command

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentic-commerce/wallet-ledger/internal/auth"
)

// Delegated tokens (RFC 8693 act), in process: an agent acting for alice spends her wallets only under a mandate
// she granted its actor, never with her own authority, and the journal records who acted for whom.

var (
	shopperForAlice = auth.Caller{Sub: "alice", Actor: "shopper", Scopes: []string{auth.ScopeRead, auth.ScopeWrite}}
	// An agent's token that lists the admin scope gets no admin authority from it.
	shopperWithAdmin = auth.Caller{Sub: "alice", Actor: "shopper", Scopes: []string{auth.ScopeAdmin}}
)

func TestDelegatedCallerSpendsOnlyUnderItsMandate(t *testing.T) {
	l := newLedger(t)
	wallet, other, shop := l.wallet(alice, "USD"), l.wallet(alice, "USD"), l.wallet(bob, "USD")
	bobs := l.wallet(bob, "USD")
	for _, w := range []uuid.UUID{wallet, other, bobs} {
		l.fund(w, "USD", 1_000)
	}
	assert.Equal(t, "wallet_not_found", codeOf(t)(l.transfer(shopperForAlice, wallet, shop, 1)), "no mandate: alice's authority is not its")
	assert.Equal(t, "wallet_not_found", codeOf(t)(l.transfer(shopperWithAdmin, wallet, shop, 1)))
	mid := l.grantTo(wallet, GrantMandate{Agent: "shopper", MaxPerTransaction: ptr[int64](100)})
	// bob grants the same actor a mandate on his wallet: acting for alice, it still cannot touch bob's.
	bodyOf(t)(l.c.GrantMandate.Run(context.Background(), bob, idem(bob), GrantMandate{WalletID: bobs, Agent: "shopper",
		MaxPerTransaction: ptr[int64](100), ExpiresAt: ptr(l.c.now().Add(time.Hour))}))

	tx := bodyOf(t)(l.transfer(shopperForAlice, wallet, shop, 40))
	assert.Equal(t, "alice", tx["sub"])
	assert.Equal(t, "shopper", tx["actor"])
	assert.Equal(t, mid.String(), tx["mandate_id"])
	assert.Equal(t, "mandate_limit_exceeded", codeOf(t)(l.transfer(shopperForAlice, wallet, shop, 101)), "bound by the mandate")
	assert.Equal(t, "wallet_not_found", codeOf(t)(l.transfer(shopperForAlice, other, shop, 1)), "alice's other wallet: no mandate there")
	assert.Equal(t, "wallet_not_found", codeOf(t)(l.transfer(shopperForAlice, bobs, shop, 1)), "bob's wallet is not alice's")
	plain := bodyOf(t)(l.transfer(alice, wallet, shop, 1))
	assert.Nil(t, plain["actor"], "alice acting herself: no actor")

	var actor *string
	require.NoError(t, l.pool.QueryRow(context.Background(), `SELECT actor FROM journal_transactions WHERE transaction_id = $1`,
		uuid.MustParse(tx["transaction_id"].(string))).Scan(&actor))
	require.NotNil(t, actor)
	assert.Equal(t, "shopper", *actor)
	l.consistent()
}

// What a delegated caller may not do answers 403 forbidden and changes nothing; what it may (stop its mandate,
// freeze, release its own holds) works.
func TestDelegatedCallerForbiddenAndAllowed(t *testing.T) {
	l := newLedger(t)
	wallet, shop := l.wallet(alice, "USD"), l.wallet(bob, "USD")
	l.fund(wallet, "USD", 1_000)
	mid := l.grantTo(wallet, GrantMandate{Agent: "shopper", MaxPerTransaction: ptr[int64](100)})
	bobs := l.wallet(bob, "USD")
	l.fund(bobs, "USD", 1)
	paid := bodyOf(t)(l.transfer(bob, bobs, wallet, 1))
	ctx := context.Background()
	a, k := shopperWithAdmin, idem(shopperWithAdmin)
	for name, run := range map[string]func() (Outcome, error){
		"create a wallet": func() (Outcome, error) {
			return l.c.CreateWallet.Run(ctx, a, k, CreateWallet{WalletID: uuid.New(), Asset: "USD", Owner: "alice"})
		},
		"adjust": func() (Outcome, error) {
			return l.c.Adjust.Run(ctx, a, k, Adjustment{WalletID: wallet, Asset: "USD", Amount: 1_000_000, Reason: "x"})
		},
		"grant": func() (Outcome, error) {
			return l.c.GrantMandate.Run(ctx, a, k, GrantMandate{WalletID: wallet, Agent: "helper", MaxPerTransaction: ptr[int64](5), ExpiresAt: ptr(l.c.now().Add(time.Hour))})
		},
		"replace": func() (Outcome, error) {
			return l.c.ReplaceMandate.Run(ctx, a, k, ReplaceMandate{MandateID: mid, Version: 1, Terms: GrantMandate{Agent: "shopper", MaxPerTransaction: ptr[int64](1_000_000)}})
		},
		"resume":   func() (Outcome, error) { return l.c.ResumeMandate.Run(ctx, a, k, mid) },
		"unfreeze": func() (Outcome, error) { return l.c.UnfreezeWallet.Run(ctx, a, k, wallet) },
		"refund": func() (Outcome, error) {
			return l.c.Refund.Run(ctx, a, k, Refund{TransactionID: uuid.MustParse(paid["transaction_id"].(string)), Reason: "x"})
		},
	} {
		assert.Equal(t, "forbidden", codeOf(t)(run()), name)
	}
	bal, _ := l.balance(wallet)
	assert.EqualValues(t, 1_001, bal, "nothing moved")

	// Its own hold it may capture under its mandate and void; alice's hold is not its own.
	h1 := holdID(t)(l.hold(shopperForAlice, wallet, shop, 30))
	h2 := holdID(t)(l.hold(shopperForAlice, wallet, shop, 20))
	mine := holdID(t)(l.hold(alice, wallet, shop, 10))
	assert.Equal(t, "hold_not_found", codeOf(t)(l.c.VoidHold.Run(ctx, shopperForAlice, idem(shopperForAlice), mine)))
	assert.Equal(t, "hold_not_found", codeOf(t)(l.c.VoidHold.Run(ctx, agent, idem(agent), h1)), "another agent's")
	assert.Equal(t, "captured", bodyOf(t)(l.c.CaptureHold.Run(ctx, shopperForAlice, idem(shopperForAlice), CaptureHold{HoldID: h1}))["status"])
	assert.Equal(t, "voided", bodyOf(t)(l.c.VoidHold.Run(ctx, shopperForAlice, idem(shopperForAlice), h2))["status"])

	// Stopping is always allowed: suspend its own mandate, freeze alice's wallet.
	assert.Equal(t, "suspended", bodyOf(t)(l.c.SuspendMandate.Run(ctx, shopperForAlice, idem(shopperForAlice), mid))["status"])
	fr := bodyOf(t)(l.freeze(shopperForAlice, wallet, "something is wrong"))
	assert.Equal(t, "frozen", fr["status"])
	assert.Equal(t, "shopper", fr["frozen_by"])
	assert.Equal(t, "revoked", bodyOf(t)(l.c.RevokeMandate.Run(ctx, shopperForAlice, idem(shopperForAlice), mid))["status"])
	assert.Equal(t, "active", bodyOf(t)(l.unfreeze(alice, wallet))["status"], "alice lifts what her agent froze")
	l.consistent()
}

// One Idempotency-Key used by alice, by an agent acting for her and by another agent acting for her: three callers,
// three transfers; each replays only its own.
func TestDelegatedKeysAreScopedBySubAndActor(t *testing.T) {
	l := newLedger(t)
	wallet, shop := l.wallet(alice, "USD"), l.wallet(bob, "USD")
	l.fund(wallet, "USD", 1_000)
	l.grantTo(wallet, GrantMandate{Agent: "shopper", MaxPerTransaction: ptr[int64](100)})
	l.grantTo(wallet, GrantMandate{Agent: "booker", MaxPerTransaction: ptr[int64](100)})
	booker := auth.Caller{Sub: "alice", Actor: "booker", Scopes: []string{auth.ScopeWrite}}
	cmd := Transfer{FromWalletID: wallet, ToWalletID: shop, Asset: "USD", Amount: 10}
	ids := map[string]bool{}
	for _, c := range []auth.Caller{alice, shopperForAlice, booker} {
		key := Idempotency{Sub: c.Sub, Actor: c.Actor, Key: "same-key", Hash: []byte("same request")}
		first := bodyOf(t)(l.c.Transfer.Run(context.Background(), c, key, cmd))
		again, err := l.c.Transfer.Run(context.Background(), c, key, cmd)
		require.NoError(t, err)
		assert.True(t, again.Replayed)
		assert.JSONEq(t, mustJSON(t, first), string(again.Body))
		ids[first["transaction_id"].(string)] = true
	}
	assert.Len(t, ids, 3)
	bal, _ := l.balance(shop)
	assert.EqualValues(t, 30, bal)

	// All three in one batch, the same again with a new key: three answers, three transfers.
	var jobs []*job
	for _, c := range []auth.Caller{alice, shopperForAlice, booker} {
		jobs = append(jobs, jobFor(t, l.c.Transfer, c, Idempotency{Sub: c.Sub, Actor: c.Actor, Key: "batch-key", Hash: []byte("r")}, cmd))
	}
	for i, a := range l.together(jobs...) {
		require.NoError(t, a.err)
		assert.Equal(t, http.StatusCreated, a.out.Status, "write %d: %s", i, a.out.Body)
		assert.False(t, a.out.Replayed)
	}
	bal, _ = l.balance(shop)
	assert.EqualValues(t, 60, bal)
	var n int
	require.NoError(t, l.pool.QueryRow(context.Background(), `SELECT count(*) FROM journal_transactions
		WHERE idempotency_key = 'batch-key' AND sub = 'alice'`).Scan(&n))
	assert.Equal(t, 3, n)
	l.consistent()
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return string(b)
}
