package query

import (
	"context"
	"math"

	"github.com/google/uuid"

	"github.com/agentic-commerce/wallet-ledger/internal/auth"
	"github.com/agentic-commerce/wallet-ledger/projector"
)

// HistoryView is the body of GET /v1/wallets/{id}/transactions: the wallet's journal entries newest first, each
// with the balance right after it, in the list envelope. It is served from an asynchronous read model; ReadModel
// says how far behind the journal it is.
type HistoryView struct {
	Page[projector.HistoryEntry]
	WalletID    uuid.UUID            `json:"wallet_id"`
	Asset       string               `json:"asset"`
	Consistency string               `json:"consistency"`
	ReadModel   projector.HistoryLag `json:"read_model"`
	// Deprecated: Entries repeats Data for clients of the envelope before lists had one; it goes in the next
	// release.
	Entries []projector.HistoryEntry `json:"entries"`
}

// History serves one page of a wallet's history to its owner or an admin.
func (q *Queries) History(ctx context.Context, caller auth.Caller, id uuid.UUID, l listQuery) (HistoryView, error) {
	wallet, err := q.visibleWallet(ctx, caller, id)
	if err != nil {
		return HistoryView{}, err
	}
	sc := scope("GET /v1/wallets/{id}/transactions", caller.Sub, caller.IsAdmin(), id.String())
	start, err := q.pageStart(l, sc, position{N: math.MaxInt64})
	if err != nil {
		return HistoryView{}, err
	}
	before := &start.N
	if l.cursor == "" {
		before = nil
	}
	hp, err := projector.ReadHistory(ctx, q.store, id, before, l.limit)
	if err != nil {
		return HistoryView{}, err
	}
	page := Page[projector.HistoryEntry]{Data: hp.Entries}
	if page.Data == nil {
		page.Data = []projector.HistoryEntry{}
	}
	if hp.Before != nil { // more entries follow, below this one
		c := q.cursors.encode(sc, position{N: *hp.Before})
		page.HasMore, page.NextCursor = true, &c
	}
	return HistoryView{Page: page, WalletID: id, Asset: wallet.Asset, Consistency: "eventual", ReadModel: hp.Lag,
		Entries: page.Data}, nil
}
