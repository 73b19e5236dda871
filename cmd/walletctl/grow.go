package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/agentic-commerce/wallet-ledger/internal/config"
	"github.com/agentic-commerce/wallet-ledger/load"
)

// growOptions are seed's flags for growing a database with SQL instead of seeding it through the API.
type growOptions struct {
	entries, holds, mandates, recent, busyEvery *int
	databaseURL                                 *string
}

func growFlags(fs *flag.FlagSet) growOptions {
	return growOptions{
		entries: fs.Int("entries", 0, "grow a fresh database to this many journal entries with set-based SQL "+
			"(needs --database-url and a superuser); 0 seeds through the API"),
		holds:       fs.Int("holds", 5000, "with --entries: active holds"),
		mandates:    fs.Int("mandates", 2000, "with --entries: active mandates"),
		recent:      fs.Int("recent", 100_000, "with --entries: latest transfers that also leave an outbox event and an idempotency key"),
		busyEvery:   fs.Int("busy-every", 100, "with --entries: every N-th transfer pays wallet 0, the busy one"),
		databaseURL: fs.String("database-url", envOr("DATABASE_URL", config.DefaultDatabaseURL), "with --entries: the database to grow"),
	}
}

// runGrow implements `walletctl seed --entries E --count N`: it grows the fresh, migrated database at
// --database-url to E journal entries over wallets load.WalletID(0..N-1), owned by the load generator's subject
// (load.Grow), so the load profiles then run against a ledger months old. A second run finds it grown and changes
// nothing. Verify the result with bin/audit (and walletctl projections rebuild --dry-run).
func runGrow(ctx context.Context, o growOptions, wallets int, asset string, balance int64) error {
	cfg := load.GrowConfig{
		Entries: *o.entries, Wallets: wallets, Asset: asset, InitialBalance: balance, Holds: *o.holds,
		Mandates: *o.mandates, Recent: *o.recent, BusyEvery: *o.busyEvery,
		Log: func(step string, took time.Duration) {
			fmt.Fprintf(os.Stdout, "seed: %-32s %s\n", step, took.Round(time.Millisecond))
		},
	}
	if v := os.Getenv("SYSTEM_WALLET_ID"); v != "" {
		root, err := uuid.Parse(v)
		if err != nil {
			return fmt.Errorf("seed: SYSTEM_WALLET_ID: %w", err)
		}
		cfg.SystemWalletRoot = root
	}
	conn, err := pgx.Connect(ctx, *o.databaseURL)
	if err != nil {
		return fmt.Errorf("seed: connect: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	res, err := load.Grow(ctx, conn, cfg)
	if err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	if res.AlreadyGrown {
		fmt.Fprintf(os.Stdout, "seed: already grown: %d wallets, %d transactions, %d entries; nothing written\n",
			res.Wallets, res.Transactions, res.Entries)
		return nil
	}
	fmt.Fprintf(os.Stdout, "seed: grew %d wallets, %d transactions, %d entries in %s\n",
		res.Wallets, res.Transactions, res.Entries, res.Elapsed.Round(time.Millisecond))
	return nil
}
