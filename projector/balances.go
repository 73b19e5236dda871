package projector

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/agentic-commerce/wallet-ledger/eventstore"
)

// GetBalances reads the projected balances of ids in one statement; a wallet without a projection row is absent
// from the map.
func GetBalances(ctx context.Context, q eventstore.Querier, ids []uuid.UUID) (map[uuid.UUID]Balance, error) {
	out := make(map[uuid.UUID]Balance, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	rows, err := q.Query(ctx, `SELECT wallet_id, asset, kind, balance, held, version, updated_at
		FROM balance_projections WHERE wallet_id = ANY($1)`, ids)
	if err != nil {
		return nil, eventstore.Classify(fmt.Errorf("read balances of %d wallets: %w", len(ids), err))
	}
	bals, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Balance, error) { return scanBalance(r) })
	if err != nil {
		return nil, eventstore.Classify(fmt.Errorf("read balances of %d wallets: %w", len(ids), err))
	}
	for _, b := range bals {
		out[b.WalletID] = b
	}
	return out, nil
}
