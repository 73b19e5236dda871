package main

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentic-commerce/wallet-ledger/client"
	"github.com/agentic-commerce/wallet-ledger/internal/auth"
	"github.com/agentic-commerce/wallet-ledger/internal/replica"
)

// newReplicaAPI starts a wallet-api whose reads may go to the test standby, with its health check running every
// check, and waits until the standby is in use. maxLag decides when a paused standby goes out of use.
func newReplicaAPI(t *testing.T, maxWait, maxLag, check time.Duration) (*testAPI, standby) {
	t.Helper()
	sb := standby{t: t, url: standbyURL(t)}
	cfg := testConfig(t)
	cfg.ReadDatabaseURL = sb.url
	cfg.ReplicaMaxWait, cfg.ReplicaMaxLag, cfg.ReplicaCheckInterval = maxWait, maxLag, check
	a := newAPIWith(t, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); a.app.reads.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	// The package database reaches the standby by replication; until it has, the standby is out of use.
	waitUntil(t, time.Minute, "the standby in use", func() bool {
		return a.app.reads.Status().InUse || a.app.reads.Check(context.Background()).InUse
	})
	return a, sb
}

// position is the Ledger-Position of a write's answer, which every write must carry.
func position(t *testing.T, r response) string {
	t.Helper()
	p := r.Header.Get("Ledger-Position")
	_, err := replica.ParsePosition(p)
	require.NoError(t, err, "Ledger-Position %q of a %d answer", p, r.Status)
	return p
}

func (a *testAPI) getAt(tok, path, minPosition string) response {
	a.t.Helper()
	req := request{Method: http.MethodGet, Path: path, Token: tok}
	if minPosition != "" {
		req.Header = map[string]string{"Min-Position": minPosition}
	}
	return a.do(req)
}

func jsonInt(t *testing.T, r response, field string) int64 {
	t.Helper()
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	v, ok := r.JSON(t)[field].(float64)
	require.True(t, ok, "%s in %s", field, r.Body)
	return int64(v)
}

// A balance read that sends the position of the caller's own write never sees an older balance: the standby answers
// it once it has replayed that far; while the standby's replay is paused the read waits REPLICA_MAX_WAIT, then
// the primary answers. Reads without a position that tolerate a delay are answered by the standby, stale while it
// is paused, and what it does not have yet is asked of the primary.
func TestReplicaReadsSeeTheCallersOwnWrites(t *testing.T) {
	const maxWait = 300 * time.Millisecond
	a, sb := newReplicaAPI(t, maxWait, time.Hour, 50*time.Millisecond)
	alice := token(t, "replica-alice", auth.ScopeRead, auth.ScopeWrite)
	from, to := a.createWallet(alice, "USD"), a.createWallet(alice, "USD")
	a.fund(from, "USD", 10_000)
	transfer := func(amount int) response {
		t.Helper()
		r := a.post(alice, "/v1/transfers", map[string]any{"from_wallet_id": from, "to_wallet_id": to, "amount": amount, "asset": "USD"})
		require.Equal(t, http.StatusCreated, r.Status, "%s", r.Body)
		return r
	}
	served := func(src replica.Source, reason string) int64 { return a.app.reads.Served(src, reason) }

	// Streaming: the standby reaches the position and answers.
	pos := position(t, transfer(100))
	sb.waitReplayed(pos)
	reached := served(replica.Standby, replica.ReasonReached)
	assert.Equal(t, int64(9_900), jsonInt(t, a.getAt(alice, "/v1/wallets/"+from+"/balance", pos), "balance"))
	assert.Equal(t, reached+1, served(replica.Standby, replica.ReasonReached), "the standby answered the read with a position")
	auditBefore := jsonInt(t, a.get(alice, "/v1/wallets/"+from+"/balance/audit"), "journal_balance")
	require.Equal(t, int64(9_900), auditBefore, "the standby has replayed the first transfer")

	// Paused: every read with the position of the write just made sees that write, from the primary.
	sb.pause()
	balance := int64(9_900)
	var last response
	for i := 1; i <= 3; i++ {
		last = transfer(10 * i)
		balance -= int64(10 * i)
		expired := served(replica.Primary, replica.ReasonWaitExpired)
		start := time.Now()
		got := jsonInt(t, a.getAt(alice, "/v1/wallets/"+from+"/balance", position(t, last)), "balance")
		waited := time.Since(start)
		require.Equal(t, balance, got, "a read with the position of write %d saw an older balance", i)
		assert.GreaterOrEqual(t, waited, maxWait, "the read waited for the standby before asking the primary")
		assert.Equal(t, expired+1, served(replica.Primary, replica.ReasonWaitExpired))
	}
	// Without a position, a balance is the primary's; a bounded read is the standby's, stale while it is paused.
	assert.Equal(t, balance, jsonInt(t, a.get(alice, "/v1/wallets/"+from+"/balance"), "balance"))
	bounded := served(replica.Standby, replica.ReasonBounded)
	assert.Equal(t, auditBefore, jsonInt(t, a.get(alice, "/v1/wallets/"+from+"/balance/audit"), "journal_balance"),
		"the paused standby answers the audit with the journal as it was")
	assert.Equal(t, bounded+1, served(replica.Standby, replica.ReasonBounded))
	// The same audit with the position: the primary's journal.
	assert.Equal(t, balance, jsonInt(t, a.getAt(alice, "/v1/wallets/"+from+"/balance/audit", position(t, last)), "journal_balance"))
	// A transaction the standby has not replayed is not "not found": the primary has it.
	txID, _ := last.JSON(t)["transaction_id"].(string)
	missing := served(replica.Primary, replica.ReasonMissingReplica)
	r := a.get(alice, "/v1/transactions/"+txID)
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	assert.Equal(t, missing+1, served(replica.Primary, replica.ReasonMissingReplica))

	// Resumed: the standby catches up and answers the same read itself.
	sb.resume()
	sb.waitReplayed(position(t, last))
	reached = served(replica.Standby, replica.ReasonReached)
	assert.Equal(t, balance, jsonInt(t, a.getAt(alice, "/v1/wallets/"+from+"/balance", position(t, last)), "balance"))
	assert.Equal(t, reached+1, served(replica.Standby, replica.ReasonReached))
	assert.Equal(t, balance, jsonInt(t, a.get(alice, "/v1/wallets/"+from+"/balance/audit"), "journal_balance"))
}

// A standby further behind than REPLICA_MAX_LAG is taken out of use (readiness says so and stays 200), every read
// goes to the primary meanwhile, and it comes back once it has caught up.
func TestLaggingReplicaIsTakenOutOfUseUntilItCatchesUp(t *testing.T) {
	a, sb := newReplicaAPI(t, 100*time.Millisecond, 500*time.Millisecond, 50*time.Millisecond)
	bob := token(t, "replica-bob", auth.ScopeRead, auth.ScopeWrite)
	w := a.createWallet(bob, "USD")
	a.fund(w, "USD", 500)
	waitUntil(t, 2*time.Minute, "the standby to replay the funding", func() bool {
		return a.app.reads.Status().InUse && jsonInt(t, a.get(bob, "/v1/wallets/"+w+"/balance/audit"), "journal_balance") == 500
	})

	sb.pause()
	a.fund(w, "USD", 250) // the primary moves on; the standby does not
	waitUntil(t, patience, "the lagging standby out of use", func() bool { return !a.app.reads.Status().InUse })
	ready := a.get("", "/v1/ready")
	require.Equal(t, http.StatusOK, ready.Status, "a lagging replica never makes the service unready: %s", ready.Body)
	rep, ok := ready.JSON(t)["replica"].(map[string]any)
	require.True(t, ok, "%s", ready.Body)
	assert.Equal(t, false, rep["in_use"])
	assert.Contains(t, rep["reason"], "REPLICA_MAX_LAG")
	outOfUse := a.app.reads.Served(replica.Primary, replica.ReasonOutOfUse)
	assert.Equal(t, int64(750), jsonInt(t, a.get(bob, "/v1/wallets/"+w+"/balance/audit"), "journal_balance"),
		"out of use, the standby no longer answers bounded reads")
	assert.Equal(t, outOfUse+1, a.app.reads.Served(replica.Primary, replica.ReasonOutOfUse))

	sb.resume()
	waitUntil(t, 2*time.Minute, "the standby back in use", func() bool { return a.app.reads.Status().InUse })
	ready = a.get("", "/v1/ready")
	require.Equal(t, http.StatusOK, ready.Status)
	assert.Equal(t, true, ready.JSON(t)["replica"].(map[string]any)["in_use"])
}

// A stopped standby costs no read an error: the first read it was to answer fails there and is asked of the
// primary, which takes the standby out of use; readiness stays 200 and says so; once it runs again and a health
// check finds it streaming, it is back in use. (The health check runs by hand here, so the read finds out first.)
func TestStoppedReplicaFallsBackToThePrimary(t *testing.T) {
	a, sb := newReplicaAPI(t, 200*time.Millisecond, time.Hour, time.Hour)
	carol := token(t, "replica-carol", auth.ScopeRead, auth.ScopeWrite)
	from, to := a.createWallet(carol, "USD"), a.createWallet(carol, "USD")
	a.fund(from, "USD", 1_000)

	sb.disrupt()
	restarted := false
	t.Cleanup(func() {
		if !restarted {
			sb.script() // never leave the shared test standby stopped
		}
	})
	sb.script("--stop")
	// The router still believes the standby in use: the first read finds out, and asks the primary.
	r := a.post(carol, "/v1/transfers", map[string]any{"from_wallet_id": from, "to_wallet_id": to, "amount": 300, "asset": "USD"})
	require.Equal(t, http.StatusCreated, r.Status, "%s", r.Body)
	pos := position(t, r)
	txID, _ := r.JSON(t)["transaction_id"].(string)
	require.True(t, a.app.reads.Status().InUse)
	assert.Equal(t, int64(700), jsonInt(t, a.get(carol, "/v1/wallets/"+from+"/balance/audit"), "journal_balance"))
	assert.Equal(t, int64(1), a.app.reads.Served(replica.Primary, replica.ReasonReplicaFailed),
		"the read failed on the stopped standby and the primary answered it")
	assert.False(t, a.app.reads.Status().InUse, "the failed read took the standby out of use")
	for _, read := range []struct {
		path, field string
		want        int64
		min         string
	}{
		{"/v1/wallets/" + from + "/balance/audit", "journal_balance", 700, ""},
		{"/v1/wallets/" + from + "/balance", "balance", 700, pos},
		{"/v1/transactions/" + txID, "amount", 300, ""},
		{"/v1/wallets/" + to + "/balance/audit", "journal_balance", 300, pos},
	} {
		got := a.getAt(carol, read.path, read.min)
		assert.Equal(t, read.want, jsonInt(t, got, read.field), "%s", read.path)
	}
	h := a.get(carol, "/v1/wallets/"+from+"/transactions")
	assert.Equal(t, http.StatusOK, h.Status, "%s", h.Body)
	assert.Positive(t, a.app.reads.Served(replica.Primary, replica.ReasonOutOfUse))
	assert.False(t, a.app.reads.Check(context.Background()).InUse, "a health check finds the standby down too")
	ready := a.get("", "/v1/ready")
	require.Equal(t, http.StatusOK, ready.Status, "%s", ready.Body)
	rep := ready.JSON(t)["replica"].(map[string]any)
	assert.Equal(t, false, rep["in_use"])
	assert.NotEmpty(t, rep["reason"])

	sb.script()
	restarted = true
	waitUntil(t, time.Minute, "the restarted standby back in use", func() bool {
		return a.app.reads.Check(context.Background()).InUse
	})
	bounded := a.app.reads.Served(replica.Standby, replica.ReasonBounded)
	assert.Equal(t, int64(700), jsonInt(t, a.get(carol, "/v1/wallets/"+from+"/balance/audit"), "journal_balance"))
	assert.Equal(t, bounded+1, a.app.reads.Served(replica.Standby, replica.ReasonBounded), "the standby answers again")
}

// Every answer a write gets from the database carries its Ledger-Position, fresh or replayed, success or stored
// refusal, never behind a write it follows; a malformed or repeated Min-Position is a 400 problem on every read
// and changes nothing. No replica is needed for either.
func TestWritesCarryAPositionAndReadsCheckMinPosition(t *testing.T) {
	a := newAPI(t)
	dave := token(t, "position-dave", auth.ScopeRead, auth.ScopeWrite)
	from, to := a.createWallet(dave, "USD"), a.createWallet(dave, "USD")
	a.fund(from, "USD", 100)
	body := map[string]any{"from_wallet_id": from, "to_wallet_id": to, "amount": 40, "asset": "USD"}
	key := newKey()
	first := a.do(request{Method: http.MethodPost, Path: "/v1/transfers", Token: dave, Key: key, Body: body})
	require.Equal(t, http.StatusCreated, first.Status, "%s", first.Body)
	p1, _ := replica.ParsePosition(position(t, first))

	second := a.post(dave, "/v1/transfers", body)
	require.Equal(t, http.StatusCreated, second.Status)
	p2, _ := replica.ParsePosition(position(t, second))
	assert.Greater(t, p2, p1, "a later commit has a later position")

	replayed := a.do(request{Method: http.MethodPost, Path: "/v1/transfers", Token: dave, Key: key, Body: body})
	require.Equal(t, "true", replayed.Header.Get("Idempotent-Replayed"))
	p3, _ := replica.ParsePosition(position(t, replayed))
	assert.GreaterOrEqual(t, p3, p2, "a replay carries the position current when it is sent")

	refused := a.post(dave, "/v1/transfers", map[string]any{"from_wallet_id": from, "to_wallet_id": to, "amount": 1_000, "asset": "USD"})
	require.Equal(t, "insufficient_funds", refused.Code(t))
	p4, _ := replica.ParsePosition(position(t, refused))
	assert.GreaterOrEqual(t, p4, p3)

	// The position is where PostgreSQL's WAL stood after the commit: the primary is at or past it.
	var now string
	require.NoError(t, a.app.pool.QueryRow(context.Background(), `SELECT pg_current_wal_insert_lsn()::text`).Scan(&now))
	pNow, err := replica.ParsePosition(now)
	require.NoError(t, err)
	assert.GreaterOrEqual(t, pNow, p4)

	txID, _ := first.JSON(t)["transaction_id"].(string)
	paths := []string{"/v1/wallets/" + from, "/v1/wallets/" + from + "/balance", "/v1/wallets/" + from + "/balance/audit",
		"/v1/wallets/" + from + "/transactions", "/v1/transactions/" + txID, "/v1/wallets/" + from + "/mandates",
		"/v1/wallets/" + from + "/holds", "/v1/wallets", "/v1/transactions", "/v1/events"}
	for _, bad := range []string{"", "0", "16/b374d848", "0/01", "1/2/3", "0/1x", "100000000/0", "0/1;0/2", strings.Repeat("F", 300)} {
		for _, path := range paths {
			r := a.do(request{Method: http.MethodGet, Path: path, Token: dave, Multi: http.Header{"Min-Position": {bad}}})
			expectProblem(t, r, http.StatusBadRequest, "invalid_position")
		}
	}
	twice := a.do(request{Method: http.MethodGet, Path: "/v1/wallets/" + from + "/balance", Token: dave,
		Multi: http.Header{"Min-Position": {p1.String(), p2.String()}}})
	expectProblem(t, twice, http.StatusBadRequest, "invalid_position")
	// A well-formed position without a replica: the primary answers, which has everything.
	assert.Equal(t, int64(20), jsonInt(t, a.getAt(dave, "/v1/wallets/"+from+"/balance", p4.String()), "balance"))
	assert.Equal(t, int64(20), jsonInt(t, a.getAt(dave, "/v1/wallets/"+from+"/balance", "FFFFFFFF/FFFFFFFF"), "balance"))
	assert.Positive(t, a.app.reads.Served(replica.Primary, replica.ReasonNoReplica), "without a replica the primary answers")
	ready := a.get("", "/v1/ready")
	require.Equal(t, http.StatusOK, ready.Status)
	_, has := ready.JSON(t)["replica"]
	assert.False(t, has, "without READ_DATABASE_URL, readiness names no replica: %s", ready.Body)
}

// The Go client carries the position from a write to a read: Response.LedgerPosition, then WithMinPosition. With the
// standby paused the read still sees the write (from the primary); once it has replayed, the standby answers it.
func TestClientReadsItsOwnWritesThroughAReplica(t *testing.T) {
	a, sb := newReplicaAPI(t, 200*time.Millisecond, time.Hour, 50*time.Millisecond)
	erin := token(t, "replica-erin", auth.ScopeRead, auth.ScopeWrite)
	from, to := a.createWallet(erin, "USD"), a.createWallet(erin, "USD")
	a.fund(from, "USD", 1_000)
	c := a.newClient(erin, nil, setUpRetry)
	ctx := context.Background()

	sb.pause()
	_, resp, err := c.Transfer(ctx, client.TransferRequest{FromWalletID: from, ToWalletID: to, Amount: 125, Asset: "USD"})
	a.requireOK(err, "transfer")
	require.NotEmpty(t, resp.LedgerPosition, "a write's Response carries its position")
	bal, _, err := c.GetBalance(ctx, from, client.WithMinPosition(resp.LedgerPosition))
	a.requireOK(err, "balance at the write's position")
	assert.Equal(t, int64(875), bal.Balance, "the paused standby cannot answer it: the primary does")

	sb.resume()
	sb.waitReplayed(resp.LedgerPosition)
	reached := a.app.reads.Served(replica.Standby, replica.ReasonReached)
	bal, _, err = c.GetBalance(ctx, from, client.WithMinPosition(resp.LedgerPosition))
	a.requireOK(err, "balance at the write's position")
	assert.Equal(t, int64(875), bal.Balance)
	assert.Equal(t, reached+1, a.app.reads.Served(replica.Standby, replica.ReasonReached), "the standby answered")

	_, _, err = c.GetBalance(ctx, from, client.WithMinPosition("not-a-position"))
	assert.True(t, client.IsCode(err, "invalid_position"), "%v", err)
}

// The events feed from the replica pages every event once: a consumer that pages from the standby, then (the
// standby paused) from the primary, then from the standby again once it has caught up, gets each of its events
// exactly once and in the feed's order. While the standby is paused a poll it answers brings nothing new, and the
// cursor it returns does not move back.
func TestEventsFeedFromTheReplicaPagesEveryEventOnce(t *testing.T) {
	t.Setenv("WEBHOOK_SECRET_KEY", testWebhookKey)
	a, sb := newReplicaAPI(t, 200*time.Millisecond, time.Hour, 50*time.Millisecond)
	ctx := context.Background()
	sub := uniqueSub("replica-feed")
	tok := token(t, sub, auth.ScopeRead, auth.ScopeWrite)
	c := a.newClient(tok, nil, setUpRetry)
	from, to := a.createWallet(tok, "FDR"), a.createWallet(tok, "FDR")
	a.fund(from, "FDR", 1_000)
	pay := func(n int) {
		t.Helper()
		for i := 0; i < n; i++ {
			r := a.post(tok, "/v1/transfers", map[string]any{"from_wallet_id": from, "to_wallet_id": to, "amount": 1, "asset": "FDR"})
			require.Equal(t, http.StatusCreated, r.Status, "%s", r.Body)
		}
	}
	// recorded waits until the relay has recorded n of the caller's events in the feed, and returns the primary's
	// position after them.
	recorded := func(n int) string {
		t.Helper()
		waitUntil(t, patience, "the relay to record the events", func() bool {
			var got int
			require.NoError(t, a.app.pool.QueryRow(ctx, `SELECT count(*) FROM events WHERE audience @> $1`, []string{sub}).Scan(&got))
			return got >= n
		})
		var lsn string
		require.NoError(t, a.app.pool.QueryRow(ctx, `SELECT pg_current_wal_insert_lsn()::text`).Scan(&lsn))
		return lsn
	}
	var seen []string
	after := ""
	poll := func(opts ...client.CallOption) (int, bool) {
		t.Helper()
		p, _, err := c.ListEvents(ctx, client.EventsQuery{After: after, Limit: 3}, opts...)
		a.requireOK(err, "a page of the feed")
		for _, e := range p.Data {
			seen = append(seen, e.EventID)
		}
		require.NotEmpty(t, p.NextCursor)
		after = p.NextCursor
		return len(p.Data), p.HasMore
	}
	served := func(src replica.Source, reason string) int64 { return a.app.reads.Served(src, reason) }

	pay(5) // two wallets, a funding, five transfers: 8 events
	startWebhookRelay(t)
	sb.waitReplayed(recorded(8))
	bounded := served(replica.Standby, replica.ReasonBounded)
	for pages := 1; ; pages++ {
		if _, more := poll(); !more {
			assert.Equal(t, bounded+int64(pages), served(replica.Standby, replica.ReasonBounded), "the standby answered every page")
			break
		}
	}
	require.Len(t, seen, 8)

	sb.pause()
	pay(4)
	pos := recorded(12)
	n, more := poll()
	assert.Zero(t, n, "the paused standby has none of the new events")
	assert.False(t, more)
	expired := served(replica.Primary, replica.ReasonWaitExpired)
	n, more = poll(client.WithMinPosition(pos))
	assert.Equal(t, 3, n, "with the position, the primary answers")
	assert.True(t, more)
	assert.Equal(t, expired+1, served(replica.Primary, replica.ReasonWaitExpired))

	sb.resume()
	sb.waitReplayed(pos)
	bounded = served(replica.Standby, replica.ReasonBounded)
	n, more = poll()
	assert.Equal(t, 1, n, "the standby, caught up, serves the rest from the primary's cursor")
	assert.False(t, more)
	assert.Equal(t, bounded+1, served(replica.Standby, replica.ReasonBounded))

	rows, err := a.app.pool.Query(ctx, `SELECT event_id::text FROM events WHERE audience @> $1 ORDER BY seq`, []string{sub})
	require.NoError(t, err)
	want, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	assert.Equal(t, want, seen, "every event of the feed exactly once, in the feed's order")
}
