package load_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/agentic-commerce/wallet-ledger/command"
	"github.com/agentic-commerce/wallet-ledger/internal/auth"
	"github.com/agentic-commerce/wallet-ledger/internal/httpapi"
	"github.com/agentic-commerce/wallet-ledger/internal/pgtest"
	"github.com/agentic-commerce/wallet-ledger/load"
	"github.com/agentic-commerce/wallet-ledger/projector"
	"github.com/agentic-commerce/wallet-ledger/query"
	"github.com/agentic-commerce/wallet-ledger/relay"
)

// growing are the tables that grow with the ledger's traffic: a read of one of them whole gets slower every day.
var growing = []string{"wallets", "balance_projections", "journal_transactions", "journal_entries", "wallet_history",
	"wallet_history_heads", "audit_wallet_sums", "holds", "mandates", "idempotency_keys", "outbox_events",
	"watermill_wallet_events"}

// On a grown ledger, every statement the reads, the audits, the read-side projectors, the write path and the
// retention jobs send is planned to read by key: no sequential scan of a growing table, no index read whole. The
// statements are the ones the code sends (recorded by a pgx tracer), each explained with its own arguments, or as
// the generic plan when it ran with forced generic plans (the write path). The cost of such a read follows the rows
// its key selects (a page of history, one wallet's entries for its audit, a batch of expired keys), not the size
// of the journal. Plans of the full sweep (bin/audit) and of the rebuild read everything by design and are not
// checked; bench-grown times them.
func checkPlans(t *testing.T, g *grown) {
	ctx := context.Background()
	// The SQL topic (RELAY_PUBLISHER=sql) holds what the relay published: the recent events.
	_, err := g.pool.Exec(ctx, `INSERT INTO watermill_wallet_events (uuid, created_at, payload, metadata, transaction_id)
		SELECT uuid, created_at, payload, metadata, transaction_id FROM outbox_events ORDER BY "offset"`)
	require.NoError(t, err)
	_, err = g.pool.Exec(ctx, `ANALYZE watermill_wallet_events`)
	require.NoError(t, err)
	conn, err := g.pool.Acquire(ctx)
	require.NoError(t, err)
	defer conn.Release()
	explainer := conn.Conn()

	check := func(what string, run func()) {
		t.Helper()
		g.rec.Take()
		run()
		stmts := g.rec.Take()
		require.NotEmpty(t, stmts, "%s sent no statement", what)
		t.Run(what, func(t *testing.T) { pgtest.RequireIndexed(t, explainer, stmts, growing) })
	}
	owner := auth.Caller{Sub: load.LoadSub, Scopes: []string{auth.ScopeRead, auth.ScopeWrite}}
	admin := auth.Caller{Sub: "ops", Scopes: []string{auth.ScopeAdmin}}
	// Grow's mandate k is on wallet 13k mod W for agent grow-agent-(k mod 1000); its hold k on wallet 7k mod W.
	agent := auth.Caller{Sub: "grow-agent-1", Scopes: []string{auth.ScopeRead, auth.ScopeWrite}}
	busy, mandated, held := load.WalletID(0), load.WalletID(13), load.WalletID(7)
	q, err := query.New(g.store, []byte("plans-test-cursor-secret"))
	require.NoError(t, err)
	ok := func(_ any, err error) { t.Helper(); require.NoError(t, err) }
	// The lists and the feed are read through their routes: their query strings are the API.
	const secret, audience = "plans-test-jwt-secret-of-32-bytes!", "wallet-ledger"
	routes := httpapi.NewRouter()
	query.Routes(routes, q, &httpapi.Authenticator{Verifier: auth.NewVerifier(secret, audience)})
	get := func(who auth.Caller, path string) {
		t.Helper()
		token, err := auth.Mint(secret, audience, who.Sub, who.Scopes, time.Minute)
		require.NoError(t, err)
		req := httptest.NewRequest(http.MethodGet, path, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		rec := httptest.NewRecorder()
		routes.ServeHTTP(rec, req)
		require.Equal(t, http.StatusOK, rec.Code, "GET %s: %s", path, rec.Body)
	}

	check("balance and wallet reads", func() {
		ok(q.Balance(ctx, owner, busy))
		ok(q.Wallet(ctx, owner, busy))
		ok(q.Balance(ctx, agent, mandated)) // an agent reads through its mandate
	})
	check("transaction read", func() { ok(q.Transaction(ctx, owner, md5ID("grow-t-100"))) })
	check("hold read", func() { ok(q.Hold(ctx, owner, md5ID("grow-h-1"))) })
	check("mandate reads", func() {
		get(owner, "/v1/wallets/"+mandated.String()+"/mandates?status=active")
		ok(q.Mandate(ctx, agent, md5ID("grow-m-1")))
	})
	check("lists: wallets, a wallet's holds, transactions", func() {
		get(owner, "/v1/wallets?asset=USD&limit=50")
		get(owner, "/v1/wallets/"+held.String()+"/holds?status=active")
		get(owner, "/v1/transactions?wallet_id="+busy.String()+"&limit=50")
		// The whole journal, for an admin. (A caller's own transactions read each of its wallets: Grow's one owner
		// owns them all, which is not the shape this check is about; docs/api.md, "Cost of a page".)
		get(admin, "/v1/transactions?kind=transfer&limit=20")
	})
	check("a history page through its route", func() {
		get(owner, "/v1/wallets/"+busy.String()+"/transactions?limit=50")
	})
	check("the events feed", func() { get(owner, "/v1/events?limit=50") })
	check("a history page deep into the busy wallet", func() {
		var deep int64
		require.NoError(t, g.pool.QueryRow(ctx, `SELECT entry_id FROM wallet_history WHERE wallet_id = $1
			ORDER BY entry_id LIMIT 1 OFFSET 100`, busy).Scan(&deep))
		page, err := projector.ReadHistory(ctx, g.store, busy, &deep, 50)
		require.NoError(t, err)
		require.Len(t, page.Entries, 50)
	})
	check("a wallet's audit", func() { ok(q.Audit(ctx, owner, busy)) })
	check("the write path", func() {
		g.transfer(t, held, busy, 3)
		_, err := g.cmds.CreateHold.Run(ctx, owner, idem(), command.CreateHold{WalletID: held, Amount: 5, Asset: "USD"})
		require.NoError(t, err)
	})
	check("the read-side projectors and the incremental audit", func() {
		waitReadable(t, g.url)
		h, err := projector.NewHistoryProjector(g.store)
		require.NoError(t, err)
		require.NoError(t, h.Drain(ctx))
		a, err := projector.NewAuditor(g.store, nil)
		require.NoError(t, err)
		r, err := a.Incremental(ctx)
		require.NoError(t, err)
		require.True(t, r.Clean(), "%+v", r.Findings)
	})
	check("retention: idempotency keys, outbox, SQL topic, hold expiry", func() {
		ok(g.cmds.PurgeExpiredKeys(ctx))
		ok(relay.PruneOutbox(ctx, g.pool, relay.PruneOptions{OlderThan: time.Hour}))
		ok(relay.PruneSQLTopic(ctx, g.pool, relay.TopicPruneOptions{OlderThan: time.Hour}))
		ok(g.cmds.ExpireHolds(ctx))
	})
}

func idem() command.Idempotency {
	k := uuid.NewString()
	return command.Idempotency{Sub: load.LoadSub, Key: k, Hash: []byte(k)}
}
