package query

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"

	"github.com/agentic-commerce/wallet-ledger/eventstore"
	"github.com/agentic-commerce/wallet-ledger/internal/auth"
	"github.com/agentic-commerce/wallet-ledger/internal/httpapi"
)

// transactionFilters are the filters of GET /v1/transactions.
var transactionFilters = []string{"wallet_id", "kind", "mandate_id", "created_after", "created_before"}

var transactionKinds = []string{eventstore.KindTransfer, eventstore.KindAdjustment, eventstore.KindHold,
	eventstore.KindCapture, eventstore.KindVoid, eventstore.KindExpire, eventstore.KindRefund}

// transactionQuery is a validated GET /v1/transactions.
type transactionQuery struct {
	walletID, mandateID uuid.UUID
	filter              eventstore.TransactionFilter
}

func parseTransactionQuery(l listQuery) (transactionQuery, error) {
	var tq transactionQuery
	var err error
	if tq.walletID, err = idFilter("wallet_id", l.get("wallet_id")); err != nil {
		return tq, err
	}
	if tq.mandateID, err = idFilter("mandate_id", l.get("mandate_id")); err != nil {
		return tq, err
	}
	tq.filter.Kind = l.get("kind")
	if err := enumFilter("kind", tq.filter.Kind, transactionKinds...); err != nil {
		return tq, err
	}
	if tq.filter.CreatedAfter, err = timeFilter("created_after", l.get("created_after")); err != nil {
		return tq, err
	}
	if tq.filter.CreatedBefore, err = timeFilter("created_before", l.get("created_before")); err != nil {
		return tq, err
	}
	f := tq.filter
	if !f.CreatedAfter.IsZero() && !f.CreatedBefore.IsZero() && !f.CreatedAfter.Before(f.CreatedBefore) {
		return tq, httpapi.Errorf("invalid_query", "created_after must be before created_before")
	}
	return tq, nil
}

// Transactions lists journal transactions newest first, as the transaction read would show them:
//   - with mandate_id: those made under the mandate, to its wallet's owner and admins; to its agent, those the
//     agent made (404 mandate_not_found to anybody else);
//   - with wallet_id: those with an entry on the wallet, to its owner and admins (404 wallet_not_found to
//     anybody else, agents included: like its history, a wallet's transactions are its owner's);
//   - otherwise: an admin's are all of them, anyone else's those with an entry on one of its own wallets.
//
// kind, created_after and created_before narrow any of these.
func (q *Queries) Transactions(ctx context.Context, caller auth.Caller, l listQuery) (Page[eventstore.TransactionView], error) {
	var none Page[eventstore.TransactionView]
	tq, err := parseTransactionQuery(l)
	if err != nil {
		return none, err
	}
	f := tq.filter
	sc := scope("GET /v1/transactions", caller.Sub, caller.IsAdmin(), tq.walletID.String(), tq.mandateID.String(),
		f.Kind, stamp(f.CreatedAfter), stamp(f.CreatedBefore))
	switch {
	case tq.mandateID != uuid.Nil:
		js := eventstore.JournalScope{MandateID: tq.mandateID, WalletID: tq.walletID}
		m, err := eventstore.GetMandate(ctx, q.store.Pool(), tq.mandateID)
		if err != nil {
			return none, err
		}
		if _, err := q.visibleWallet(ctx, caller, m.WalletID); err != nil {
			if !errors.Is(err, eventstore.ErrWalletNotFound) {
				return none, err
			}
			if m.Agent != caller.Sub {
				return none, eventstore.ErrMandateNotFound.Withf("mandate %s does not exist or is not visible to you", tq.mandateID)
			}
			js.Sub = caller.Sub
		}
		return q.journalTransactions(ctx, js, f, l, sc)
	case tq.walletID != uuid.Nil:
		if _, err := q.visibleWallet(ctx, caller, tq.walletID); err != nil {
			return none, err
		}
		return q.walletTransactions(ctx, eventstore.WalletScope{WalletID: tq.walletID}, f, l, sc)
	case caller.IsAdmin():
		return q.journalTransactions(ctx, eventstore.JournalScope{}, f, l, sc)
	default:
		return q.walletTransactions(ctx, eventstore.WalletScope{Owner: caller.Sub}, f, l, sc)
	}
}

func (q *Queries) walletTransactions(ctx context.Context, ws eventstore.WalletScope, f eventstore.TransactionFilter, l listQuery, sc string) (Page[eventstore.TransactionView], error) {
	start, err := q.pageStart(l, sc, position{N: eventstore.FirstSeq})
	if err != nil {
		return Page[eventstore.TransactionView]{}, err
	}
	var page Page[eventstore.TransactionView]
	err = q.store.InSnapshot(ctx, func(db eventstore.Querier) error {
		wp, err := eventstore.ListWalletTransactions(ctx, db, ws, f, start.N, l.limit)
		if err != nil {
			return err
		}
		// The page says itself where the next one starts: below its last item, or below what it could vouch for.
		page, err = q.transactionPage(ctx, db, wp.Refs, len(wp.Refs), nil)
		if err == nil && wp.Next != 0 {
			c := q.cursors.encode(sc, position{N: wp.Next})
			page.HasMore, page.NextCursor = true, &c
		}
		return err
	})
	return page, err
}

func (q *Queries) journalTransactions(ctx context.Context, js eventstore.JournalScope, f eventstore.TransactionFilter, l listQuery, sc string) (Page[eventstore.TransactionView], error) {
	start, err := q.pageStart(l, sc, keyed(eventstore.FirstPage.CreatedAt, eventstore.FirstPage.ID))
	if err != nil {
		return Page[eventstore.TransactionView]{}, err
	}
	var page Page[eventstore.TransactionView]
	err = q.store.InSnapshot(ctx, func(db eventstore.Querier) error {
		refs, err := eventstore.ListJournalTransactions(ctx, db, js, f, eventstore.PageKey{CreatedAt: start.At, ID: start.ID}, l.limit+1)
		if err != nil {
			return err
		}
		page, err = q.transactionPage(ctx, db, refs, l.limit, func(r eventstore.TransactionRef) string {
			return q.cursors.encode(sc, keyed(r.Key.CreatedAt, r.Key.ID))
		})
		return err
	})
	return page, err
}

// transactionPage reads the transactions refs name (up to limit of them) and cuts the page.
func (q *Queries) transactionPage(ctx context.Context, db eventstore.Querier, refs []eventstore.TransactionRef, limit int,
	cursor func(eventstore.TransactionRef) string) (Page[eventstore.TransactionView], error) {
	ids := make([]uuid.UUID, 0, min(len(refs), limit))
	for _, r := range refs[:min(len(refs), limit)] {
		ids = append(ids, r.ID)
	}
	txs, parties, err := eventstore.GetTransactions(ctx, db, ids)
	if err != nil {
		return Page[eventstore.TransactionView]{}, err
	}
	views := make(map[uuid.UUID]eventstore.TransactionView, len(txs))
	for i, t := range txs {
		system := map[uuid.UUID]bool{}
		for j, p := range parties[i] {
			if p.Kind == eventstore.KindSystem {
				system[t.Entries[j].WalletID] = true
			}
		}
		views[t.ID] = eventstore.ViewOf(t, func(w uuid.UUID) bool { return system[w] })
	}
	return newPage(refs, limit, func(r eventstore.TransactionRef) eventstore.TransactionView { return views[r.ID] }, cursor), nil
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.Format(time.RFC3339Nano)
}
