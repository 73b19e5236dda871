package projector

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/agentic-commerce/wallet-ledger/eventstore"
)

// Consumers of the outbox stream with a row in read_side_checkpoints.
const (
	ConsumerHistory = "history"
	ConsumerAudit   = "audit"
)

// StreamCursor is a consumer's place in the outbox: the writing transaction's xid8 and the row's offset, the order
// Watermill's PostgreSQL subscriber uses.
//
// Journal positions cannot serve here: they are drawn before COMMIT, so a lower position can commit after a higher
// one and a poller over positions would step over it. An outbox row is read only once its transaction's xid is
// below the xmin of the reader's snapshot, that is once no transaction that could still commit holds a lower
// xid; every later row then sorts after the cursor, and nothing is skipped or read twice.
type StreamCursor struct {
	XID    string // xid8 as text; "0" before the first event
	Offset int64
}

// touched is what one slice of the stream touched.
type touched struct {
	wallets      []uuid.UUID
	transactions []uuid.UUID
	events       int
	next         StreamCursor
}

// lockCursor reads consumer's cursor and locks its row until the end of tx, so two relay replicas never consume
// the same slice at once.
func lockCursor(ctx context.Context, tx pgx.Tx, consumer string) (StreamCursor, error) {
	var c StreamCursor
	err := tx.QueryRow(ctx, `SELECT last_xid::text, last_offset FROM read_side_checkpoints
		WHERE consumer = $1 FOR UPDATE`, consumer).Scan(&c.XID, &c.Offset)
	if errors.Is(err, pgx.ErrNoRows) {
		// Migration 003 seeds the rows; recreate one that an operator deleted to force a full replay.
		if _, err := tx.Exec(ctx, `INSERT INTO read_side_checkpoints (consumer) VALUES ($1)
			ON CONFLICT DO NOTHING`, consumer); err != nil {
			return StreamCursor{}, fmt.Errorf("create checkpoint %s: %w", consumer, err)
		}
		return lockCursor(ctx, tx, consumer)
	}
	if err != nil {
		return StreamCursor{}, fmt.Errorf("read checkpoint %s: %w", consumer, err)
	}
	return c, nil
}

func saveCursor(ctx context.Context, tx pgx.Tx, consumer string, c StreamCursor) error {
	_, err := tx.Exec(ctx, `UPDATE read_side_checkpoints SET last_xid = $2::xid8, last_offset = $3, updated_at = now()
		WHERE consumer = $1`, consumer, c.XID, c.Offset)
	if err != nil {
		return fmt.Errorf("save checkpoint %s: %w", consumer, err)
	}
	return nil
}

// readStream reads up to limit outbox events after c and returns the wallets and transactions they name. Any event
// type that carries wallet_ids counts, so later event types (holds, mandates) are covered without a change here.
func readStream(ctx context.Context, q eventstore.Querier, c StreamCursor, limit int) (touched, error) {
	// xid is the text of transaction_id under another name: ORDER BY a name of the select list would sort the text
	// (100 before 99) and no index could serve it.
	rows, err := q.Query(ctx, `SELECT transaction_id::text AS xid, "offset", payload::text FROM outbox_events
		WHERE (transaction_id, "offset") > ($1::xid8, $2::bigint)
		  AND transaction_id < pg_snapshot_xmin(pg_current_snapshot())
		ORDER BY transaction_id, "offset" LIMIT $3`, c.XID, c.Offset, limit)
	if err != nil {
		return touched{}, fmt.Errorf("read outbox after %s/%d: %w", c.XID, c.Offset, err)
	}
	defer rows.Close()
	out := touched{next: c}
	wallets := map[uuid.UUID]bool{}
	txs := map[uuid.UUID]bool{}
	for rows.Next() {
		var payload string
		if err := rows.Scan(&out.next.XID, &out.next.Offset, &payload); err != nil {
			return touched{}, fmt.Errorf("scan outbox row: %w", err)
		}
		out.events++
		var ev struct {
			TransactionID *uuid.UUID  `json:"transaction_id"`
			WalletID      *uuid.UUID  `json:"wallet_id"`
			WalletIDs     []uuid.UUID `json:"wallet_ids"`
		}
		if err := json.Unmarshal([]byte(payload), &ev); err != nil {
			// A payload we cannot read names no wallet; the full sweep still covers whatever it touched.
			continue
		}
		for _, w := range ev.WalletIDs {
			wallets[w] = true
		}
		if ev.WalletID != nil {
			wallets[*ev.WalletID] = true
		}
		if ev.TransactionID != nil {
			txs[*ev.TransactionID] = true
		}
	}
	if err := rows.Err(); err != nil {
		return touched{}, fmt.Errorf("read outbox: %w", err)
	}
	out.wallets = sortedIDs(wallets)
	out.transactions = sortedIDs(txs)
	return out, nil
}

func sortedIDs(set map[uuid.UUID]bool) []uuid.UUID {
	ids := make([]uuid.UUID, 0, len(set))
	for id := range set {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i].String() < ids[j].String() })
	return ids
}
