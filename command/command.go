// Package command is the write side: one file per use case, each validating its request, authorising the caller
// and deciding what to write, and the group commit that runs the writes of concurrent requests in one database
// transaction under their idempotency keys. It also serves the POST routes.
package command

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"

	"github.com/agentic-commerce/wallet-ledger/eventstore"
	"github.com/agentic-commerce/wallet-ledger/webhook"
)

// maxAmount is the largest amount a request may carry: 2^53-1, the largest integer every JSON client represents
// exactly.
const maxAmount = 1<<53 - 1

// Commands holds the write use cases, the dependencies they share, and the batcher their writes go through.
type Commands struct {
	CreateWallet   *UseCase[CreateWalletRequest, CreateWallet]
	Transfer       *UseCase[TransferRequest, Transfer]
	Adjust         *UseCase[AdjustmentRequest, Adjustment]
	CreateHold     *UseCase[CreateHoldRequest, CreateHold]
	CaptureHold    *UseCase[CaptureHoldRequest, CaptureHold]
	VoidHold       *UseCase[VoidHoldRequest, uuid.UUID]
	GrantMandate   *UseCase[GrantMandateRequest, GrantMandate]
	RevokeMandate  *UseCase[RevokeMandateRequest, uuid.UUID]
	SuspendMandate *UseCase[SuspendMandateRequest, uuid.UUID]
	ResumeMandate  *UseCase[ResumeMandateRequest, uuid.UUID]
	ReplaceMandate *UseCase[GrantMandateRequest, ReplaceMandate]
	Refund         *UseCase[RefundRequest, Refund]
	FreezeWallet   *UseCase[FreezeWalletRequest, FreezeWallet]
	UnfreezeWallet *UseCase[UnfreezeWalletRequest, uuid.UUID]

	CreateWebhookEndpoint  *UseCase[CreateWebhookEndpointRequest, CreateWebhookEndpoint]
	DisableWebhookEndpoint *UseCase[EmptyWebhookRequest, uuid.UUID]
	EnableWebhookEndpoint  *UseCase[EmptyWebhookRequest, uuid.UUID]
	RotateWebhookSecret    *UseCase[EmptyWebhookRequest, uuid.UUID]
	ResendWebhookDelivery  *UseCase[EmptyWebhookRequest, ResendWebhookDelivery]

	routes []registrar

	store          *eventstore.Store
	systemWalletID uuid.UUID
	keyTTL         time.Duration
	now            func() time.Time
	holdMaxTTL     time.Duration // how far ahead a hold may expire; see SetHoldMaxTTL
	batch          BatchConfig
	batcher        *batcher
	webhooks       webhook.Settings // WEBHOOK_SECRET_KEY and the URL policy; see SetWebhooks
	// beforeCommit, when set (tests only), runs between a batch's decisions and its writes.
	beforeCommit func(ctx context.Context)
}

// New returns the write side, its batcher started with DefaultBatchConfig; Close stops it. keyTTL is how long
// idempotency keys are kept (at least 24h).
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
	c := &Commands{
		store: store, systemWalletID: systemWalletID, keyTTL: keyTTL, holdMaxTTL: DefaultHoldMaxTTL,
		// Microseconds: what PostgreSQL stores, so a response built before COMMIT equals a later read.
		now:   func() time.Time { return time.Now().UTC().Truncate(time.Microsecond) },
		batch: DefaultBatchConfig,
	}
	c.defineUseCases()
	c.batcher = newBatcher(c.batch, c.commitBatch)
	return c, nil
}

// SetBatching replaces the group-commit settings (WRITE_BATCH_*). Call it before serving.
func (c *Commands) SetBatching(cfg BatchConfig) error {
	if err := cfg.validate(); err != nil {
		return err
	}
	c.batcher.close()
	c.batch = cfg
	c.batcher = newBatcher(cfg, c.commitBatch)
	return nil
}

// Close stops the batcher once the writes already queued are answered; later writes answer 503.
func (c *Commands) Close() { c.batcher.close() }

// systemWallet returns the system wallet of asset.
func (c *Commands) systemWallet(asset string) uuid.UUID {
	return eventstore.SystemWalletID(c.systemWalletID, asset)
}
