package load

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// The checks read the ledger's tables directly. They belong to migrations/
// and eventstore/, but these queries are read-only and exist to catch what
// the API could hide: an effect no API answer mentions.
const (
	qBalanceSums = `SELECT asset, COALESCE(SUM(balance), 0)::bigint FROM balance_projections GROUP BY asset`
	qJournalSums = `SELECT asset, COALESCE(SUM(amount), 0)::bigint FROM journal_entries GROUP BY asset`
	qProjection  = `SELECT count(*) FROM balance_projections b
		LEFT JOIN (SELECT wallet_id, SUM(amount) AS s FROM journal_entries GROUP BY wallet_id) j
		ON j.wallet_id = b.wallet_id WHERE b.balance <> COALESCE(j.s, 0)`
	qUnbalanced = `SELECT count(*) FROM (SELECT transaction_id FROM journal_entries
		GROUP BY transaction_id HAVING SUM(amount) <> 0) x`
	qDuplicates = `SELECT count(*) FROM (SELECT sub, idempotency_key FROM journal_transactions
		GROUP BY sub, idempotency_key HAVING count(*) > 1) d`
	qCommitted = `SELECT count(*) FROM journal_transactions WHERE transaction_id = ANY($1::uuid[])`
)

// ReadDBFacts connects to databaseURL and gathers the ledger-wide sums.
// committed are transaction IDs the API answered 201 for.
func ReadDBFacts(ctx context.Context, databaseURL string, committed []string) (*DBFacts, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	var conn *pgx.Conn
	var err error
	// The check usually runs right after a fault heals; give the server a
	// few seconds to come back before calling it unreachable.
	for attempt := 0; attempt < 20; attempt++ {
		conn, err = pgx.Connect(ctx, databaseURL)
		if err == nil {
			break
		}
		if !sleepCtx(ctx, 500*time.Millisecond) {
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("connect for invariant check: %w", err)
	}
	defer conn.Close(context.Background())

	f := &DBFacts{}
	if f.BalanceSums, err = sumsByAsset(ctx, conn, qBalanceSums); err != nil {
		return nil, err
	}
	if f.JournalSums, err = sumsByAsset(ctx, conn, qJournalSums); err != nil {
		return nil, err
	}
	for _, q := range []struct {
		sql  string
		dst  *int64
		args []any
	}{
		{qProjection, &f.ProjectionMismatches, nil},
		{qUnbalanced, &f.UnbalancedTransactions, nil},
		{qDuplicates, &f.DuplicateKeys, nil},
	} {
		if err := conn.QueryRow(ctx, q.sql, q.args...).Scan(q.dst); err != nil {
			return nil, fmt.Errorf("invariant query %q: %w", firstLine(q.sql), err)
		}
	}
	const chunk = 5000
	for i := 0; i < len(committed); i += chunk {
		part := committed[i:min(i+chunk, len(committed))]
		var n int64
		if err := conn.QueryRow(ctx, qCommitted, part).Scan(&n); err != nil {
			return nil, fmt.Errorf("count committed transactions: %w", err)
		}
		f.MissingCommitted += int64(len(part)) - n
		f.CommittedChecked += int64(len(part))
	}
	return f, nil
}

func sumsByAsset(ctx context.Context, conn *pgx.Conn, sql string) (map[string]int64, error) {
	rows, err := conn.Query(ctx, sql)
	if err != nil {
		return nil, fmt.Errorf("invariant query %q: %w", firstLine(sql), err)
	}
	out := map[string]int64{}
	for rows.Next() {
		var asset string
		var s int64
		if err := rows.Scan(&asset, &s); err != nil {
			return nil, fmt.Errorf("scan sums: %w", err)
		}
		out[asset] = s
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("invariant query %q: %w", firstLine(sql), err)
	}
	return out, nil
}

func firstLine(s string) string {
	for i, c := range s {
		if c == '\n' {
			return s[:i]
		}
	}
	return s
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
