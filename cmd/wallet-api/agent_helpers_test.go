package main

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentic-commerce/wallet-ledger/internal/auth"
	"github.com/agentic-commerce/wallet-ledger/internal/config"
	"github.com/agentic-commerce/wallet-ledger/internal/pgtest"
)

// Helpers of the holds, mandates and refunds tests.

// created requires a 201 (or want) and returns the body.
func created(t *testing.T, r response, want ...int) map[string]any {
	t.Helper()
	status := http.StatusCreated
	if len(want) > 0 {
		status = want[0]
	}
	require.Equal(t, status, r.Status, "body: %s", r.Body)
	return r.JSON(t)
}

// funds is a wallet's balance, available and held as an admin reads them.
type funds struct{ Balance, Available, Held int64 }

func (a *testAPI) funds(walletID string) funds {
	a.t.Helper()
	b, _, err := a.admin("auditor").GetBalance(context.Background(), walletID)
	a.requireOK(err, "balance of "+walletID)
	f := funds{b.Balance, b.Available, b.Held}
	require.Equal(a.t, f.Balance, f.Available+f.Held, "balance = available + held")
	return f
}

// in is an RFC 3339 time d from now.
func in(d time.Duration) string { return time.Now().Add(d).UTC().Format(time.RFC3339Nano) }

// ledgerConsistent checks the whole database: every asset's projections (system wallets included) sum to zero,
// every projection equals its journal, every user wallet's held amount is the sum of its active holds, no
// mandate is over its limit; and the per-wallet audit route agrees for the wallets named.
func ledgerConsistent(t *testing.T, a *testAPI, wallets ...string) {
	t.Helper()
	ctx := context.Background()
	pool := a.app.pool // the API's own database, whichever the test gave it
	var bad []string
	check := func(what, sql string) {
		rows, err := pool.Query(ctx, sql)
		require.NoError(t, err, what)
		defer rows.Close()
		for rows.Next() {
			vals, err := rows.Values()
			require.NoError(t, err)
			bad = append(bad, what+": "+fmtValues(vals))
		}
		require.NoError(t, rows.Err())
	}
	check("asset does not sum to zero", `SELECT asset, sum(balance) FROM balance_projections GROUP BY asset HAVING sum(balance) <> 0`)
	check("projection differs from journal", `SELECT p.wallet_id, p.balance, p.held, j.b, j.h FROM balance_projections p
		LEFT JOIN (SELECT wallet_id, sum(amount) AS b, coalesce(sum(amount) FILTER (WHERE bucket = 'held'), 0) AS h
		           FROM journal_entries GROUP BY wallet_id) j USING (wallet_id)
		WHERE p.balance <> coalesce(j.b, 0) OR p.held <> coalesce(j.h, 0)`)
	check("held differs from active holds", `SELECT p.wallet_id, p.held, h.s FROM balance_projections p
		LEFT JOIN (SELECT wallet_id, sum(amount) AS s FROM holds WHERE status = 'active' GROUP BY wallet_id) h USING (wallet_id)
		WHERE p.kind = 'user' AND p.held <> coalesce(h.s, 0)`)
	check("mandate over its count", `SELECT mandate_id, transactions_in_period, max_transactions FROM mandates
		WHERE max_transactions IS NOT NULL AND transactions_in_period > max_transactions`)
	check("refunds exceed original", `SELECT o.transaction_id, o.amount, sum(r.amount) FROM journal_transactions r
		JOIN journal_transactions o ON o.transaction_id = r.refund_of GROUP BY o.transaction_id, o.amount
		HAVING sum(r.amount) > o.amount`)
	assert.Empty(t, bad)
	admin := token(t, "auditor", auth.ScopeAdmin)
	for _, w := range wallets {
		r := a.get(admin, "/v1/wallets/"+w+"/balance/audit")
		require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
		assert.Equal(t, true, r.JSON(t)["consistent"], "audit of %s: %s", w, r.Body)
	}
}

func fmtValues(vals []any) string { return fmt.Sprint(vals...) }

// actToken mints a delegated token (RFC 8693 act): actor acting on behalf of sub.
func actToken(t testing.TB, sub, actor string, scopes ...string) string {
	t.Helper()
	tok, err := auth.MintActing(testSecret, config.DefaultJWTAudience, sub, actor, scopes, time.Hour)
	require.NoError(t, err)
	return tok
}

// journalOf is what the journal says of a wallet: its balance (the sum of its entries) and how many journal
// transactions touched it, recomputed from the entries, never from the projection.
func journalOf(t *testing.T, wallet string) (balance, transactions int64) {
	t.Helper()
	require.NoError(t, pgtest.Pool(t).QueryRow(context.Background(), `SELECT coalesce(sum(amount), 0)::bigint,
		count(DISTINCT transaction_id) FROM journal_entries WHERE wallet_id = $1`, wallet).Scan(&balance, &transactions))
	return balance, transactions
}

// spendsUnder counts the journal's transfers and holds made under mandate id, and sums them.
func spendsUnder(t *testing.T, id string) (count, sum int64) {
	t.Helper()
	require.NoError(t, pgtest.Pool(t).QueryRow(context.Background(), `SELECT count(*), coalesce(sum(amount), 0)::bigint
		FROM journal_transactions WHERE mandate_id = $1 AND kind IN ('transfer', 'hold')`, id).Scan(&count, &sum))
	return count, sum
}

// eventsOf counts the outbox events of type typ about wallet or mandate id.
func eventsOf(t *testing.T, typ, id string) int {
	t.Helper()
	var n int
	require.NoError(t, pgtest.Pool(t).QueryRow(context.Background(), `SELECT count(*) FROM outbox_events
		WHERE metadata->>'event_type' = $1 AND (payload->>'wallet_id' = $2 OR payload->>'mandate_id' = $2)`, typ, id).Scan(&n))
	return n
}
