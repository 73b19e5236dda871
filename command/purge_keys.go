package command

import (
	"context"
	"fmt"
	"time"

	"github.com/agentic-commerce/wallet-ledger/eventstore"
)

// purgeBatch is how many expired idempotency keys one DELETE removes: each batch is its own short statement, so a
// purge never holds many row locks, and a busy ledger's backlog of expired keys is worked off in one run.
const purgeBatch = 5000

// PurgeExpiredKeys deletes every idempotency key past its retention and returns how many went. Keys expire as fast
// as writes arrive (one per write), so a run deletes batches until one comes back short: a single bounded batch per
// run fell behind any steady write rate and let the table grow without end. Each batch is an index range scan on
// expires_at and a TID scan, so a run costs what it deletes, not the table's size; SKIP LOCKED lets the purges of
// several wallet-api replicas take disjoint batches instead of queueing on each other's rows. Once a key's record
// is gone, the journal's UNIQUE (sub, idempotency_key) still refuses to move money twice under it.
func (c *Commands) PurgeExpiredKeys(ctx context.Context) (int64, error) {
	var total int64
	for {
		// ctid = ANY(ARRAY(...)) is a TID scan of the rows the subquery locked; an IN (subquery) join may be planned
		// as a scan of the whole table.
		tag, err := c.store.Pool().Exec(ctx, `DELETE FROM idempotency_keys WHERE ctid = ANY(ARRAY(
			SELECT ctid FROM idempotency_keys WHERE expires_at < $1
			ORDER BY expires_at LIMIT $2 FOR UPDATE SKIP LOCKED))`, time.Now(), purgeBatch)
		if err != nil {
			return total, eventstore.Classify(fmt.Errorf("purge idempotency keys: %w", err))
		}
		total += tag.RowsAffected()
		if tag.RowsAffected() < purgeBatch {
			return total, nil
		}
	}
}
