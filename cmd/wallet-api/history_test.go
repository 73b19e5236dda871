package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentic-commerce/wallet-ledger/eventstore"
	"github.com/agentic-commerce/wallet-ledger/internal/auth"
	"github.com/agentic-commerce/wallet-ledger/internal/pgtest"
	"github.com/agentic-commerce/wallet-ledger/projector"
)

// historyEntry and historyPage mirror the documented response.
type historyEntry struct {
	EntryID      int64  `json:"entry_id"`
	Amount       int64  `json:"amount"`
	BalanceAfter int64  `json:"balance_after"`
	Position     int64  `json:"position"`
	Kind         string `json:"kind"`
}

type historyPage struct {
	Data       []historyEntry `json:"data"`
	HasMore    bool           `json:"has_more"`
	Entries    []historyEntry `json:"entries"` // deprecated, the same as data for one release
	NextCursor *string        `json:"next_cursor"`
	ReadModel  struct {
		Position       int64 `json:"position"`
		JournalHead    int64 `json:"journal_head"`
		PendingEntries int64 `json:"pending_entries"`
	} `json:"read_model"`
}

func (a *testAPI) history(tok, walletID string, limit int, cursor *string) historyPage {
	a.t.Helper()
	q := url.Values{"limit": {itoa(limit)}}
	if cursor != nil {
		q.Set("cursor", *cursor)
	}
	r := a.get(tok, "/v1/wallets/"+walletID+"/transactions?"+q.Encode())
	require.Equal(a.t, http.StatusOK, r.Status, "history: %s", r.Body)
	var p historyPage
	require.NoError(a.t, jsonUnmarshal(r.Body, &p))
	require.Equal(a.t, p.Data, p.Entries, "the deprecated entries repeat data")
	require.Equal(a.t, p.HasMore, p.NextCursor != nil, "has_more and next_cursor agree")
	return p
}

// walk follows next_cursor from the newest page to the last one.
func (a *testAPI) walk(tok, walletID string, limit int) []historyEntry {
	a.t.Helper()
	var all []historyEntry
	var cursor *string
	for {
		p := a.history(tok, walletID, limit, cursor)
		all = append(all, p.Entries...)
		if p.NextCursor == nil {
			return all
		}
		cursor = p.NextCursor
	}
}

// startHistoryProjector runs the relay's history projector on a's database until the test ends.
func startHistoryProjector(t *testing.T, a *testAPI) {
	t.Helper()
	store, err := eventstore.NewStore(a.app.pool)
	require.NoError(t, err)
	h, err := projector.NewHistoryProjector(store)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); projector.RunHistory(ctx, h, 20*time.Millisecond, nil) }()
	t.Cleanup(func() { cancel(); pgtest.WaitOrTimeout(t, done, 10*time.Second) })
}

// History is eventually consistent and says so; once caught up each entry carries the journal's running
// balance; pages walked while transfers commit never repeat or skip an entry.
func TestHistoryPaginationUnderConcurrentWrites(t *testing.T) {
	api := newIsolatedAPI(t) // the history projector below reads the whole database's outbox
	alice := token(t, "hist-alice", auth.ScopeRead, auth.ScopeWrite)
	treasury := token(t, "treasury", auth.ScopeAdmin)
	a := api.createWallet(alice, "HST")
	b := api.createWallet(token(t, "hist-bob", auth.ScopeWrite), "HST")
	api.fund(a, "HST", 1_000_000)
	api.fund(b, "HST", 1_000_000)

	// No projector yet: the read model lags the journal and the response says by how much.
	lag := api.history(alice, a, 50, nil)
	assert.Empty(t, lag.Entries)
	assert.Equal(t, int64(0), lag.ReadModel.Position)
	assert.Greater(t, lag.ReadModel.JournalHead, int64(0))
	assert.Equal(t, int64(1), lag.ReadModel.PendingEntries)

	startHistoryProjector(t, api)
	var stop atomic.Bool
	var wg sync.WaitGroup
	var committed atomic.Int64
	for g := 0; g < 3; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; !stop.Load(); i++ {
				from, to := a, b
				if (i+g)%2 == 1 {
					from, to = b, a
				}
				r := api.post(treasury, "/v1/transfers", map[string]any{"from_wallet_id": from, "to_wallet_id": to,
					"amount": 1 + (i*7+g)%50, "asset": "HST"})
				if r.Status == http.StatusCreated {
					committed.Add(1)
				}
			}
		}(g)
	}
	walks := 0
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline) || walks < 3; walks++ {
		seen := api.walk(alice, a, 7)
		for i := 1; i < len(seen); i++ {
			require.Less(t, seen[i].EntryID, seen[i-1].EntryID, "walk %d repeats or reorders at %d", walks, i)
		}
		if len(seen) == 0 {
			continue
		}
		// Nothing below the walk's first entry can appear later: the walk must equal the final read model's
		// entries up to that point.
		top := seen[0].EntryID
		var want []int64
		rows, err := api.app.pool.Query(context.Background(),
			`SELECT entry_id FROM wallet_history WHERE wallet_id = $1 AND entry_id <= $2 ORDER BY entry_id DESC`, a, top)
		require.NoError(t, err)
		for rows.Next() {
			var id int64
			require.NoError(t, rows.Scan(&id))
			want = append(want, id)
		}
		require.NoError(t, rows.Err())
		got := make([]int64, len(seen))
		for i, e := range seen {
			got[i] = e.EntryID
		}
		require.Equal(t, want, got, "walk %d skipped or repeated entries", walks)
	}
	stop.Store(true)
	wg.Wait()
	require.Greater(t, committed.Load(), int64(20), "the writers must have raced the walks")
	t.Logf("%d walks of %s's history while %d transfers committed", walks, a, committed.Load())

	// Caught up: no lag, and every entry's amount and running balance are the journal's.
	var page historyPage
	require.Eventually(t, func() bool {
		page = api.history(alice, a, 1, nil)
		return page.ReadModel.PendingEntries == 0 && page.ReadModel.Position == page.ReadModel.JournalHead
	}, patience, 50*time.Millisecond, "the history projector to catch up")
	all := api.walk(alice, a, 200)
	journal, err := api.app.pool.Query(context.Background(), `SELECT e.entry_id, e.amount,
			sum(e.amount) OVER (ORDER BY e.entry_id)::bigint, t.position
		FROM journal_entries e JOIN journal_transactions t USING (transaction_id)
		WHERE e.wallet_id = $1 ORDER BY e.entry_id DESC`, a)
	require.NoError(t, err)
	var i int
	for journal.Next() {
		var want historyEntry
		require.NoError(t, journal.Scan(&want.EntryID, &want.Amount, &want.BalanceAfter, &want.Position))
		require.Less(t, i, len(all), "history is missing entries")
		assert.Equal(t, want.EntryID, all[i].EntryID)
		assert.Equal(t, want.Amount, all[i].Amount)
		assert.Equal(t, want.BalanceAfter, all[i].BalanceAfter, "running balance after entry %d", want.EntryID)
		assert.Equal(t, want.Position, all[i].Position)
		i++
	}
	require.NoError(t, journal.Err())
	assert.Equal(t, i, len(all))
	assert.Equal(t, api.balance(a), all[0].BalanceAfter)
	assert.Equal(t, all[0].Position, page.ReadModel.Position)
}

func TestHistoryRefusesBadInputAndHidesOtherWallets(t *testing.T) {
	api := newAPI(t)
	alice := token(t, "hist-carol", auth.ScopeRead, auth.ScopeWrite)
	a := api.createWallet(alice, "HST")
	other := api.createWallet(token(t, "hist-dave", auth.ScopeWrite), "HST")
	base := "/v1/wallets/" + a + "/transactions"
	for _, qs := range []string{"?limit=0", "?limit=201", "?limit=abc", "?limit=", "?limit=5&limit=6",
		"?cursor=", "?cursor=not-a-cursor", "?cursor=" + url.QueryEscape(encodeTestCursor("h1:0")),
		"?cursor=" + encodeTestCursor("h1:-4"), "?cursor=" + encodeTestCursor("x1:5"), "?cursor=a&cursor=b"} {
		r := api.get(alice, base+qs)
		assert.Equal(t, http.StatusBadRequest, r.Status, "%s: %s", qs, r.Body)
		assert.Equal(t, "invalid_query", r.Code(t), qs)
	}
	r := api.get(alice, "/v1/wallets/"+other+"/transactions")
	assert.Equal(t, http.StatusNotFound, r.Status)
	assert.Equal(t, "wallet_not_found", r.Code(t))
	r = api.get(alice, "/v1/wallets/"+uuid.NewString()+"/transactions")
	assert.Equal(t, http.StatusNotFound, r.Status)
	assert.Equal(t, "wallet_not_found", r.Code(t))
	r = api.get(alice, "/v1/wallets/nope/transactions")
	assert.Equal(t, http.StatusBadRequest, r.Status)
	r = api.get("", base)
	assert.Equal(t, http.StatusUnauthorized, r.Status)
	ok := api.history(alice, a, 200, nil)
	assert.Empty(t, ok.Entries)
	assert.Nil(t, ok.NextCursor)
}

func itoa(n int) string { return strconv.Itoa(n) }

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

func encodeTestCursor(raw string) string { return base64.RawURLEncoding.EncodeToString([]byte(raw)) }
