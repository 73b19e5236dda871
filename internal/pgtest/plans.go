package pgtest

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
)

// Statement is one SQL statement a traced connection ran, with its arguments. Generic is set when it ran inside a
// transaction that forced generic plans (SET LOCAL plan_cache_mode = force_generic_plan, as the write path does):
// that is the plan PostgreSQL used for it.
type Statement struct {
	SQL     string
	Args    []any
	Generic bool
}

// Recorder is a pgx tracer (ConnConfig.Tracer) that records every statement its connections run, batched or not, so
// a test can EXPLAIN exactly what the code under test sends.
type Recorder struct {
	mu      sync.Mutex
	stmts   []Statement
	generic map[*pgx.Conn]bool
}

// NewRecorder returns an empty recorder.
func NewRecorder() *Recorder { return &Recorder{generic: map[*pgx.Conn]bool{}} }

func (r *Recorder) record(conn *pgx.Conn, sql string, args []any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	low := strings.ToLower(strings.TrimSpace(sql))
	switch {
	case strings.Contains(low, "plan_cache_mode = force_generic_plan") && strings.HasPrefix(low, "set local"):
		r.generic[conn] = true
	case low == "commit" || low == "rollback" || strings.HasPrefix(low, "commit ") || strings.HasPrefix(low, "rollback "):
		delete(r.generic, conn)
	}
	r.stmts = append(r.stmts, Statement{SQL: sql, Args: args, Generic: r.generic[conn]})
}

// TraceQueryStart records a statement run on its own.
func (r *Recorder) TraceQueryStart(ctx context.Context, conn *pgx.Conn, data pgx.TraceQueryStartData) context.Context {
	r.record(conn, data.SQL, data.Args)
	return ctx
}

// TraceQueryEnd does nothing.
func (r *Recorder) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

// TraceBatchStart does nothing: the batch's statements are recorded one by one.
func (r *Recorder) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	return ctx
}

// TraceBatchQuery records one statement of a batch.
func (r *Recorder) TraceBatchQuery(_ context.Context, conn *pgx.Conn, data pgx.TraceBatchQueryData) {
	r.record(conn, data.SQL, data.Args)
}

// TraceBatchEnd does nothing.
func (r *Recorder) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData) {}

// Take returns the statements recorded since the last Take that can be explained (SELECT, INSERT, UPDATE, DELETE,
// WITH), once each.
func (r *Recorder) Take() []Statement {
	r.mu.Lock()
	defer r.mu.Unlock()
	seen := map[string]bool{}
	var out []Statement
	for _, s := range r.stmts {
		low := strings.ToLower(strings.TrimSpace(s.SQL))
		first, _, _ := strings.Cut(low, " ")
		switch strings.TrimSpace(first) {
		case "select", "insert", "update", "delete", "with":
		default:
			continue
		}
		key := fmt.Sprintf("%t %s", s.Generic, s.SQL)
		if seen[key] {
			continue
		}
		seen[key] = true
		out = append(out, s)
	}
	r.stmts = nil
	return out
}

// PlanNode is one node of EXPLAIN (FORMAT JSON)'s plan tree.
type PlanNode struct {
	NodeType  string     `json:"Node Type"`
	Relation  string     `json:"Relation Name"`
	Index     string     `json:"Index Name"`
	IndexCond string     `json:"Index Cond"`
	TotalCost float64    `json:"Total Cost"`
	Plans     []PlanNode `json:"Plans"`
}

// Explain returns the plan PostgreSQL chooses for s on conn, without running it: the generic plan (through a
// prepared statement under plan_cache_mode = force_generic_plan) when s ran with generic plans, else the plan for
// its arguments.
func Explain(ctx context.Context, conn *pgx.Conn, s Statement) (PlanNode, error) {
	var raw []byte
	if s.Generic {
		if _, err := conn.Exec(ctx, "SET plan_cache_mode = force_generic_plan"); err != nil {
			return PlanNode{}, err
		}
		defer func() {
			_, _ = conn.Exec(context.WithoutCancel(ctx), "DEALLOCATE plancheck")
			_, _ = conn.Exec(context.WithoutCancel(ctx), "RESET plan_cache_mode")
		}()
		// Named arguments (pgx.NamedArgs) are rewritten to $n as pgx does before it sends the statement.
		sql, args := s.SQL, s.Args
		if len(args) > 0 {
			if rw, ok := args[0].(pgx.QueryRewriter); ok {
				var err error
				if sql, args, err = rw.RewriteQuery(ctx, conn, sql, args[1:]); err != nil {
					return PlanNode{}, fmt.Errorf("rewrite named arguments: %w", err)
				}
			}
		}
		if _, err := conn.Exec(ctx, "PREPARE plancheck AS "+sql); err != nil {
			return PlanNode{}, fmt.Errorf("prepare: %w", err)
		}
		// A generic plan is made without the parameters' values: NULLs (of the prepared types) stand in for them.
		q := "EXPLAIN (FORMAT JSON) EXECUTE plancheck"
		if len(args) > 0 {
			q += "(" + strings.TrimSuffix(strings.Repeat("NULL, ", len(args)), ", ") + ")"
		}
		if err := conn.QueryRow(ctx, q).Scan(&raw); err != nil {
			return PlanNode{}, fmt.Errorf("explain execute: %w", err)
		}
	} else if err := conn.QueryRow(ctx, "EXPLAIN (FORMAT JSON) "+s.SQL, s.Args...).Scan(&raw); err != nil {
		return PlanNode{}, fmt.Errorf("explain: %w", err)
	}
	var plans []struct {
		Plan PlanNode `json:"Plan"`
	}
	if err := json.Unmarshal(raw, &plans); err != nil || len(plans) != 1 {
		return PlanNode{}, fmt.Errorf("decode plan %s: %v", raw, err)
	}
	return plans[0].Plan, nil
}

// IndexInfo is what FullScans needs to know of an index: its table and the column it is ordered by first.
type IndexInfo struct {
	Table, Leading string
}

// Indexes returns the indexes of tables, by name.
func Indexes(ctx context.Context, conn *pgx.Conn, tables []string) (map[string]IndexInfo, error) {
	rows, err := conn.Query(ctx, `SELECT c.relname, t.relname, coalesce(a.attname, '')
		FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_class t ON t.oid = i.indrelid
		LEFT JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = i.indkey[0]
		WHERE t.relname = ANY($1) AND t.relnamespace = 'public'::regnamespace`, tables)
	if err != nil {
		return nil, err
	}
	out := map[string]IndexInfo{}
	for rows.Next() {
		var name string
		var info IndexInfo
		if err := rows.Scan(&name, &info.Table, &info.Leading); err != nil {
			return nil, err
		}
		out[name] = info
	}
	return out, rows.Err()
}

// consumers read all of their input before returning a row: a LIMIT above them does not stop the scans below.
var consumers = map[string]bool{"Sort": true, "Incremental Sort": true, "Aggregate": true, "Hash": true,
	"Materialize": true, "WindowAgg": true, "SetOp": true, "Group": true, "Unique": true, "Memoize": false}

// FullScans lists every node of plan that reads one of tables (or one of their indexes) whole, or an unbounded part
// of it: a sequential scan; an index scan without an index condition; or one whose condition neither fixes the
// index's leading column (col = ..., col = ANY (...)), nor reads after a cursor, nor stops at a LIMIT (a range
// such as entry_id > $1 on the wrong index reads every newer entry). What remains reads by key, or a bounded batch in key order: its cost
// follows the rows its key selects or its LIMIT, not the size of the table.
func FullScans(plan PlanNode, tables map[string]bool, indexes map[string]IndexInfo) []string {
	var out []string
	var walk func(n PlanNode, limited bool)
	walk = func(n PlanNode, limited bool) {
		switch n.NodeType {
		case "Seq Scan", "Sample Scan", "Tid Range Scan":
			if tables[n.Relation] {
				out = append(out, fmt.Sprintf("%s on %s", n.NodeType, n.Relation))
			}
		case "Index Scan", "Index Only Scan", "Bitmap Index Scan":
			info, ok := indexes[n.Index]
			switch {
			case !ok || !tables[info.Table]:
			case n.IndexCond == "":
				out = append(out, fmt.Sprintf("%s on %s (%s) without an index condition", n.NodeType, info.Table, n.Index))
			case !fixesLeading(n.IndexCond, info.Leading) && !limited:
				out = append(out, fmt.Sprintf("%s on %s (%s) by a range, with no key and no LIMIT: %s",
					n.NodeType, info.Table, n.Index, n.IndexCond))
			}
		}
		switch {
		case n.NodeType == "Limit":
			limited = true
		case consumers[n.NodeType]:
			limited = false
		}
		for _, c := range n.Plans {
			walk(c, limited)
		}
	}
	walk(plan, false)
	return out
}

// fixesLeading reports whether an index condition gives the leading column one value or a list of values, or reads
// after a consumer's cursor in key order (ROW(leading, ...) > ROW(...): keyset paging, whose cost is what the
// consumer has not read yet).
func fixesLeading(cond, col string) bool {
	if col == "" {
		return false
	}
	for _, c := range []string{col, `"` + col + `"`} {
		if strings.Contains(cond, "("+c+" = ") || strings.Contains(cond, "."+c+" = ") {
			return true
		}
		if strings.Contains(cond, "(ROW("+c+", ") && (strings.Contains(cond, ") > ROW(") || strings.Contains(cond, ") >= ROW(")) {
			return true
		}
	}
	return false
}

// LostBounds lists the index scans of one of tables in generic with fewer index conditions than the scans of the
// same index in custom: made without the arguments' values, the generic plan has turned a bound the custom plan
// reads by into a filter, so it reads every row the bound would have skipped. Such a read is by key, but its cost
// grows with what lies under the key: `$2::bigint IS NULL OR entry_id < $2` read a busy wallet's whole history to
// serve one page deep in it. An index scanned more than once is compared scan for scan, fewest bounds first.
func LostBounds(generic, custom PlanNode, tables map[string]bool, indexes map[string]IndexInfo) []string {
	g, c := boundsByIndex(generic), boundsByIndex(custom)
	var out []string
	for index, gb := range g {
		info, ok := indexes[index]
		cb := c[index]
		if !ok || !tables[info.Table] || len(cb) == 0 {
			continue
		}
		for i, n := range gb {
			want := cb[0] // plans of different shapes: at least the custom plan's loosest scan of the index
			if len(cb) == len(gb) {
				want = cb[i]
			}
			if n < want {
				out = append(out, fmt.Sprintf("a scan of %s (%s) with %d index conditions, where the arguments' own plan has %d",
					info.Table, index, n, want))
			}
		}
	}
	sort.Strings(out)
	return out
}

// boundsByIndex maps each index plan scans to the number of conditions of each of its scans, fewest first.
func boundsByIndex(plan PlanNode) map[string][]int {
	out := map[string][]int{}
	var walk func(n PlanNode)
	walk = func(n PlanNode) {
		if n.Index != "" {
			out[n.Index] = append(out[n.Index], conditions(n.IndexCond))
		}
		for _, c := range n.Plans {
			walk(c)
		}
	}
	walk(plan)
	for _, b := range out {
		sort.Ints(b)
	}
	return out
}

// conditions counts the conjuncts of an index condition: "((a = $1) AND (b < $2))" has two.
func conditions(cond string) int {
	if cond == "" {
		return 0
	}
	return strings.Count(cond, " AND ") + 1
}

// RequireIndexed explains every statement and fails tb for each full scan of one of tables it finds, and for each
// bound its generic plan loses (LostBounds) when PostgreSQL may choose that plan.
func RequireIndexed(tb testing.TB, conn *pgx.Conn, stmts []Statement, tables []string) {
	tb.Helper()
	indexes, err := Indexes(context.Background(), conn, tables)
	if err != nil {
		tb.Fatalf("read the indexes: %v", err)
	}
	growing := map[string]bool{}
	for _, t := range tables {
		growing[t] = true
	}
	for _, s := range stmts {
		plan, err := Explain(context.Background(), conn, s)
		if err != nil {
			tb.Errorf("EXPLAIN %s: %v", oneLine(s.SQL), err)
			continue
		}
		for _, f := range FullScans(plan, growing, indexes) {
			tb.Errorf("%s\n\tin %s", f, oneLine(s.SQL))
		}
		if s.Generic || len(s.Args) == 0 {
			continue
		}
		// pgx prepares and caches its statements, and after five runs PostgreSQL uses a statement's generic plan
		// (made without the arguments' values) whenever it costs less than the custom plans so far. With an array
		// argument the custom plans cost more as the arrays grow, so the generic plan must read by key whatever it
		// costs; otherwise only when it is the cheaper one.
		g := s
		g.Generic = true
		generic, err := Explain(context.Background(), conn, g)
		if err != nil {
			tb.Errorf("EXPLAIN the generic plan of %s: %v", oneLine(s.SQL), err)
			continue
		}
		if !hasArrayArg(s.Args) && generic.TotalCost > plan.TotalCost {
			continue
		}
		for _, f := range FullScans(generic, growing, indexes) {
			tb.Errorf("generic plan: %s\n\tin %s", f, oneLine(s.SQL))
		}
		for _, f := range LostBounds(generic, plan, growing, indexes) {
			tb.Errorf("generic plan: %s\n\tin %s", f, oneLine(s.SQL))
		}
	}
}

// hasArrayArg tells whether an argument (or a named argument) is a slice other than bytes.
func hasArrayArg(args []any) bool {
	for _, a := range args {
		if named, ok := a.(pgx.NamedArgs); ok {
			for _, v := range named {
				if hasArrayArg([]any{v}) {
					return true
				}
			}
			continue
		}
		if a == nil {
			continue
		}
		if v := reflect.ValueOf(a); v.Kind() == reflect.Slice && v.Type().Elem().Kind() != reflect.Uint8 {
			return true
		}
	}
	return false
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
