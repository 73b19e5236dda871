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
	"github.com/agentic-commerce/wallet-ledger/internal/replica"
)

// mandateFilters are the filters of GET /v1/wallets/{id}/mandates.
var mandateFilters = []string{"status", "agent"}

// MandateList is the body of GET /v1/wallets/{id}/mandates: the list envelope, and for one release the fields
// of the unpaged list it replaced (wallet_id, and mandates, a copy of data).
type MandateList struct {
	Page[eventstore.MandateView]
	WalletID uuid.UUID `json:"wallet_id"`
	// Deprecated: Mandates repeats Data for clients of the unpaged list; it goes in the next release.
	Mandates []eventstore.MandateView `json:"mandates"`
}

// WalletMandates lists the mandates granted on a wallet, newest first (filter status as a reader sees it now,
// agent). The wallet's owner and admins see all of them; an agent sees its own, as the mandate read shows it,
// whether or not they are still active; to anybody else the wallet does not exist.
func (q *Queries) WalletMandates(ctx context.Context, caller auth.Caller, id uuid.UUID, l listQuery) (MandateList, error) {
	now := time.Now().UTC()
	f := eventstore.MandateFilter{WalletID: id, Agent: l.get("agent"), Status: l.get("status"), Now: now}
	if err := enumFilter("status", f.Status, eventstore.MandateActive, eventstore.MandateSuspended, eventstore.MandateRevoked,
		eventstore.MandateExpired, eventstore.MandateConsumed); err != nil {
		return MandateList{}, err
	}
	if err := textFilter("agent", f.Agent); err != nil {
		return MandateList{}, err
	}
	if _, err := q.visibleWallet(ctx, caller, id); err != nil {
		if !errors.Is(err, eventstore.ErrWalletNotFound) || (f.Agent != "" && f.Agent != caller.Sub) {
			return MandateList{}, err
		}
		has, merr := eventstore.AgentHasMandates(ctx, q.store.Pool(), id, caller.Sub)
		if merr != nil {
			return MandateList{}, merr
		}
		if !has {
			return MandateList{}, err
		}
		f.Agent = caller.Sub
	}
	sc := scope("GET /v1/wallets/{id}/mandates", caller.Sub, caller.IsAdmin(), id.String(), f.Agent, f.Status)
	start, err := q.pageStart(l, sc, keyed(eventstore.FirstPage.CreatedAt, eventstore.FirstPage.ID))
	if err != nil {
		return MandateList{}, err
	}
	ms, err := eventstore.ListMandates(ctx, q.store.Pool(), f, eventstore.PageKey{CreatedAt: start.At, ID: start.ID}, l.limit+1)
	if err != nil {
		return MandateList{}, err
	}
	page := newPage(ms, l.limit, func(m eventstore.Mandate) eventstore.MandateView { return m.ViewAt(now) },
		func(m eventstore.Mandate) string { return q.cursors.encode(sc, keyed(m.CreatedAt, m.ID)) })
	return MandateList{Page: page, WalletID: id, Mandates: page.Data}, nil
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
	atLeast, err := minPosition(r)
	if err != nil {
		httpapi.WriteProblem(w, r, err)
		return
	}
	m, err := readFrom(r.Context(), q, replica.Fresh, atLeast, func(on *Queries) (eventstore.MandateView, error) {
		return on.Mandate(r.Context(), caller, id)
	})
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
