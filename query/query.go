// Package query is the read side: wallets, balances, the per-wallet audit and transactions, served by the GET
// routes. Reads that must see every committed write (balances, mandates, holds) come from the primary, in the same
// consistency as the writes, unless they send a position a read replica has replayed (Min-Position); reads that
// tolerate a bounded delay (history, transactions, audits, lists, the events feed) come from the replica when there
// is one in use (replica.go).
package query

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/mux"

	"github.com/agentic-commerce/wallet-ledger/eventstore"
	"github.com/agentic-commerce/wallet-ledger/internal/auth"
	"github.com/agentic-commerce/wallet-ledger/internal/httpapi"
	"github.com/agentic-commerce/wallet-ledger/internal/replica"
	"github.com/agentic-commerce/wallet-ledger/projector"
)

// Queries serves the reads.
type Queries struct {
	store   *eventstore.Store
	cursors cursors
	// router and standby are set by Route; without a standby every read goes to store.
	standby *eventstore.Store
	router  *replica.Router
}

// New returns the read side. cursorSecret (at least 16 bytes, the same on every replica) signs list cursors.
func New(store *eventstore.Store, cursorSecret []byte) (*Queries, error) {
	if store == nil {
		return nil, errors.New("query: nil store")
	}
	c, err := newCursors(cursorSecret)
	if err != nil {
		return nil, err
	}
	return &Queries{store: store, cursors: c}, nil
}

// BalanceView is the body of GET /v1/wallets/{id}/balance.
type BalanceView struct {
	WalletID  uuid.UUID `json:"wallet_id"`
	Asset     string    `json:"asset"`
	Balance   int64     `json:"balance"`
	Available int64     `json:"available"`
	Held      int64     `json:"held"`
	Version   int64     `json:"version"`
	UpdatedAt time.Time `json:"updated_at"`
}

// AuditView is the body of GET /v1/wallets/{id}/balance/audit.
type AuditView struct {
	WalletID         uuid.UUID `json:"wallet_id"`
	Asset            string    `json:"asset"`
	ProjectedBalance int64     `json:"projected_balance"`
	JournalBalance   int64     `json:"journal_balance"`
	ProjectedHeld    int64     `json:"projected_held"`
	JournalHeld      int64     `json:"journal_held"`
	Consistent       bool      `json:"consistent"`
	EntryCount       int64     `json:"entry_count"`
	CheckedAt        time.Time `json:"checked_at"`
}

// visibleWallet returns the wallet when caller may see it as its owner (or an admin). Another owner's wallet answers
// exactly like a missing one, so its existence is never revealed. An agent acting for the owner (a delegated
// token) is not the owner: it reads what an agent reads (spendableWallet).
func (q *Queries) visibleWallet(ctx context.Context, caller auth.Caller, id uuid.UUID) (eventstore.Wallet, error) {
	w, err := eventstore.GetWallet(ctx, q.store.Pool(), id)
	if err != nil {
		return eventstore.Wallet{}, err
	}
	if !caller.IsAdmin() && (w.Kind != eventstore.KindUser || w.Owner != caller.Sub || caller.Delegated()) {
		return eventstore.Wallet{}, eventstore.ErrWalletNotFound.Withf("wallet %s does not exist or is not visible to you", id)
	}
	return w, nil
}

// Wallet returns a wallet with its balance.
func (q *Queries) Wallet(ctx context.Context, caller auth.Caller, id uuid.UUID) (projector.WalletView, error) {
	w, err := q.spendableWallet(ctx, caller, id)
	if err != nil {
		return projector.WalletView{}, err
	}
	bal, err := projector.GetBalance(ctx, q.store.Pool(), id)
	if err != nil {
		return projector.WalletView{}, err
	}
	return projector.NewWalletView(w, bal), nil
}

// Balance returns a wallet's projected balance, which commits with every write.
func (q *Queries) Balance(ctx context.Context, caller auth.Caller, id uuid.UUID) (BalanceView, error) {
	if _, err := q.spendableWallet(ctx, caller, id); err != nil {
		return BalanceView{}, err
	}
	b, err := projector.GetBalance(ctx, q.store.Pool(), id)
	if err != nil {
		return BalanceView{}, err
	}
	return BalanceView{WalletID: b.WalletID, Asset: b.Asset, Balance: b.Balance, Available: b.Available(),
		Held: b.Held, Version: b.Version, UpdatedAt: b.UpdatedAt}, nil
}

// Audit recomputes a wallet's balance from the journal and compares it with the projection.
func (q *Queries) Audit(ctx context.Context, caller auth.Caller, id uuid.UUID) (AuditView, error) {
	if _, err := q.spendableWallet(ctx, caller, id); err != nil {
		return AuditView{}, err
	}
	a, err := projector.AuditWallet(ctx, q.store, id)
	if err != nil {
		return AuditView{}, err
	}
	return AuditView{WalletID: a.WalletID, Asset: a.Asset, ProjectedBalance: a.ProjectedBalance,
		JournalBalance: a.JournalBalance, ProjectedHeld: a.ProjectedHeld, JournalHeld: a.JournalHeld,
		Consistent: a.Consistent(), EntryCount: a.EntryCount, CheckedAt: a.CheckedAt}, nil
}

// Transaction returns a journal transaction if the caller owns one of its wallets (or is an admin).
func (q *Queries) Transaction(ctx context.Context, caller auth.Caller, id uuid.UUID) (eventstore.TransactionView, error) {
	t, parties, err := eventstore.GetTransaction(ctx, q.store.Pool(), id)
	if err != nil {
		return eventstore.TransactionView{}, err
	}
	// Whoever made a transaction (an agent spending under a mandate; a delegated caller is the sub and the actor
	// together) may see it too; an agent acting for an owner sees no more than what it made.
	visible := caller.IsAdmin() || (t.Sub == caller.Sub && t.Actor == caller.Actor)
	system := map[uuid.UUID]bool{}
	for i, p := range parties {
		if p.Kind == eventstore.KindSystem {
			system[t.Entries[i].WalletID] = true
		} else if p.Owner == caller.Sub && !caller.Delegated() {
			visible = true
		}
	}
	if !visible {
		return eventstore.TransactionView{}, eventstore.ErrTransactionNotFound.Withf("transaction %s does not exist or is not visible to you", id)
	}
	return eventstore.ViewOf(t, func(w uuid.UUID) bool { return system[w] }), nil
}

// Routes registers the GET routes on r behind authentication with wallet:read.
func Routes(r *mux.Router, q *Queries, authn *httpapi.Authenticator) {
	read := authn.Require(auth.ScopeRead)
	fresh, bounded := replica.Fresh, replica.Bounded
	r.Handle("/v1/wallets/{id}", read(serve(q, fresh, (*Queries).Wallet))).Methods(http.MethodGet)
	r.Handle("/v1/wallets/{id}/balance", read(serve(q, fresh, (*Queries).Balance))).Methods(http.MethodGet)
	r.Handle("/v1/wallets/{id}/balance/audit", read(serve(q, bounded, (*Queries).Audit))).Methods(http.MethodGet)
	r.Handle("/v1/transactions/{id}", read(serve(q, bounded, (*Queries).Transaction))).Methods(http.MethodGet)
	r.Handle("/v1/wallets/{id}/transactions", read(serveListOn(q, bounded, (*Queries).History))).Methods(http.MethodGet)
	r.Handle("/v1/holds/{id}", read(serve(q, fresh, (*Queries).Hold))).Methods(http.MethodGet)
	r.Handle("/v1/wallets/{id}/mandates", read(serveListOn(q, fresh, (*Queries).WalletMandates, mandateFilters...))).Methods(http.MethodGet)
	r.Handle("/v1/mandates/{id}", read(http.HandlerFunc(q.serveMandate))).Methods(http.MethodGet)
	// The principal's own views: an agent acting for it (a delegated token) reads only the single resources it may
	// spend from, never the lists, the feed or the webhook endpoints of its principal. The feed may come from a
	// replica (events.go); webhook endpoints and their deliveries, an operator's views, stay on the primary.
	own := func(h http.Handler) http.Handler { return read(principalOnly(h)) }
	webhookRoutes(r, q, own)
	// Lists, cursor-paged in one envelope (lists.go): browsing tolerates a bounded delay, and Min-Position bounds it.
	r.Handle("/v1/wallets", own(serveList(q, bounded, (*Queries).Wallets, walletFilters...))).Methods(http.MethodGet)
	r.Handle("/v1/wallets/{id}/holds", own(serveListOn(q, fresh, (*Queries).WalletHolds, holdFilters...))).Methods(http.MethodGet)
	r.Handle("/v1/transactions", own(serveList(q, bounded, (*Queries).Transactions, transactionFilters...))).Methods(http.MethodGet)
}

// principalOnly refuses a delegated caller (auth.Caller.Actor) with 403 forbidden.
func principalOnly(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if caller, _ := auth.CallerFrom(r.Context()); caller.Delegated() {
			httpapi.WriteProblem(w, r, httpapi.Errorf("forbidden",
				"%s acts on behalf of %s: this view is %s's own; read the single resources you may spend from", caller.Actor, caller.Sub, caller.Sub))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// serve adapts a read by ID to a handler: it parses the {id} path variable and the Min-Position header, runs the
// read on the server the consistency it needs allows, and writes the view or the problem.
func serve[V any](q *Queries, need replica.Consistency, read func(*Queries, context.Context, auth.Caller, uuid.UUID) (V, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		caller, _ := auth.CallerFrom(r.Context())
		id, err := httpapi.ParsePathID(mux.Vars(r)["id"])
		if err != nil {
			httpapi.WriteProblem(w, r, err)
			return
		}
		atLeast, err := minPosition(r)
		if err != nil {
			httpapi.WriteProblem(w, r, err)
			return
		}
		v, err := readFrom(r.Context(), q, need, atLeast, func(on *Queries) (V, error) { return read(on, r.Context(), caller, id) })
		if err != nil {
			httpapi.WriteProblem(w, r, err)
			return
		}
		httpapi.WriteJSON(w, http.StatusOK, v)
	})
}
