package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/agentic-commerce/wallet-ledger/eventstore"
	"github.com/agentic-commerce/wallet-ledger/internal/config"
	"github.com/agentic-commerce/wallet-ledger/projector"
)

// errDiffers makes a dry run that found differences exit non-zero, like diff(1).
var errDiffers = errors.New("projections differ from the journal; run with --apply to rewrite them")

// runProjections implements `walletctl projections rebuild --dry-run|--apply`. Both replay the whole journal in
// one snapshot and compare every projection with it; --apply then rewrites the differing ones under the writers'
// own row locks, recomputed from the journal under those locks, so it is safe while the API is taking writes.
func runProjections(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) == 0 || args[0] != "rebuild" {
		return errors.New("usage: walletctl projections rebuild --dry-run|--apply")
	}
	fs := flag.NewFlagSet("projections rebuild", flag.ContinueOnError)
	dryRun := fs.Bool("dry-run", false, "compare only; exit 1 when a projection differs")
	apply := fs.Bool("apply", false, "rewrite the projections that differ")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if *dryRun == *apply || fs.NArg() > 0 {
		return errors.New("projections rebuild: give exactly one of --dry-run or --apply")
	}
	cfg, err := config.Load()
	if err != nil {
		return err
	}
	poolCfg, err := eventstore.NewPoolConfig(cfg.DatabaseURL, 2, cfg.StatementTimeout, cfg.LockTimeout)
	if err != nil {
		return err
	}
	pool, err := pgxpool.NewWithConfig(ctx, poolCfg)
	if err != nil {
		return fmt.Errorf("create pool: %w", err)
	}
	defer pool.Close()
	store, err := eventstore.NewStore(pool)
	if err != nil {
		return err
	}
	plan, err := projector.PlanRebuild(ctx, store)
	if err != nil {
		return err
	}
	printPlan(stdout, plan)
	if *dryRun {
		if len(plan.Diffs) > 0 {
			return errDiffers
		}
		return nil
	}
	changed, err := projector.ApplyRebuild(ctx, store, plan)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "rewrote %d projections\n", changed)
	after, err := projector.PlanRebuild(ctx, store)
	if err != nil {
		return fmt.Errorf("verify rebuild: %w", err)
	}
	if len(after.Diffs) > 0 {
		printPlan(stdout, after)
		return fmt.Errorf("after the rebuild %d projections still differ", len(after.Diffs))
	}
	fmt.Fprintln(stdout, "every projection equals the journal")
	return nil
}

func printPlan(w io.Writer, plan projector.RebuildPlan) {
	fmt.Fprintf(w, "replayed %d transactions over %d wallets: %d projections differ\n",
		plan.Transactions, plan.Wallets, len(plan.Diffs))
	for _, d := range plan.Diffs {
		if d.Missing {
			fmt.Fprintf(w, "  %s %s missing; journal balance=%d held=%d version=%d\n", d.WalletID, d.Asset,
				d.Replayed.Balance, d.Replayed.Held, d.Replayed.Version)
			continue
		}
		fmt.Fprintf(w, "  %s %s projection balance=%d held=%d version=%d; journal balance=%d held=%d version=%d\n",
			d.WalletID, d.Asset, d.Current.Balance, d.Current.Held, d.Current.Version,
			d.Replayed.Balance, d.Replayed.Held, d.Replayed.Version)
	}
}
