// Command audit runs one full sweep of the ledger (the Kubernetes CronJob) and exits 0 when the ledger is clean,
// 1 when it found any discrepancy, 2 when it could not run. With --incremental it runs one pass of the relay's
// continuous audit instead: what the outbox says changed since the audit's checkpoint (scripts/bench_grown.sh
// times it). The checks are the relay's and the API's
// (projector.Auditor): every wallet's projection against the sum of its journal entries, every transaction's
// entries (at least two, zero sum, one asset), every asset's balances summing to zero, no projection without a
// wallet. It prints a text report, or JSON with --json. With READ_DATABASE_URL (a streaming standby) the full sweep
// reads the standby, and the primary when the standby cannot serve it; the report says which.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/agentic-commerce/wallet-ledger/eventstore"
	"github.com/agentic-commerce/wallet-ledger/internal/config"
	"github.com/agentic-commerce/wallet-ledger/internal/telemetry"
	"github.com/agentic-commerce/wallet-ledger/projector"
)

// Exit codes.
const (
	exitClean       = 0
	exitDiscrepancy = 1
	exitCannotRun   = 2
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	flush := telemetry.Start(ctx, "wallet-audit")
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr, telemetry.SetAuditResult)
	// Flush the audit gauges before the CronJob's pod goes away (os.Exit runs no deferred call).
	flush()
	os.Exit(code)
}

// run is the whole command; observe receives the number of findings and the finish time.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, observe func(int64, time.Time)) int {
	fs := flag.NewFlagSet("audit", flag.ContinueOnError)
	fs.SetOutput(stderr)
	asJSON := fs.Bool("json", false, "print the report as JSON")
	timeout := fs.Duration("timeout", 30*time.Minute, "give up (exit 2) after this long")
	incremental := fs.Bool("incremental", false, "one incremental pass (the relay's continuous audit) instead of the full sweep")
	if err := fs.Parse(args); err != nil {
		return exitCannotRun
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "audit: unexpected arguments %v\n", fs.Args())
		return exitCannotRun
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	report, err := sweep(ctx, slog.New(slog.NewJSONHandler(stderr, nil)), *incremental)
	if err != nil {
		fmt.Fprintln(stderr, "audit: could not run:", err)
		return exitCannotRun
	}
	if observe != nil {
		observe(int64(len(report.Findings)), report.FinishedAt)
	}
	if *asJSON {
		err = json.NewEncoder(stdout).Encode(struct {
			Clean bool `json:"clean"`
			projector.Report
		}{report.Clean(), report})
	} else {
		err = printText(stdout, report)
	}
	if err != nil {
		fmt.Fprintln(stderr, "audit: write report:", err)
		return exitCannotRun
	}
	if !report.Clean() {
		return exitDiscrepancy
	}
	return exitClean
}

func sweep(ctx context.Context, log *slog.Logger, incremental bool) (projector.Report, error) {
	cfg, err := config.Load()
	if err != nil {
		return projector.Report{}, err
	}
	poolCfg, err := eventstore.NewPoolConfig(cfg.DatabaseURL, 2, cfg.StatementTimeout, cfg.LockTimeout)
	if err != nil {
		return projector.Report{}, err
	}
	pool, err := pgxpool.NewWithConfig(ctx, poolCfg)
	if err != nil {
		return projector.Report{}, fmt.Errorf("create pool: %w", err)
	}
	defer pool.Close()
	store, err := eventstore.NewStore(pool)
	if err != nil {
		return projector.Report{}, err
	}
	auditor, err := projector.NewAuditor(store, log)
	if err != nil {
		return projector.Report{}, err
	}
	if incremental {
		return auditor.Incremental(ctx)
	}
	if cfg.ReadDatabaseURL != "" {
		// The sweep reads the standby's snapshot, and the primary's when the standby cannot serve it (the report's
		// source says which). Its pool, like the primary's, does not wait for the server.
		replicaCfg, err := eventstore.NewPoolConfig(cfg.ReadDatabaseURL, 2, cfg.StatementTimeout, cfg.LockTimeout)
		if err != nil {
			return projector.Report{}, fmt.Errorf("READ_DATABASE_URL: %w", err)
		}
		replica, err := pgxpool.NewWithConfig(ctx, replicaCfg)
		if err != nil {
			return projector.Report{}, fmt.Errorf("create read replica pool: %w", err)
		}
		defer replica.Close()
		if auditor.Replica, err = eventstore.NewStore(replica); err != nil {
			return projector.Report{}, err
		}
	}
	return auditor.Full(ctx)
}

func printText(w io.Writer, r projector.Report) error {
	status := "clean"
	if !r.Clean() {
		status = fmt.Sprintf("%d discrepancies", len(r.Findings))
	}
	if _, err := fmt.Fprintf(w, "audit %s: %s\nchecked %d wallets, %d transactions, %d assets, %d events in %dms\n",
		r.Mode, status, r.Wallets, r.Transactions, r.Assets, r.Events, r.DurationMS); err != nil {
		return err
	}
	if r.Source != "" {
		if _, err := fmt.Fprintf(w, "read on the %s\n", r.Source); err != nil {
			return err
		}
	}
	for _, f := range r.Findings {
		var err error
		switch {
		case f.WalletID != nil:
			_, err = fmt.Fprintf(w, "%s wallet=%s asset=%s projected_balance=%d journal_balance=%d projected_held=%d journal_held=%d\n",
				f.Kind, f.WalletID, f.Asset, f.ProjectedBalance, f.JournalBalance, f.ProjectedHeld, f.JournalHeld)
		case f.TransactionID != nil:
			_, err = fmt.Fprintf(w, "%s transaction=%s asset=%s entries=%d sum=%s: %s\n",
				f.Kind, f.TransactionID, f.Asset, f.EntryCount, f.Sum, f.Detail)
		default:
			_, err = fmt.Fprintf(w, "%s asset=%s sum=%s\n", f.Kind, f.Asset, f.Sum)
		}
		if err != nil {
			return err
		}
	}
	return nil
}
