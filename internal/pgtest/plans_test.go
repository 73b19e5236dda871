package pgtest

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestFullScansTellsKeyReadsFromTableReads(t *testing.T) {
	tables := map[string]bool{"journal_entries": true, "outbox_events": true}
	indexes := map[string]IndexInfo{
		"journal_entries_pkey":       {Table: "journal_entries", Leading: "entry_id"},
		"journal_entries_wallet_idx": {Table: "journal_entries", Leading: "wallet_id"},
		"outbox_events_offset_idx":   {Table: "outbox_events", Leading: "offset"},
		"outbox_events_pkey":         {Table: "outbox_events", Leading: "transaction_id"},
	}
	scan := func(node, index, cond string) PlanNode {
		return PlanNode{NodeType: node, Relation: indexes[index].Table, Index: index, IndexCond: cond}
	}
	wrap := func(node string, child PlanNode) PlanNode { return PlanNode{NodeType: node, Plans: []PlanNode{child}} }
	for _, tc := range []struct {
		name  string
		plan  PlanNode
		found bool
	}{
		{"sequential scan", PlanNode{NodeType: "Seq Scan", Relation: "journal_entries"}, true},
		{"sequential scan of a small table", PlanNode{NodeType: "Seq Scan", Relation: "audit_runs"}, false},
		{"index read whole", scan("Index Scan", "journal_entries_pkey", ""), true},
		{"by key", scan("Index Scan", "journal_entries_wallet_idx", "((wallet_id = $1) AND (entry_id < $2))"), false},
		{"by keys", scan("Bitmap Index Scan", "journal_entries_wallet_idx", "(wallet_id = ANY ($1))"), false},
		{"by a joined key", scan("Index Scan", "journal_entries_wallet_idx", "(wallet_id = h.wallet_id)"), false},
		{"a range on the wrong index", scan("Index Scan", "journal_entries_pkey", "(entry_id > $1)"), true},
		{"a range under a LIMIT", wrap("Limit", scan("Index Scan", "outbox_events_offset_idx", `(("offset" > $1) AND ("offset" <= $2))`)), false},
		{"a range under a sort under a LIMIT", wrap("Limit", wrap("Sort", scan("Index Scan", "outbox_events_offset_idx", `("offset" > $1)`))), true},
		{"after a cursor", scan("Index Scan", "outbox_events_pkey", `((ROW(transaction_id, "offset") > ROW($1, $2)) AND (transaction_id < $3))`), false},
		{"up to a floor", scan("Index Scan", "outbox_events_pkey", `(ROW(transaction_id, "offset") <= ROW($1, $2))`), true},
	} {
		got := FullScans(tc.plan, tables, indexes)
		assert.Equal(t, tc.found, len(got) > 0, "%s: %v", tc.name, got)
	}
}

func TestLostBoundsFindsAGenericPlanThatFiltersWhatItCouldSeek(t *testing.T) {
	tables := map[string]bool{"wallet_history": true}
	indexes := map[string]IndexInfo{"wallet_history_pkey": {Table: "wallet_history", Leading: "wallet_id"}}
	page := func(cond string) PlanNode {
		return PlanNode{NodeType: "Limit", Plans: []PlanNode{{NodeType: "Index Scan", Relation: "wallet_history",
			Index: "wallet_history_pkey", IndexCond: cond}}}
	}
	custom := page("((wallet_id = '56d64394-d8af-4cd6-b536-8bd0ffdaffe8'::uuid) AND (entry_id < 5095200))")
	assert.NotEmpty(t, LostBounds(page("(wallet_id = $1)"), custom, tables, indexes),
		"`$2 IS NULL OR entry_id < $2`: the generic plan filters the bound")
	assert.Empty(t, LostBounds(page("((wallet_id = $1) AND (entry_id < $2))"), custom, tables, indexes),
		"the same bounds, as parameters")
	assert.Empty(t, LostBounds(page("(wallet_id = $1)"), page("(wallet_id = '56d64394-d8af-4cd6-b536-8bd0ffdaffe8'::uuid)"),
		tables, indexes), "the first page: no bound to lose")
	assert.Empty(t, LostBounds(page("(wallet_id = $1)"), custom, map[string]bool{}, indexes),
		"a table that does not grow")
	twice := func(a, b PlanNode) PlanNode { return PlanNode{NodeType: "Nested Loop", Plans: []PlanNode{a, b}} }
	assert.Empty(t, LostBounds(twice(page("(wallet_id = w.wallet_id)"), page("((wallet_id = $1) AND (entry_id < $2))")),
		twice(custom, page("(wallet_id = w.wallet_id)")), tables, indexes),
		"one index scanned twice, each scan as bounded as its counterpart")
	assert.NotEmpty(t, LostBounds(twice(page("(wallet_id = w.wallet_id)"), page("(wallet_id = $1)")),
		twice(custom, page("(wallet_id = w.wallet_id)")), tables, indexes),
		"one index scanned twice, one scan's bound lost")
}
