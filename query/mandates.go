package query

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/mux"

	"github.com/agentic-commerce/wallet-ledger/eventstore"
	"github.com/agentic-commerce/wallet-ledger/internal/auth"
	"github.com/agentic-commerce/wallet-ledger/internal/httpapi"
)

// maxListedMandates bounds GET /v1/wallets/{id}/mandates.
const maxListedMandates = 500

// MandateList is the body of GET /v1/wallets/{id}/mandates.
type MandateList struct {
	WalletID uuid.UUID                `json:"wallet_id"`
	Mandates []eventstore.MandateView `json:"mandates"`
}

// WalletMandates lists the mandates granted on a wallet, newest first, to its owner or an admin.
func (q *Queries) WalletMandates(ctx context.Context, caller auth.Caller, id uuid.UUID) (MandateList, error) {
	if _, err := q.visibleWallet(ctx, caller, id); err != nil {
		return MandateList{}, err
	}
	ms, err := eventstore.ListWalletMandates(ctx, q.store.Pool(), id, maxListedMandates)
	if err != nil {
		return MandateList{}, err
	}
	now := time.Now().UTC()
	out := MandateList{WalletID: id, Mandates: make([]eventstore.MandateView, 0, len(ms))}
	for _, m := range ms {
		out.Mandates = append(out.Mandates, m.ViewAt(now))
	}
	return out, nil
}

// Mandate returns one mandate to the wallet's owner, its agent (acting for itself, or for the wallet's owner with a
// delegated token) or an admin.
func (q *Queries) Mandate(ctx context.Context, caller auth.Caller, id uuid.UUID) (eventstore.MandateView, error) {
	m, err := eventstore.GetMandate(ctx, q.store.Pool(), id)
	if err != nil {
		return eventstore.MandateView{}, err
	}
	if m.Agent != caller.Acting() || caller.Delegated() {
		if _, err := q.agentOrVisibleWallet(ctx, caller, m); err != nil {
			if errors.Is(err, eventstore.ErrWalletNotFound) {
				return eventstore.MandateView{}, eventstore.ErrMandateNotFound.Withf("mandate %s does not exist or is not visible to you", id)
			}
			return eventstore.MandateView{}, err
		}
	}
	return m.ViewAt(time.Now().UTC()), nil
}

// agentOrVisibleWallet returns m's wallet when caller is m's delegated agent acting for the wallet's owner, or may
// see the wallet as its owner or an admin.
func (q *Queries) agentOrVisibleWallet(ctx context.Context, caller auth.Caller, m eventstore.Mandate) (eventstore.Wallet, error) {
	if caller.Delegated() && m.Agent == caller.Actor {
		w, err := eventstore.GetWallet(ctx, q.store.Pool(), m.WalletID)
		if err != nil || w.Owner == caller.Sub {
			return w, err
		}
	}
	return q.visibleWallet(ctx, caller, m.WalletID)
}

// serveMandate serves GET /v1/mandates/{id} with the mandate's version as its strong ETag, which a replacement
// names in If-Match.
func (q *Queries) serveMandate(w http.ResponseWriter, r *http.Request) {
	caller, _ := auth.CallerFrom(r.Context())
	id, err := httpapi.ParsePathID(mux.Vars(r)["id"])
	if err != nil {
		httpapi.WriteProblem(w, r, err)
		return
	}
	m, err := q.Mandate(r.Context(), caller, id)
	if err != nil {
		httpapi.WriteProblem(w, r, err)
		return
	}
	w.Header().Set("ETag", `"`+strconv.FormatInt(m.Version, 10)+`"`)
	httpapi.WriteJSON(w, http.StatusOK, m)
}

// spendableWallet returns the wallet when caller may read what it holds (the wallet, its balance, its audit):
// what visibleWallet allows, and also an agent with an active mandate on it, which needs to know what it may
// spend (a delegated caller: its actor's mandate, on a wallet of its sub). The owner's history stays the owner's
// (visibleWallet).
func (q *Queries) spendableWallet(ctx context.Context, caller auth.Caller, id uuid.UUID) (eventstore.Wallet, error) {
	w, err := q.visibleWallet(ctx, caller, id)
	if err == nil || !errors.Is(err, eventstore.ErrWalletNotFound) {
		return w, err
	}
	ok, merr := eventstore.AgentHasActiveMandate(ctx, q.store.Pool(), id, caller.Acting(), time.Now().UTC())
	if merr != nil {
		return eventstore.Wallet{}, merr
	}
	if !ok {
		return eventstore.Wallet{}, err
	}
	w, werr := eventstore.GetWallet(ctx, q.store.Pool(), id)
	if werr == nil && caller.Delegated() && w.Owner != caller.Sub {
		// An agent acting for alice reads only alice's wallets, whatever mandates its actor holds elsewhere.
		return eventstore.Wallet{}, err
	}
	return w, werr
}
