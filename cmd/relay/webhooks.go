package main

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/agentic-commerce/wallet-ledger/relay"
)

// webhookOption adds the webhook fan-out, dispatcher and backlog gauges (issue 19), configured by the WEBHOOK_*
// variables. It refuses to start the relay when endpoints are enabled and WEBHOOK_SECRET_KEY is missing or is not
// the key their secrets were sealed with. When the database cannot be asked, the relay starts anyway, so events
// still flow downstream; the dispatcher then logs every endpoint whose deliveries it cannot sign.
func webhookOption(ctx context.Context, pool *pgxpool.Pool) (relay.Option, error) {
	cfg, err := relay.LoadWebhookConfig(os.Getenv)
	if err != nil {
		return nil, err
	}
	checkCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := relay.CheckWebhookKey(checkCtx, pool, cfg.Settings); err != nil {
		if errors.Is(err, relay.ErrWebhookKeyMissing) || errors.Is(err, relay.ErrWebhookKeyWrong) {
			return nil, err
		}
		slog.Warn("relay could not check its webhook endpoints against WEBHOOK_SECRET_KEY; starting anyway", "error", err)
	}
	if cfg.Settings.Policy.AllowInsecure {
		slog.Warn("WEBHOOK_ALLOW_INSECURE is on: webhooks go to http:// and private addresses; for local development only")
	}
	return relay.WithWebhooks(cfg), nil
}
