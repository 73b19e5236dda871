package command

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentic-commerce/wallet-ledger/eventstore"
	"github.com/agentic-commerce/wallet-ledger/internal/auth"
	"github.com/agentic-commerce/wallet-ledger/internal/httpapi"
	"github.com/agentic-commerce/wallet-ledger/internal/pgtest"
	"github.com/agentic-commerce/wallet-ledger/migrations"
)

// The use cases are tested here in process, against a real PostgreSQL: each test gets its own database, so what
// one test writes never shows in another's sums. The HTTP contract is tested in cmd/wallet-api.

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m, migrations.Apply)) }

var systemBase = uuid.MustParse("00000000-0000-0000-0000-000000000001")

var (
	admin = auth.Caller{Sub: "treasury", Scopes: []string{auth.ScopeAdmin}}
	alice = auth.Caller{Sub: "alice", Scopes: []string{auth.ScopeRead, auth.ScopeWrite}}
	bob   = auth.Caller{Sub: "bob", Scopes: []string{auth.ScopeRead, auth.ScopeWrite}}
	agent = auth.Caller{Sub: "agent-7", Scopes: []string{auth.ScopeRead, auth.ScopeWrite}}
)

// ledger is the write side on a database of its own.
type ledger struct {
	t    *testing.T
	pool *pgxpool.Pool
	c    *Commands
}

func newLedger(t *testing.T) *ledger {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), pgtest.NewDatabase(t, migrations.Apply))
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	store, err := eventstore.NewStore(pool)
	require.NoError(t, err)
	c, err := New(store, systemBase, 24*time.Hour)
	require.NoError(t, err)
	t.Cleanup(c.Close)
	return &ledger{t: t, pool: pool, c: c}
}

var keySeq atomic.Int64

// idem is a fresh key of caller's.
func idem(caller auth.Caller) Idempotency {
	k := fmt.Sprintf("k-%d", keySeq.Add(1))
	return Idempotency{Sub: caller.Sub, Actor: caller.Actor, Key: k, Hash: []byte(k)}
}

// bodyOf returns a function that requires a successful outcome and decodes its body:
// bodyOf(t)(l.c.Transfer.Run(...)).
func bodyOf(t *testing.T) func(Outcome, error) map[string]any {
	return func(out Outcome, err error) map[string]any {
		t.Helper()
		require.NoError(t, err)
		require.False(t, out.Problem, "refused: %s", out.Body)
		var m map[string]any
		require.NoError(t, json.Unmarshal(out.Body, &m))
		return m
	}
}

// codeOf returns a function that requires a refusal and returns its problem code, whether the refusal was
// stored under the key (a domain rule) or not.
func codeOf(t *testing.T) func(Outcome, error) string {
	return func(out Outcome, err error) string {
		t.Helper()
		if err != nil {
			var coded interface{ ProblemCode() string }
			require.ErrorAs(t, err, &coded)
			return coded.ProblemCode()
		}
		require.True(t, out.Problem, "not refused: %d %s", out.Status, out.Body)
		var m map[string]any
		require.NoError(t, json.Unmarshal(out.Body, &m))
		return m["code"].(string)
	}
}

func (l *ledger) wallet(owner auth.Caller, asset string) uuid.UUID {
	l.t.Helper()
	id := uuid.New()
	bodyOf(l.t)(l.c.CreateWallet.Run(context.Background(), owner, idem(owner), CreateWallet{WalletID: id, Asset: asset, Owner: owner.Sub}))
	return id
}

func (l *ledger) fund(w uuid.UUID, asset string, amount int64) {
	l.t.Helper()
	bodyOf(l.t)(l.c.Adjust.Run(context.Background(), admin, idem(admin), Adjustment{WalletID: w, Asset: asset, Amount: amount, Reason: "fund"}))
}

func (l *ledger) transfer(caller auth.Caller, from, to uuid.UUID, amount int64) (Outcome, error) {
	return l.c.Transfer.Run(context.Background(), caller, idem(caller), Transfer{FromWalletID: from, ToWalletID: to, Asset: "USD", Amount: amount})
}

// balance reads a wallet's projection: (balance, held).
func (l *ledger) balance(w uuid.UUID) (int64, int64) {
	l.t.Helper()
	var bal, held int64
	require.NoError(l.t, l.pool.QueryRow(context.Background(), `SELECT balance, held FROM balance_projections WHERE wallet_id = $1`, w).Scan(&bal, &held))
	return bal, held
}

// consistent checks the whole database: every asset sums to zero, every projection equals its journal (balance,
// held, version), every held amount is the sum of its active holds, no mandate is over its limit, and every
// journal transaction has exactly one idempotency record of its key.
func (l *ledger) consistent() {
	l.t.Helper()
	ctx := context.Background()
	for what, sql := range map[string]string{
		"asset not zero-sum": `SELECT asset FROM balance_projections GROUP BY asset HAVING sum(balance) <> 0`,
		"projection differs from journal": `SELECT p.wallet_id FROM balance_projections p
			LEFT JOIN (SELECT wallet_id, sum(amount) AS bal, coalesce(sum(amount) FILTER (WHERE bucket = 'held'), 0) AS held,
				count(DISTINCT transaction_id) AS n FROM journal_entries GROUP BY wallet_id) j ON j.wallet_id = p.wallet_id
			WHERE p.balance <> coalesce(j.bal, 0) OR p.held <> coalesce(j.held, 0) OR p.version <> coalesce(j.n, 0)`,
		"held differs from active holds": `SELECT p.wallet_id FROM balance_projections p
			LEFT JOIN (SELECT wallet_id, sum(amount) AS s FROM holds WHERE status = 'active' GROUP BY wallet_id) h
			ON h.wallet_id = p.wallet_id WHERE p.held <> coalesce(h.s, 0)`,
		"mandate over its limit": `SELECT mandate_id FROM mandates WHERE limit_amount IS NOT NULL AND spent_in_period > limit_amount`,
		"mandate over its count": `SELECT mandate_id FROM mandates WHERE max_transactions IS NOT NULL AND transactions_in_period > max_transactions`,
		// A delegated caller's key is scoped by its sub and actor together (Idempotency.scope).
		"transaction without its key": `SELECT t.transaction_id FROM journal_transactions t
			LEFT JOIN idempotency_keys k ON k.sub = t.sub || coalesce(E'\x1f' || t.actor, '') AND k.idempotency_key = t.idempotency_key
			WHERE k.sub IS NULL OR k.status_code NOT BETWEEN 200 AND 299`,
		"pending key committed": `SELECT idempotency_key FROM idempotency_keys WHERE status_code = 0`,
	} {
		rows, err := l.pool.Query(ctx, sql)
		require.NoError(l.t, err, what)
		n := 0
		for rows.Next() {
			n++
		}
		rows.Close()
		assert.Zero(l.t, n, what)
	}
}

// together decides the given writes in ONE batch, in order, as the batcher would group concurrent requests, and
// returns their answers.
func (l *ledger) together(writes ...*job) []answer {
	l.t.Helper()
	l.c.commitBatch(writes)
	out := make([]answer, len(writes))
	for i, j := range writes {
		select {
		case out[i] = <-j.done:
		case <-time.After(30 * time.Second):
			l.t.Fatalf("write %d of the batch was never answered", i)
		}
	}
	return out
}

// jobFor makes the job of one write, as the route would hand it to the batcher.
func jobFor[Req, Cmd any](t *testing.T, u *UseCase[Req, Cmd], caller auth.Caller, key Idempotency, cmd Cmd) *job {
	t.Helper()
	p, err := u.plan(context.Background(), caller, cmd)
	require.NoError(t, err)
	rep := u.reply
	rep.instance = u.path
	return &job{ctx: context.Background(), caller: caller, idem: key, reply: rep, plan: p, keepRefusal: true, done: make(chan answer, 1)}
}

// transferJob is the job of a USD transfer under a fresh key.
func (l *ledger) transferJob(caller auth.Caller, from, to uuid.UUID, amount int64) *job {
	return jobFor(l.t, l.c.Transfer, caller, idem(caller), Transfer{FromWalletID: from, ToWalletID: to, Asset: "USD", Amount: amount})
}

// databaseTransactions counts the database transactions that wrote the journal transactions of kind.
func (l *ledger) databaseTransactions(kind string) int {
	l.t.Helper()
	var n int
	require.NoError(l.t, l.pool.QueryRow(context.Background(),
		`SELECT count(DISTINCT xmin::text) FROM journal_transactions WHERE kind = $1`, kind).Scan(&n))
	return n
}

// serve runs req through u as its route does once the body is decoded: the delegation check, the validation (with
// the IDs the path names) and Run. Validation refusals come back as the error the route would answer.
func serve[Req, Cmd any](u *UseCase[Req, Cmd], caller auth.Caller, key Idempotency, path map[string]uuid.UUID, req Req) (Outcome, error) {
	if err := u.admit(caller); err != nil {
		return Outcome{}, err
	}
	cmd, err := u.validate(call{caller: caller, id: path["id"], ids: path}, req)
	if err != nil {
		return Outcome{}, err
	}
	return u.Run(context.Background(), caller, key, cmd)
}

// at is the path of a route on resource id.
func at(id uuid.UUID) map[string]uuid.UUID { return map[string]uuid.UUID{"id": id} }

// reused is key carrying another request: the same Idempotency-Key sent with a different body.
func reused(key Idempotency) Idempotency {
	key.Hash = append([]byte("another request "), key.Hash...)
	return key
}

// replayOf returns a function that requires out to be a replay of first: the same status, body and Location.
func replayOf(t *testing.T, first Outcome) func(Outcome, error) {
	return func(out Outcome, err error) {
		t.Helper()
		require.NoError(t, err)
		assert.True(t, out.Replayed, "not replayed: %s", out.Body)
		assert.Equal(t, first.Status, out.Status)
		assert.Equal(t, first.Location, out.Location)
		assert.JSONEq(t, string(first.Body), string(out.Body))
	}
}

// decoded is out's body as a map (out must not be an error).
func decoded(t *testing.T, out Outcome) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(out.Body, &m))
	return m
}

// writtenTables are the tables a write changes, idempotency_keys aside (where a refusal is stored).
var writtenTables = []string{"wallets", "balance_projections", "journal_transactions", "journal_entries", "holds",
	"mandates", "outbox_events", "webhook_endpoints", "webhook_deliveries"}

// state fingerprints every row of writtenTables: a refusal must leave it as it was.
func (l *ledger) state() map[string]string {
	l.t.Helper()
	out := map[string]string{}
	for _, table := range writtenTables {
		var s string
		// The table name is a constant of this file, never input.
		require.NoError(l.t, l.pool.QueryRow(context.Background(), `SELECT count(*) || ' rows, ' ||
			md5(coalesce(string_agg(t::text, ',' ORDER BY t::text), '')) FROM `+table+` t`).Scan(&s))
		out[table] = s
	}
	return out
}

// unchanged asserts that the written tables are as before.
func (l *ledger) unchanged(before map[string]string, msgAndArgs ...any) {
	l.t.Helper()
	assert.Equal(l.t, before, l.state(), msgAndArgs...)
}

// clock is the write side's time, set by the test: a test that crosses an expiry moves it instead of sleeping.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

// epoch is a Tuesday 10:00 UTC, so a day's limit period and a few hours' holds share one calendar day.
var epoch = time.Date(2031, 3, 4, 10, 0, 0, 0, time.UTC)

// setClock makes the write side tell time by a clock standing at epoch. Call it before the first write.
func (l *ledger) setClock() *clock {
	c := &clock{t: epoch}
	l.c.now = c.now
	return c
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// eventsOf returns the payloads of the outbox events of type typ, oldest first.
func (l *ledger) eventsOf(typ string) []map[string]any {
	l.t.Helper()
	rows, err := l.pool.Query(context.Background(), `SELECT payload::text FROM outbox_events
		WHERE metadata->>'event_type' = $1 ORDER BY "offset"`, typ)
	require.NoError(l.t, err)
	defer rows.Close()
	var out []map[string]any
	for rows.Next() {
		var p string
		require.NoError(l.t, rows.Scan(&p))
		var m map[string]any
		require.NoError(l.t, json.Unmarshal([]byte(p), &m))
		out = append(out, m)
	}
	require.NoError(l.t, rows.Err())
	return out
}

// journal reads a committed transaction and its entries as stored.
func (l *ledger) journal(id uuid.UUID) eventstore.Transaction {
	l.t.Helper()
	tx, _, err := eventstore.GetTransaction(context.Background(), l.pool, id)
	require.NoError(l.t, err)
	return tx
}

// idOf is the UUID in field of a decoded body.
func idOf(t *testing.T, body map[string]any, field string) uuid.UUID {
	t.Helper()
	s, ok := body[field].(string)
	require.True(t, ok, "no %s in %v", field, body)
	return uuid.MustParse(s)
}

// invalidFields returns a function that requires a validation_error, stored under the key or not, and returns
// the fields it names.
func invalidFields(t *testing.T) func(Outcome, error) []string {
	return func(out Outcome, err error) []string {
		t.Helper()
		var p httpapi.Problem
		if err != nil {
			var e *httpapi.Problem
			require.ErrorAs(t, err, &e)
			p = *e
		} else {
			require.True(t, out.Problem, "not refused: %d %s", out.Status, out.Body)
			require.NoError(t, json.Unmarshal(out.Body, &p))
		}
		require.Equal(t, "validation_error", p.Code, "%s", p.Detail)
		var names []string
		for _, f := range p.Errors {
			names = append(names, f.Field)
		}
		return names
	}
}
