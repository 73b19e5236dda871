// Package command is the write side: one file per use case, each validating its request, authorising the caller
// and moving money inside one database transaction under an idempotency key. It also serves the POST routes.
package command

import (
	"errors"
	"time"

	"github.com/google/uuid"

	"github.com/agentic-commerce/wallet-ledger/eventstore"
	"github.com/agentic-commerce/wallet-ledger/webhook"
)

// maxAmount is the largest amount a request may carry: 2^53-1, the largest integer every JSON client represents
// exactly.
const maxAmount = 1<<53 - 1

// Commands holds the dependencies every use case shares.
type Commands struct {
	store          *eventstore.Store
	systemWalletID uuid.UUID
	keyTTL         time.Duration
	now            func() time.Time
	holdMaxTTL     time.Duration // how far ahead a hold may expire; see SetHoldMaxTTL

	webhooks webhook.Settings // WEBHOOK_SECRET_KEY and the URL policy; see SetWebhooks
}

// New returns the write side. keyTTL is how long idempotency keys are kept (at least 24h).
func New(store *eventstore.Store, systemWalletID uuid.UUID, keyTTL time.Duration) (*Commands, error) {
	if store == nil {
		return nil, errors.New("command: nil store")
	}
	if systemWalletID == uuid.Nil {
		return nil, errors.New("command: nil system wallet id")
	}
	if keyTTL < 24*time.Hour {
		return nil, errors.New("command: idempotency keys must be kept at least 24h")
	}
	return &Commands{
		store: store, systemWalletID: systemWalletID, keyTTL: keyTTL, holdMaxTTL: DefaultHoldMaxTTL,
		// Microseconds: what PostgreSQL stores, so a response built before COMMIT equals a later read.
		now: func() time.Time { return time.Now().UTC().Truncate(time.Microsecond) },
	}, nil
}

// systemWallet returns the system wallet of asset.
func (c *Commands) systemWallet(asset string) uuid.UUID {
	return eventstore.SystemWalletID(c.systemWalletID, asset)
}
