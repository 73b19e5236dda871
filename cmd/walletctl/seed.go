package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/agentic-commerce/wallet-ledger/client"
	"github.com/agentic-commerce/wallet-ledger/load"
)

// runSeed implements `walletctl seed --count 3000 [--base-url URL]`: it
// creates wallets load.WalletID(0..count-1) owned by the load generator's
// subject and funds each once, through the API with the client package, so
// the same command seeds a local stack or a cluster. Every request carries a
// key derived from the wallet, so a re-run changes nothing; a refusal is
// reported with its problem code.
func runSeed(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("seed", flag.ContinueOnError)
	count := fs.Int("count", 3000, "number of wallets")
	baseURL := fs.String("base-url", envOr("BASE_URL", "http://127.0.0.1:8080"), "wallet API base URL")
	asset := fs.String("asset", "USD", "asset of the seeded wallets")
	balance := fs.Int64("initial-balance", 10_000_000, "funding of each wallet, in minor units")
	concurrency := fs.Int("concurrency", 16, "requests in flight")
	g := growFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("seed: unexpected arguments %v", fs.Args())
	}
	if *count <= 0 || *count > 1_000_000 {
		return errors.New("seed: --count must be within 1..1000000")
	}
	if *g.entries > 0 {
		return runGrow(ctx, g, *count, *asset, *balance)
	}
	secret := envOr("JWT_SECRET", "dev-secret-change-me")
	res, err := load.Seed(ctx, load.SeedConfig{
		BaseURL: *baseURL, Count: *count, Asset: *asset, InitialBalance: *balance, Concurrency: *concurrency,
		Tokens: load.TokenConfig{Secret: secret, Audience: envOr("JWT_AUDIENCE", "agentic-commerce")},
	})
	fmt.Fprintf(os.Stdout, "seed: %d wallets at %s: %d created, %d already there, %d funded, %d funding replayed (%s)\n",
		*count, *baseURL, res.Created, res.Existing, res.Funded, res.Replayed, res.Elapsed.Round(time.Millisecond))
	if client.IsCode(err, client.CodeUnauthorized) {
		return fmt.Errorf("seed: %w (do JWT_SECRET and JWT_AUDIENCE match the API's?)", err)
	}
	if err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	return nil
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
