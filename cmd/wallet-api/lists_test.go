package main

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentic-commerce/wallet-ledger/client"
	"github.com/agentic-commerce/wallet-ledger/internal/auth"
)

// walk follows next_cursor from the first page to the last, through page (which reads one page at cursor), and
// returns every item's id in the order served. It fails on a page that says it is the last yet names a cursor, or
// the other way round, and stops after maxPages (a list that never ends is a failure too).
func walk(t *testing.T, maxPages int, page func(cursor string) (ids []string, hasMore bool, next *string)) []string {
	t.Helper()
	var all []string
	cursor := ""
	for range maxPages {
		ids, more, next := page(cursor)
		all = append(all, ids...)
		require.Equal(t, more, next != nil, "has_more and next_cursor agree")
		if !more {
			return all
		}
		cursor = *next
	}
	t.Fatalf("the list did not end within %d pages", maxPages)
	return nil
}

// once checks that every id in want appears exactly once in got, and that nothing in got appears twice.
func once(t *testing.T, got, want []string, what string) {
	t.Helper()
	count := map[string]int{}
	for _, id := range got {
		count[id]++
	}
	for id, n := range count {
		assert.Equal(t, 1, n, "%s %s served %d times", what, id, n)
	}
	for _, id := range want {
		assert.Equal(t, 1, count[id], "%s %s, committed before the walk, served %d times", what, id, count[id])
	}
}

// writing runs write until the returned stop is called, collecting what each call returns; stop waits for it.
func writing(t *testing.T, write func(i int) string) (stop func() []string) {
	t.Helper()
	var mu sync.Mutex
	var made []string
	done, quit := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-quit:
				return
			default:
			}
			if id := write(i); id != "" {
				mu.Lock()
				made = append(made, id)
				mu.Unlock()
			}
		}
	}()
	return func() []string {
		close(quit)
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Fatal("the concurrent writer did not stop")
		}
		mu.Lock()
		defer mu.Unlock()
		return made
	}
}

// Paging through the caller's wallets while more are opened sees every wallet that existed when the walk began
// exactly once, never one twice, and never another owner's.
func TestWalletListPagesThroughConcurrentWritesOnce(t *testing.T) {
	a := newAPI(t)
	owner := token(t, "lp-owner", auth.ScopeRead, auth.ScopeWrite)
	other := token(t, "lp-other", auth.ScopeRead, auth.ScopeWrite)
	var before []string
	for range 23 {
		before = append(before, a.createWallet(owner, "USD"))
	}
	theirs := map[string]bool{a.createWallet(other, "USD"): true, a.createWallet(other, "EUR"): true}

	writer := a.newClient(owner, nil, setUpRetry)
	stop := writing(t, func(int) string {
		w, _, err := writer.CreateWallet(context.Background(), client.CreateWalletRequest{Asset: "USD"})
		if err != nil {
			t.Errorf("concurrent create: %v", err)
			return ""
		}
		return w.WalletID
	})
	c := a.newClient(owner, nil, setUpRetry)
	got := walk(t, 100, func(cursor string) ([]string, bool, *string) {
		p, _, err := c.ListWallets(context.Background(), client.ListWalletsOptions{PageOptions: client.PageOptions{Limit: 4, Cursor: cursor}})
		require.NoError(t, err)
		var ids []string
		for _, w := range p.Data {
			assert.Equal(t, "lp-owner", w.Owner)
			assert.False(t, theirs[w.WalletID], "another owner's wallet was listed")
			ids = append(ids, w.WalletID)
		}
		return ids, p.HasMore, p.NextCursor
	})
	during := stop()
	once(t, got, before, "wallet")
	assert.NotEmpty(t, during, "wallets were opened during the walk")

	// Newest first: the first page of a fresh walk starts with the newest wallet.
	p, _, err := c.ListWallets(context.Background(), client.ListWalletsOptions{PageOptions: client.PageOptions{Limit: 1}})
	require.NoError(t, err)
	require.Len(t, p.Data, 1)
	assert.Equal(t, during[len(during)-1], p.Data[0].WalletID)

	// An admin sees the same wallets through the owner filter, and narrows them by asset.
	admin := a.admin("lp-admin")
	all := walk(t, 100, func(cursor string) ([]string, bool, *string) {
		p, _, err := admin.ListWallets(context.Background(), client.ListWalletsOptions{Owner: "lp-owner",
			PageOptions: client.PageOptions{Limit: 200, Cursor: cursor}})
		require.NoError(t, err)
		var ids []string
		for _, w := range p.Data {
			ids = append(ids, w.WalletID)
		}
		return ids, p.HasMore, p.NextCursor
	})
	once(t, all, append(before, during...), "wallet")
	eur, _, err := admin.ListWallets(context.Background(), client.ListWalletsOptions{Owner: "lp-other", Asset: "EUR"})
	require.NoError(t, err)
	require.Len(t, eur.Data, 1)
	assert.True(t, theirs[eur.Data[0].WalletID])
}

// Paging through the caller's transactions while transfers commit sees every transaction that had committed when
// the walk began exactly once, and only transactions with an entry on one of the caller's wallets.
func TestTransactionListPagesThroughConcurrentWritesOnce(t *testing.T) {
	a := newAPI(t)
	began := time.Now().Add(-time.Second)
	alice := token(t, "lt-alice", auth.ScopeRead, auth.ScopeWrite)
	bob := token(t, "lt-bob", auth.ScopeRead, auth.ScopeWrite)
	a1, a2, a3 := a.createWallet(alice, "USD"), a.createWallet(alice, "USD"), a.createWallet(alice, "USD")
	b1, b2 := a.createWallet(bob, "USD"), a.createWallet(bob, "USD")
	mine := map[string]bool{a1: true, a2: true, a3: true}
	ctx := context.Background()
	ac, bc := a.newClient(alice, nil, setUpRetry), a.newClient(bob, nil, setUpRetry)
	// before: what had committed when the walks begin; onA1: those of it with an entry on a1.
	var before, onA1 []string
	adj, _, err := a.admin("lt-treasury").Adjust(ctx, client.AdjustmentRequest{WalletID: a1, Asset: "USD",
		Amount: 100_000, Reason: "funding"})
	a.requireOK(err, "fund a1")
	before, onA1 = append(before, adj.TransactionID), append(onA1, adj.TransactionID)
	a.fund(b1, "USD", 100_000)
	adj, _, err = a.admin("lt-treasury").Adjust(ctx, client.AdjustmentRequest{WalletID: a2, Asset: "USD",
		Amount: 100_000, Reason: "funding"})
	a.requireOK(err, "fund a2") // the concurrent writer pays from a2
	before = append(before, adj.TransactionID)
	move := func(c *client.Client, from, to string) string {
		tx, _, err := c.Transfer(ctx, client.TransferRequest{FromWalletID: from, ToWalletID: to, Amount: 1, Asset: "USD"})
		a.requireOK(err, "transfer")
		return tx.TransactionID
	}
	for i := range 12 {
		paid := move(ac, a1, []string{a2, a3, b1}[i%3])
		before, onA1 = append(before, paid), append(onA1, paid)
		before = append(before, move(bc, b1, a3))
		move(bc, b1, b2) // bob's alone: never alice's
	}
	hold, _, err := ac.CreateHold(ctx, client.CreateHoldRequest{WalletID: a1, Amount: 5, Asset: "USD"})
	a.requireOK(err, "hold")
	voided, _, err := ac.VoidHold(ctx, hold.HoldID)
	a.requireOK(err, "void")
	before = append(before, hold.TransactionID, voided.ReleaseTransactionID)
	onA1 = append(onA1, hold.TransactionID, voided.ReleaseTransactionID)

	stop := writing(t, func(i int) string {
		from, to, c := a2, a3, ac
		if i%2 == 1 {
			from, to, c = b1, b2, bc
		}
		tx, _, err := c.Transfer(ctx, client.TransferRequest{FromWalletID: from, ToWalletID: to, Amount: 1, Asset: "USD"})
		if err != nil {
			t.Errorf("concurrent transfer: %v", err)
			return ""
		}
		if c == bc {
			return "" // bob's alone: never alice's
		}
		return tx.TransactionID
	})
	seen := map[string]bool{}
	list := func(opts client.ListTransactionsOptions) []string {
		return walk(t, 200, func(cursor string) ([]string, bool, *string) {
			opts.PageOptions = client.PageOptions{Limit: 3, Cursor: cursor}
			p, _, err := ac.ListTransactions(ctx, opts)
			require.NoError(t, err)
			var ids []string
			for _, tx := range p.Data {
				touches := false
				for _, e := range tx.Entries {
					touches = touches || mine[e.WalletID]
				}
				assert.True(t, touches, "transaction %s has no entry on alice's wallets", tx.TransactionID)
				seen[tx.Kind] = true
				ids = append(ids, tx.TransactionID)
			}
			return ids, p.HasMore, p.NextCursor
		})
	}
	got := list(client.ListTransactionsOptions{})
	byWallet := list(client.ListTransactionsOptions{WalletID: a1})
	during := stop()
	once(t, got, before, "transaction")
	once(t, byWallet, onA1, "transaction of a1")
	assert.NotEmpty(t, during)
	assert.True(t, seen["adjustment"] && seen["transfer"] && seen["hold"] && seen["void"], "kinds listed: %v", seen)

	// Filters narrow the list: by kind, and by creation time.
	holds, _, err := ac.ListTransactions(ctx, client.ListTransactionsOptions{Kind: "hold"})
	require.NoError(t, err)
	require.Len(t, holds.Data, 1)
	assert.Equal(t, hold.TransactionID, holds.Data[0].TransactionID)
	cut := holds.Data[0].CreatedAt
	after, _, err := ac.ListTransactions(ctx, client.ListTransactionsOptions{WalletID: a1, CreatedAfter: cut,
		PageOptions: client.PageOptions{Limit: 200}})
	require.NoError(t, err)
	require.Len(t, after.Data, 1, "only the void on a1 is after the hold")
	assert.Equal(t, voided.ReleaseTransactionID, after.Data[0].TransactionID)
	upTo, _, err := ac.ListTransactions(ctx, client.ListTransactionsOptions{WalletID: a1, CreatedBefore: cut,
		PageOptions: client.PageOptions{Limit: 200}})
	require.NoError(t, err)
	assert.Len(t, upTo.Data, len(onA1)-2, "everything on a1 before the hold")

	// An admin lists the journal (since this test began), bob's own transfers included.
	admin := a.admin("lt-admin")
	adminAll := walk(t, 200, func(cursor string) ([]string, bool, *string) {
		p, _, err := admin.ListTransactions(ctx, client.ListTransactionsOptions{CreatedAfter: began,
			PageOptions: client.PageOptions{Limit: 200, Cursor: cursor}})
		require.NoError(t, err)
		var ids []string
		for _, tx := range p.Data {
			ids = append(ids, tx.TransactionID)
		}
		return ids, p.HasMore, p.NextCursor
	})
	once(t, adminAll, append(before, during...), "transaction")
}

// A filter that matches little of a wallet's history still finds every match exactly once: a page that could
// not vouch for a full page of matches says where to go on (has_more), even with few or no items.
func TestSparseFilterWalksTheWholeHistory(t *testing.T) {
	a := newAPI(t)
	alice := token(t, "ls-alice", auth.ScopeRead, auth.ScopeWrite)
	from, to := a.createWallet(alice, "USD"), a.createWallet(alice, "USD")
	a.fund(from, "USD", 10_000)
	ctx := context.Background()
	c := a.newClient(alice, nil, setUpRetry)
	var holds []string
	for i := range 150 {
		if i == 3 || i == 140 {
			h, _, err := c.CreateHold(ctx, client.CreateHoldRequest{WalletID: from, Amount: 1, Asset: "USD"})
			a.requireOK(err, "hold")
			holds = append(holds, h.TransactionID)
			continue
		}
		_, _, err := c.Transfer(ctx, client.TransferRequest{FromWalletID: from, ToWalletID: to, Amount: 1, Asset: "USD"})
		a.requireOK(err, "transfer")
	}
	pages := 0
	got := walk(t, 200, func(cursor string) ([]string, bool, *string) {
		pages++
		p, _, err := c.ListTransactions(ctx, client.ListTransactionsOptions{WalletID: from, Kind: "hold",
			PageOptions: client.PageOptions{Limit: 1, Cursor: cursor}})
		require.NoError(t, err)
		require.LessOrEqual(t, len(p.Data), 1)
		var ids []string
		for _, tx := range p.Data {
			assert.Equal(t, "hold", tx.Kind)
			ids = append(ids, tx.TransactionID)
		}
		return ids, p.HasMore, p.NextCursor
	})
	once(t, got, holds, "hold")
	assert.Len(t, got, 2)
	assert.Equal(t, holds[1], got[0], "newest first")
	assert.Greater(t, pages, 2, "the sparse matches took more than one page each to vouch for")
}
