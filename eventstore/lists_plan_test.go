package eventstore_test

import (
	"context"
	"crypto/md5"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentic-commerce/wallet-ledger/eventstore"
	"github.com/agentic-commerce/wallet-ledger/internal/pgtest"
	"github.com/agentic-commerce/wallet-ledger/migrations"
)

// The plans of the lists, on a ledger seeded with hundreds of thousands of rows and analysed: every page must be
// an index range read from the cursor down and stopped by LIMIT (or key lookups bounded by the caller's own rows),
// never a sequential scan of a big table nor a sort of all its matching rows. Such a page costs the same on ten
// million entries as on ten thousand. Timing is never asserted; the plan is the proof. Both the custom plan (the
// first executions of a statement) and the generic plan (what a cached statement may switch to) are checked.

// Seeded identities: a hot wallet with a twentieth of the journal and most holds and mandates, owned by tx-owner
// (with two more busy wallets); a big owner of 20,000 wallets; an agent with 600 active mandates; a mandate with
// many transactions, most made by its agent.
var (
	hotWallet  = uuid.MustParse("00000000-0000-4000-8000-000000000001")
	hotMandate = uuid.MustParse("00000000-0000-4000-8000-000000000002")
	rareWallet = uuid.UUID(md5.Sum([]byte("w77777"))) // md5('w' || 77777)::uuid: a wallet with a handful of entries
)

const seedLedger = `
SET session_replication_role = replica; -- seeding only: no triggers, no foreign key checks
INSERT INTO wallets (wallet_id, asset, owner, kind, created_at)
SELECT md5('w' || i)::uuid, CASE WHEN i % 10 = 0 THEN 'EUR' ELSE 'USD' END,
       CASE WHEN i <= 20000 THEN 'big-owner' ELSE 'owner-' || (i % 20000) END, 'user',
       now() - i * interval '1 second'
FROM generate_series(1, 120000) i;
INSERT INTO wallets (wallet_id, asset, owner, kind, created_at) VALUES
    ('00000000-0000-4000-8000-000000000001', 'USD', 'tx-owner', 'user', now() - interval '1 year');
INSERT INTO wallets (wallet_id, asset, owner, kind, created_at)
SELECT md5('tw' || i)::uuid, 'USD', 'tx-owner', 'user', now() - i * interval '1 day' FROM generate_series(1, 2) i;

INSERT INTO mandates (mandate_id, wallet_id, asset, agent, granted_by, max_per_transaction, status, expires_at, created_at, period_start, updated_at)
SELECT md5('m' || i)::uuid, md5('w' || (20000 + i))::uuid, 'USD',
       CASE WHEN i <= 600 THEN 'hot-agent' ELSE 'agent-' || (i % 5000) END, 'x', 100,
       CASE WHEN i % 7 = 0 THEN 'revoked' ELSE 'active' END, now() + interval '1 day',
       now() - i * interval '1 second', now(), now()
FROM generate_series(1, 60000) i;
INSERT INTO mandates (mandate_id, wallet_id, asset, agent, granted_by, max_per_transaction, status, expires_at, created_at, period_start, updated_at)
SELECT CASE WHEN i = 1 THEN '00000000-0000-4000-8000-000000000002'::uuid ELSE md5('hm' || i)::uuid END,
       '00000000-0000-4000-8000-000000000001', 'USD', 'agent-' || (i % 50), 'tx-owner', 100,
       CASE WHEN i % 5 = 0 THEN 'revoked' ELSE 'active' END,
       now() + CASE WHEN i % 3 = 0 THEN interval '-1 day' ELSE interval '1 day' END,
       now() - i * interval '1 second', now(), now()
FROM generate_series(1, 20000) i;

INSERT INTO journal_transactions (transaction_id, position, kind, asset, amount, sub, idempotency_key, request_hash,
    created_at, mandate_id)
SELECT md5('t' || i)::uuid, i, (ARRAY['transfer','adjustment','hold','capture','void','expire','refund'])[1 + i % 7],
       'USD', 1, CASE WHEN i % 5 = 0 AND i % 3 <> 0 THEN 'mandate-agent' ELSE 'sub-' || (i % 100) END, 'k' || i,
       '\x00', now() - (300000 - i) * interval '10 milliseconds',
       CASE WHEN i % 5 = 0 THEN '00000000-0000-4000-8000-000000000002'::uuid END
FROM generate_series(1, 300000) i;
-- Two entries per transaction: the hot wallet pays in one in twenty, tx-owner's two others in one in ten, and
-- the rest spreads over the other wallets, about five entries each.
INSERT INTO journal_entries (transaction_id, wallet_id, asset, bucket, amount)
SELECT md5('t' || i)::uuid,
       CASE WHEN e = 2 THEN md5('w' || ((i * 7) % 120000 + 1))::uuid
            WHEN i % 20 = 0 THEN '00000000-0000-4000-8000-000000000001'::uuid
            WHEN i % 20 IN (1, 2) THEN md5('tw' || (i % 20))::uuid
            ELSE md5('w' || (i % 120000 + 1))::uuid END,
       'USD', 'available', CASE WHEN e = 1 THEN -1 ELSE 1 END
FROM generate_series(1, 300000) i, generate_series(1, 2) e ORDER BY i, e;

INSERT INTO holds (hold_id, wallet_id, asset, amount, captured_amount, status, expires_at, sub, description,
    transaction_id, release_transaction_id, created_at, updated_at)
SELECT md5('h' || i)::uuid,
       CASE WHEN i <= 150000 THEN '00000000-0000-4000-8000-000000000001'::uuid ELSE md5('w' || i)::uuid END,
       'USD', 10, CASE WHEN i % 4 = 1 THEN 10 ELSE 0 END,
       (ARRAY['active','captured','voided','expired'])[1 + i % 4],
       now() + CASE WHEN i % 8 = 0 THEN interval '-1 hour' ELSE interval '1 day' END,
       'sub-' || (i % 100), NULL, md5('t' || i)::uuid,
       CASE WHEN i % 4 = 0 THEN NULL ELSE md5('t' || i)::uuid END,
       now() - i * interval '1 second', now()
FROM generate_series(1, 200000) i;
SET session_replication_role = DEFAULT;
ANALYZE;
`

// planCase is one list statement and what its plan may do: drive names the indexes its page may be read from
// (the planner picks one); lookups are indexes it may also probe by key (each probe bounded by the rows of one
// key, such as the entries of one transaction, or by the caller's own rows, such as its wallets or mandates).
type planCase struct {
	name     string
	sql      string
	args     pgx.NamedArgs
	drive    []string
	lookups  []string
	settings string // what the read sets in its transaction first
}

var bigTables = map[string]bool{"wallets": true, "mandates": true, "holds": true, "journal_transactions": true,
	"journal_entries": true}

func TestListPlansReadOnePageThroughAnIndex(t *testing.T) {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, pgtest.NewDatabase(t, migrations.Apply))
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	_, err = pool.Exec(ctx, seedLedger)
	require.NoError(t, err, "seed")

	now := time.Now().UTC()
	first := eventstore.FirstPage
	mid := eventstore.PageKey{CreatedAt: now.Add(-time.Hour), ID: uuid.MustParse("80000000-0000-4000-8000-000000000000")}
	const limit = 51
	var cases []planCase
	add := func(name, drive string, lookups []string, build func(eventstore.PageKey) (string, pgx.NamedArgs)) {
		for _, key := range []eventstore.PageKey{first, mid} {
			sql, args := build(key)
			cases = append(cases, planCase{name: name, sql: sql, args: args, drive: strings.Split(drive, "|"),
				lookups: lookups})
		}
	}
	// Every non-admin wallet list also reads the caller's own active mandates (as an agent) and their wallets.
	agentLookups := []string{"mandates_agent_active_idx", "wallets_pkey", "wallets_id_asset_key", "wallets_id_asset_kind_key"}
	wallets := func(f eventstore.WalletFilter) func(eventstore.PageKey) (string, pgx.NamedArgs) {
		f.Now = now
		return func(k eventstore.PageKey) (string, pgx.NamedArgs) { return eventstore.WalletListQuery(f, k, limit) }
	}
	add("own wallets", "wallets_owner_list_idx", agentLookups, wallets(eventstore.WalletFilter{Sub: "big-owner"}))
	add("own wallets of an asset", "wallets_owner_list_idx|wallets_asset_list_idx", agentLookups,
		wallets(eventstore.WalletFilter{Sub: "big-owner", Asset: "EUR"}))
	add("an agent's wallets", "mandates_agent_active_idx", agentLookups, wallets(eventstore.WalletFilter{Sub: "hot-agent"}))
	add("every wallet", "wallets_list_idx", nil, wallets(eventstore.WalletFilter{All: true}))
	add("every wallet of an asset", "wallets_asset_list_idx", nil, wallets(eventstore.WalletFilter{All: true, Asset: "EUR"}))
	add("an owner's wallets", "wallets_owner_list_idx", nil, wallets(eventstore.WalletFilter{All: true, Owner: "big-owner"}))

	holds := func(f eventstore.HoldFilter) func(eventstore.PageKey) (string, pgx.NamedArgs) {
		f.WalletID, f.Now = hotWallet, now
		return func(k eventstore.PageKey) (string, pgx.NamedArgs) { return eventstore.HoldListQuery(f, k, limit) }
	}
	add("holds", "holds_wallet_list_idx", nil, holds(eventstore.HoldFilter{}))
	add("active holds", "holds_wallet_status_list_idx", nil, holds(eventstore.HoldFilter{Status: eventstore.HoldActive}))
	add("captured holds", "holds_wallet_status_list_idx", nil, holds(eventstore.HoldFilter{Status: eventstore.HoldCaptured}))
	add("expired holds", "holds_wallet_status_list_idx", nil, holds(eventstore.HoldFilter{Status: eventstore.HoldExpired}))
	add("an agent's holds", "holds_wallet_sub_list_idx", nil, holds(eventstore.HoldFilter{Sub: "sub-7"}))

	mandates := func(f eventstore.MandateFilter) func(eventstore.PageKey) (string, pgx.NamedArgs) {
		f.WalletID, f.Now = hotWallet, now
		return func(k eventstore.PageKey) (string, pgx.NamedArgs) { return eventstore.MandateListQuery(f, k, limit) }
	}
	add("mandates", "mandates_wallet_list_idx", nil, mandates(eventstore.MandateFilter{}))
	add("active mandates", "mandates_wallet_list_idx", nil, mandates(eventstore.MandateFilter{Status: eventstore.MandateActive}))
	add("an agent's mandates", "mandates_wallet_agent_list_idx", nil, mandates(eventstore.MandateFilter{Agent: "agent-7"}))

	byJournal := func(s eventstore.JournalScope, f eventstore.TransactionFilter) func(eventstore.PageKey) (string, pgx.NamedArgs) {
		return func(k eventstore.PageKey) (string, pgx.NamedArgs) {
			return eventstore.JournalTransactionsQuery(s, f, k, limit)
		}
	}
	entryLookup := []string{"journal_entries_transaction_idx"}
	add("the journal", "journal_transactions_list_idx", nil, byJournal(eventstore.JournalScope{}, eventstore.TransactionFilter{}))
	add("the journal of a kind", "journal_transactions_list_idx", nil,
		byJournal(eventstore.JournalScope{}, eventstore.TransactionFilter{Kind: eventstore.KindRefund}))
	add("the journal in a window", "journal_transactions_list_idx", nil, byJournal(eventstore.JournalScope{},
		eventstore.TransactionFilter{CreatedAfter: now.Add(-30 * time.Minute), CreatedBefore: now.Add(-10 * time.Minute)}))
	add("a mandate's transactions", "journal_transactions_mandate_list_idx", nil,
		byJournal(eventstore.JournalScope{MandateID: hotMandate}, eventstore.TransactionFilter{}))
	add("an agent's transactions under a mandate", "journal_transactions_mandate_sub_list_idx", nil,
		byJournal(eventstore.JournalScope{MandateID: hotMandate, Sub: "mandate-agent"}, eventstore.TransactionFilter{}))
	add("a mandate's transactions on a wallet", "journal_transactions_mandate_list_idx", entryLookup,
		byJournal(eventstore.JournalScope{MandateID: hotMandate, WalletID: hotWallet}, eventstore.TransactionFilter{}))

	// A by-wallet page reads a fixed number of entries per wallet (eventstore.ListWalletTransactions): each read is
	// a range of the wallet index stopped by its LIMIT; the transaction lookups and, for the caller's transactions,
	// the read of the caller's own wallets are key lookups. A wallet with a large share of the journal may be read
	// backwards through the journal's key instead (its entries are dense there); a rare one never.
	byWallet := func(name, drive string, lookups []string, s eventstore.WalletScope, f eventstore.TransactionFilter) {
		for _, seq := range []int64{eventstore.FirstSeq, 400000} {
			sql, args := eventstore.WalletTransactionsQuery(s, f, seq, 2*limit)
			cases = append(cases, planCase{name: name, sql: sql, args: args, drive: strings.Split(drive, "|"),
				lookups: lookups, settings: eventstore.WalletTransactionsSettings})
		}
	}
	txLookups := []string{"journal_entries_transaction_idx", "journal_transactions_pkey"}
	ownerLookups := append(slices.Clone(txLookups), "wallets_owner_list_idx")
	byWallet("the hot wallet's transactions", "journal_entries_wallet_idx|journal_entries_pkey", txLookups,
		eventstore.WalletScope{WalletID: hotWallet}, eventstore.TransactionFilter{})
	byWallet("a wallet's transactions", "journal_entries_wallet_idx", txLookups,
		eventstore.WalletScope{WalletID: rareWallet}, eventstore.TransactionFilter{})
	byWallet("a wallet's transactions of a kind in a window", "journal_entries_wallet_idx", txLookups,
		eventstore.WalletScope{WalletID: rareWallet}, eventstore.TransactionFilter{Kind: eventstore.KindTransfer,
			CreatedAfter: now.Add(-time.Hour), CreatedBefore: now})
	byWallet("the caller's transactions", "journal_entries_wallet_idx", ownerLookups,
		eventstore.WalletScope{Owner: "tx-owner"}, eventstore.TransactionFilter{})
	byWallet("a big owner's transactions of a kind", "journal_entries_wallet_idx", ownerLookups,
		eventstore.WalletScope{Owner: "big-owner"}, eventstore.TransactionFilter{Kind: eventstore.KindHold})

	for _, mode := range []string{"force_custom_plan", "force_generic_plan"} {
		for _, c := range cases {
			t.Run(mode+"/"+c.name, func(t *testing.T) {
				tx, err := pool.Begin(ctx)
				require.NoError(t, err)
				defer func() { _ = tx.Rollback(ctx) }()
				_, err = tx.Exec(ctx, "SET LOCAL plan_cache_mode = "+mode)
				require.NoError(t, err)
				if c.settings != "" {
					_, err = tx.Exec(ctx, c.settings)
					require.NoError(t, err)
				}
				var raw []byte
				require.NoError(t, tx.QueryRow(ctx, "EXPLAIN (FORMAT JSON) "+c.sql, c.args).Scan(&raw))
				var plans []struct{ Plan planNode }
				require.NoError(t, json.Unmarshal(raw, &plans))
				require.Len(t, plans, 1)
				problems, used := checkPlan(plans[0].Plan, c.lookups)
				assert.Empty(t, problems, "plan:\n%s", render(plans[0].Plan, 0))
				assert.True(t, slices.ContainsFunc(c.drive, func(ix string) bool { return slices.Contains(used, ix) }),
					"the page is read from %v; plan:\n%s", c.drive, render(plans[0].Plan, 0))
			})
		}
	}
}

// planNode is the part of an EXPLAIN (FORMAT JSON) node the check reads.
type planNode struct {
	NodeType  string     `json:"Node Type"`
	Relation  string     `json:"Relation Name"`
	IndexName string     `json:"Index Name"`
	IndexCond string     `json:"Index Cond"`
	Plans     []planNode `json:"Plans"`
}

// blocking nodes read all of their input before they return a row: a scan below one is not stopped by a LIMIT
// above it.
var blocking = map[string]bool{"Sort": true, "Incremental Sort": true, "Hash": true, "Aggregate": true,
	"Materialize": true, "WindowAgg": true, "SetOp": true, "Gather": true, "Gather Merge": true, "Unique": true,
	"Bitmap Heap Scan": true, "Bitmap Index Scan": true, "BitmapAnd": true, "BitmapOr": true}

// checkPlan returns what is wrong with a plan and the indexes it scans. Every scan of a big table must be an
// index scan; one that is not a permitted key lookup must reach a Limit through streaming nodes only.
func checkPlan(root planNode, lookups []string) (problems, used []string) {
	var visit func(n planNode, limited bool)
	visit = func(n planNode, limited bool) {
		switch {
		case n.NodeType == "Limit":
			limited = true
		case blocking[n.NodeType]:
			limited = false
		}
		if n.IndexName != "" {
			used = append(used, n.IndexName)
		}
		if bigTables[n.Relation] {
			switch {
			case n.NodeType == "Bitmap Heap Scan" && allIn(bitmapIndexes(n), lookups):
				// A key lookup read through a bitmap: bounded by the key's rows all the same.
			case n.NodeType != "Index Scan" && n.NodeType != "Index Only Scan":
				problems = append(problems, fmt.Sprintf("%s on %s", n.NodeType, n.Relation))
			case !limited && !slices.Contains(lookups, n.IndexName):
				problems = append(problems, fmt.Sprintf("%s of %s (%s) is not stopped by a LIMIT", n.NodeType,
					n.IndexName, n.IndexCond))
			}
		}
		for _, c := range n.Plans {
			visit(c, limited)
		}
	}
	visit(root, false)
	return problems, used
}

func bitmapIndexes(n planNode) []string {
	var out []string
	for _, c := range n.Plans {
		if c.IndexName != "" {
			out = append(out, c.IndexName)
		}
		out = append(out, bitmapIndexes(c)...)
	}
	return out
}

func allIn(names, set []string) bool {
	for _, n := range names {
		if !slices.Contains(set, n) {
			return false
		}
	}
	return len(names) > 0
}

func render(n planNode, depth int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s%s %s %s %s\n", strings.Repeat("  ", depth), n.NodeType, n.Relation, n.IndexName, n.IndexCond)
	for _, c := range n.Plans {
		b.WriteString(render(c, depth+1))
	}
	return b.String()
}
