package query

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"

	"github.com/agentic-commerce/wallet-ledger/eventstore"
	"github.com/agentic-commerce/wallet-ledger/internal/auth"
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

// Mandate returns one mandate to the wallet's owner, its agent or an admin.
func (q *Queries) Mandate(ctx context.Context, caller auth.Caller, id uuid.UUID) (eventstore.MandateView, error) {
	m, err := eventstore.GetMandate(ctx, q.store.Pool(), id)
	if err != nil {
		return eventstore.MandateView{}, err
	}
	if m.Agent != caller.Sub {
		if _, err := q.visibleWallet(ctx, caller, m.WalletID); err != nil {
			if errors.Is(err, eventstore.ErrWalletNotFound) {
				return eventstore.MandateView{}, eventstore.ErrMandateNotFound.Withf("mandate %s does not exist or is not visible to you", id)
			}
			return eventstore.MandateView{}, err
		}
	}
	return m.ViewAt(time.Now().UTC()), nil
}

// spendableWallet returns the wallet when caller may read what it holds (the wallet, its balance, its audit):
// what visibleWallet allows, and also an agent with an active mandate on it, which needs to know what it may
// spend. The owner's history stays the owner's (visibleWallet).
func (q *Queries) spendableWallet(ctx context.Context, caller auth.Caller, id uuid.UUID) (eventstore.Wallet, error) {
	w, err := q.visibleWallet(ctx, caller, id)
	if err == nil || !errors.Is(err, eventstore.ErrWalletNotFound) {
		return w, err
	}
	ok, merr := eventstore.AgentHasActiveMandate(ctx, q.store.Pool(), id, caller.Sub, time.Now().UTC())
	if merr != nil {
		return eventstore.Wallet{}, merr
	}
	if !ok {
		return eventstore.Wallet{}, err
	}
	return eventstore.GetWallet(ctx, q.store.Pool(), id)
}
