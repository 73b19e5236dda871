package projector

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/agentic-commerce/wallet-ledger/eventstore"
)

// ProjectionDiff is a wallet whose projection differs from the journal's replay.
type ProjectionDiff struct {
	WalletID uuid.UUID `json:"wallet_id"`
	Asset    string    `json:"asset"`
	Missing  bool      `json:"missing"`
	Current  Balance   `json:"current"`
	Replayed Balance   `json:"replayed"`
}

// RebuildPlan is the comparison of every projection with a replay of the whole journal.
type RebuildPlan struct {
	Wallets      int              `json:"wallets"`
	Transactions int64            `json:"transactions"`
	Diffs        []ProjectionDiff `json:"diffs"`
}

// PlanRebuild replays the whole journal and compares the result with every projection, all in one snapshot, so a
// live system's concurrent writes cannot show up as differences. It writes nothing.
func PlanRebuild(ctx context.Context, store *eventstore.Store) (RebuildPlan, error) {
	var plan RebuildPlan
	err := store.InSnapshot(ctx, func(q eventstore.Querier) error {
		if _, err := q.Exec(ctx, "SET LOCAL statement_timeout = 0"); err != nil {
			return fmt.Errorf("lift statement timeout: %w", err)
		}
		fold := NewFold()
		if err := Replay(ctx, q, 0, fold.Apply); err != nil {
			return err
		}
		rows, err := q.Query(ctx, `SELECT w.wallet_id, w.asset, w.kind, w.created_at, p.wallet_id IS NOT NULL,
			coalesce(p.balance, 0), coalesce(p.held, 0), coalesce(p.version, 0), coalesce(p.updated_at, w.created_at)
			FROM wallets w LEFT JOIN balance_projections p ON p.wallet_id = w.wallet_id ORDER BY w.wallet_id`)
		if err != nil {
			return fmt.Errorf("read projections: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var cur Balance
			var created time.Time
			var present bool
			if err := rows.Scan(&cur.WalletID, &cur.Asset, &cur.Kind, &created, &present, &cur.Balance, &cur.Held,
				&cur.Version, &cur.UpdatedAt); err != nil {
				return fmt.Errorf("read projections: %w", err)
			}
			plan.Wallets++
			fold.seed(cur.WalletID, cur.Asset, cur.Kind, created)
			want := fold.Balances[cur.WalletID]
			if present && sameProjection(cur, want) {
				continue
			}
			plan.Diffs = append(plan.Diffs, ProjectionDiff{WalletID: cur.WalletID, Asset: cur.Asset, Missing: !present,
				Current: cur, Replayed: want})
		}
		plan.Transactions = fold.Transactions
		return rows.Err()
	})
	if err != nil {
		return RebuildPlan{}, fmt.Errorf("plan projection rebuild: %w", err)
	}
	return plan, nil
}

func sameProjection(a, b Balance) bool {
	return a.Balance == b.Balance && a.Held == b.Held && a.Version == b.Version && a.UpdatedAt.Equal(b.UpdatedAt)
}

// ApplyRebuild rewrites the projections of the wallets in plan's diffs, in batches. Each batch takes the writers'
// own row locks (FOR UPDATE, in wallet_id order), then recomputes the wallets from the journal under those locks,
// so a write that committed after the plan is included and none can commit in between: safe on a live system. A
// missing projection is first created at zero. It returns how many projections it changed.
func ApplyRebuild(ctx context.Context, store *eventstore.Store, plan RebuildPlan) (int64, error) {
	ids := make([]uuid.UUID, 0, len(plan.Diffs))
	for _, d := range plan.Diffs {
		ids = append(ids, d.WalletID)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i].String() < ids[j].String() })
	var changed int64
	for start := 0; start < len(ids); start += 200 {
		batch := ids[start:min(start+200, len(ids))]
		err := store.InTx(ctx, func(tx pgx.Tx) error {
			n, err := rewriteProjections(ctx, tx, batch)
			changed += n
			return err
		})
		if err != nil {
			return changed, fmt.Errorf("rebuild projections: %w", err)
		}
	}
	return changed, nil
}

func rewriteProjections(ctx context.Context, tx pgx.Tx, ids []uuid.UUID) (int64, error) {
	changed := map[uuid.UUID]bool{}
	rows, err := tx.Query(ctx, `INSERT INTO balance_projections (wallet_id, asset, kind, updated_at)
		SELECT wallet_id, asset, kind, created_at FROM wallets WHERE wallet_id = ANY($1)
		ON CONFLICT (wallet_id) DO NOTHING RETURNING wallet_id`, ids)
	if err != nil {
		return 0, fmt.Errorf("create missing projections: %w", err)
	}
	if err := collectIDs(rows, changed); err != nil {
		return 0, fmt.Errorf("create missing projections: %w", err)
	}
	locked := map[uuid.UUID]Balance{}
	b := &pgx.Batch{}
	QueueLock(b, ids, locked)
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return 0, fmt.Errorf("lock projections: %w", err)
	}
	// Under the locks this statement sees every committed write of these wallets and no other can commit.
	rows, err = tx.Query(ctx, `UPDATE balance_projections p SET balance = j.balance, held = j.held, version = j.version,
			updated_at = j.updated_at
		FROM (SELECT w.wallet_id, coalesce(sum(e.amount), 0)::bigint AS balance,
				coalesce(sum(e.amount) FILTER (WHERE e.bucket = 'held'), 0)::bigint AS held,
				count(DISTINCT e.transaction_id) AS version,
				coalesce((SELECT t.created_at FROM journal_entries le
					JOIN journal_transactions t ON t.transaction_id = le.transaction_id
					WHERE le.wallet_id = w.wallet_id ORDER BY le.entry_id DESC LIMIT 1), w.created_at) AS updated_at
			FROM wallets w LEFT JOIN journal_entries e ON e.wallet_id = w.wallet_id
			WHERE w.wallet_id = ANY($1) GROUP BY w.wallet_id, w.created_at) j
		WHERE p.wallet_id = j.wallet_id
		  AND (p.balance, p.held, p.version, p.updated_at) IS DISTINCT FROM (j.balance, j.held, j.version, j.updated_at)
		RETURNING p.wallet_id`, ids)
	if err != nil {
		return 0, fmt.Errorf("rewrite projections: %w", err)
	}
	if err := collectIDs(rows, changed); err != nil {
		return 0, fmt.Errorf("rewrite projections: %w", err)
	}
	return int64(len(changed)), nil
}

func collectIDs(rows pgx.Rows, into map[uuid.UUID]bool) error {
	ids, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
	for _, id := range ids {
		into[id] = true
	}
	return err
}
