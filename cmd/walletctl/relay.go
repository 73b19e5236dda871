package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/agentic-commerce/wallet-ledger/eventstore"
	"github.com/agentic-commerce/wallet-ledger/internal/config"
	"github.com/agentic-commerce/wallet-ledger/relay"
)

const relayUsage = "usage: walletctl relay quarantine list [--json] | walletctl relay quarantine release <event-id>...|--all"

// maxEventID is the width of relay_quarantine.event_id (the outbox uuid column).
const maxEventID = 36

// openPool connects to DATABASE_URL with the same statement and lock timeouts as the services; an operator
// command needs few connections.
func openPool(ctx context.Context) (*pgxpool.Pool, error) {
	cfg, err := config.Load()
	if err != nil {
		return nil, err
	}
	poolCfg, err := eventstore.NewPoolConfig(cfg.DatabaseURL, 2, cfg.StatementTimeout, cfg.LockTimeout)
	if err != nil {
		return nil, err
	}
	pool, err := pgxpool.NewWithConfig(ctx, poolCfg)
	if err != nil {
		return nil, fmt.Errorf("create pool: %w", err)
	}
	return pool, nil
}

// parseInterspersed parses fs's flags wherever they stand among the arguments (flag stops at the first
// positional one) and returns the positional ones.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var rest []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return rest, nil
		}
		rest = append(rest, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// runRelay implements `walletctl relay quarantine list|release`.
func runRelay(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) < 2 || args[0] != "quarantine" {
		return errors.New(relayUsage)
	}
	switch args[1] {
	case "list":
		return runQuarantineList(ctx, args[2:], stdout)
	case "release":
		return runQuarantineRelease(ctx, args[2:], stdout)
	default:
		return errors.New(relayUsage)
	}
}

func runQuarantineList(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("relay quarantine list", flag.ContinueOnError)
	asJSON := fs.Bool("json", false, "print a JSON array instead of a table")
	rest, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return errors.New(relayUsage)
	}
	pool, err := openPool(ctx)
	if err != nil {
		return err
	}
	defer pool.Close()
	events, err := relay.ListQuarantined(ctx, pool)
	if err != nil {
		return err
	}
	if *asJSON {
		if events == nil {
			events = []relay.QuarantinedEvent{}
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(events)
	}
	if len(events) == 0 {
		fmt.Fprintln(stdout, "no quarantined events")
		return nil
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "EVENT ID\tTYPE\tATTEMPTS\tQUARANTINED AT\tLAST ERROR")
	for _, e := range events {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\n", e.EventID, e.EventType, e.Attempts,
			e.QuarantinedAt.UTC().Format(time.RFC3339), oneLine(e.LastError, 120))
	}
	return tw.Flush()
}

// oneLine keeps a table row on one line: newlines and tabs become spaces, and the text is cut at n runes
// (--json prints it whole).
func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

func runQuarantineRelease(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("relay quarantine release", flag.ContinueOnError)
	all := fs.Bool("all", false, "release every quarantined event")
	ids, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if *all == (len(ids) > 0) {
		return errors.New("relay quarantine release: give event ids or --all, not both or neither")
	}
	for _, id := range ids {
		if id == "" || len(id) > maxEventID || strings.TrimSpace(id) != id {
			return fmt.Errorf("relay quarantine release: %q is not an event id", id)
		}
	}
	pool, err := openPool(ctx)
	if err != nil {
		return err
	}
	defer pool.Close()
	var released []string
	if *all {
		released, err = relay.ReleaseAllQuarantined(ctx, pool)
	} else {
		released, err = relay.ReleaseQuarantined(ctx, pool, ids)
	}
	if err != nil {
		if errors.Is(err, relay.ErrNotQuarantined) {
			return fmt.Errorf("%w; nothing was released", err)
		}
		return err
	}
	if len(released) == 0 {
		fmt.Fprintln(stdout, "no quarantined events to release")
		return nil
	}
	fmt.Fprintf(stdout, "released %d events; the active relay publishes them again with the same event ids:\n", len(released))
	for _, id := range released {
		fmt.Fprintln(stdout, " ", id)
	}
	return nil
}

// runOutbox implements `walletctl outbox prune [--older-than 168h] [--batch 1000]`, the same prune the active
// relay runs every OUTBOX_PRUNE_INTERVAL.
func runOutbox(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) == 0 || args[0] != "prune" {
		return errors.New("usage: walletctl outbox prune [--older-than 168h] [--batch 1000]")
	}
	fs := flag.NewFlagSet("outbox prune", flag.ContinueOnError)
	olderThan := fs.Duration("older-than", relay.DefaultOutboxRetention, "prune relayed rows written longer ago than this")
	batch := fs.Int("batch", relay.DefaultPruneBatch, "rows per delete statement")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("outbox prune: unexpected argument %q", fs.Arg(0))
	}
	if *olderThan <= 0 {
		return errors.New("outbox prune: --older-than must be a positive duration such as 168h")
	}
	if *batch < 1 || *batch > 100_000 {
		return errors.New("outbox prune: --batch must be between 1 and 100000")
	}
	pool, err := openPool(ctx)
	if err != nil {
		return err
	}
	defer pool.Close()
	res, err := relay.PruneOutbox(ctx, pool, relay.PruneOptions{OlderThan: *olderThan, BatchSize: *batch})
	if err != nil {
		return err
	}
	if res.Floor == 0 {
		fmt.Fprintln(stdout, "the relay has acked no event yet; nothing pruned")
		return nil
	}
	fmt.Fprintf(stdout, "pruned %d outbox rows relayed up to offset %d and older than %s\n", res.Deleted, res.Floor, *olderThan)
	return nil
}
