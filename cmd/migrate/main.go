// Command migrate applies the embedded schema migrations and exits 0; `migrate status` prints the version.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/agentic-commerce/wallet-ledger/internal/config"
	"github.com/agentic-commerce/wallet-ledger/migrations"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	url := os.Getenv("DATABASE_URL")
	if url == "" {
		url = config.DefaultDatabaseURL
	}
	args := os.Args[1:]
	switch {
	case len(args) == 0 || args[0] == "up":
		if err := migrations.Apply(ctx, url); err != nil {
			fmt.Fprintln(os.Stderr, "migrate:", err)
			os.Exit(1)
		}
		current, expected, err := migrations.Status(ctx, url)
		if err != nil {
			fmt.Fprintln(os.Stderr, "migrate:", err)
			os.Exit(1)
		}
		fmt.Printf("schema at version %d of %d\n", current, expected)
	case args[0] == "status":
		current, expected, err := migrations.Status(ctx, url)
		if err != nil {
			fmt.Fprintln(os.Stderr, "migrate:", err)
			os.Exit(1)
		}
		fmt.Printf("version %d (binary expects %d)\n", current, expected)
		if current != expected {
			os.Exit(3)
		}
	default:
		fmt.Fprintln(os.Stderr, "usage: migrate [up|status]")
		os.Exit(2)
	}
}
