// Command walletctl is the operator's CLI: dev tokens, seeding, projection rebuilds, the relay's quarantine and
// outbox retention.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/agentic-commerce/wallet-ledger/internal/auth"
	"github.com/agentic-commerce/wallet-ledger/internal/config"
)

const usage = `usage: walletctl <command> [flags]

commands:
  token   --sub S --scope "wallet:read wallet:write" [--ttl 1h] [--act A]
                                                                 mint a dev token signed with JWT_SECRET; --act: agent A acting for S
  seed    --count N [--base-url URL]                             create and fund N deterministic wallets
  seed    --entries E --count N [--database-url URL]             grow a fresh database to E journal entries over N wallets (SQL)
  projections rebuild --dry-run|--apply                          replay the journal, compare, rewrite differing projections
  relay quarantine list [--json]                                 events the relay set aside after RELAY_MAX_ATTEMPTS failures
  relay quarantine release <event-id>...|--all                   have the relay publish them again (same event ids)
  outbox prune [--older-than 168h] [--batch 1000]                delete relayed outbox rows every consumer is done with
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "token":
		err = runToken(args[1:], stdout)
	case "seed":
		err = runSeed(ctx, args[1:])
	case "projections":
		err = runProjections(ctx, args[1:], stdout)
	case "relay":
		err = runRelay(ctx, args[1:], stdout)
	case "outbox":
		err = runOutbox(ctx, args[1:], stdout)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "walletctl: unknown command %q\n%s", args[0], usage)
		return 2
	}
	if err != nil {
		fmt.Fprintln(stderr, "walletctl:", err)
		return 1
	}
	return 0
}

func runToken(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("token", flag.ContinueOnError)
	sub := fs.String("sub", "", "subject (the caller's identity); required")
	scope := fs.String("scope", auth.ScopeRead+" "+auth.ScopeWrite, "space-separated scopes")
	ttl := fs.Duration("ttl", time.Hour, "lifetime of the token")
	act := fs.String("act", "", "the agent acting on behalf of --sub (RFC 8693 act claim); empty: a plain token")
	if err := fs.Parse(args); err != nil {
		return err
	}
	// Refuse what the API would refuse, rather than print a token that only ever answers 401 or 403.
	if fs.NArg() > 0 {
		return fmt.Errorf("token: unexpected arguments %v", fs.Args())
	}
	if *sub == "" {
		return fmt.Errorf("token: --sub is required")
	}
	if err := auth.ValidSub(*sub); err != nil {
		return fmt.Errorf("token: --sub: %w", err)
	}
	scopes := strings.Fields(*scope)
	if len(scopes) == 0 {
		return fmt.Errorf("token: --scope needs at least one of %s, %s, %s", auth.ScopeRead, auth.ScopeWrite, auth.ScopeAdmin)
	}
	for _, s := range scopes {
		if !auth.Known(s) {
			return fmt.Errorf("token: unknown scope %q (the API knows %s, %s, %s)", s, auth.ScopeRead, auth.ScopeWrite, auth.ScopeAdmin)
		}
	}
	if *ttl <= 0 {
		return fmt.Errorf("token: --ttl must be positive")
	}
	if *act != "" {
		if err := auth.ValidSub(*act); err != nil {
			return fmt.Errorf("token: --act: %w", err)
		}
		if *act == *sub {
			return fmt.Errorf("token: --act must differ from --sub")
		}
	}
	secret := os.Getenv("JWT_SECRET")
	if secret == "" {
		secret = config.DefaultJWTSecret
	}
	audience := os.Getenv("JWT_AUDIENCE")
	if audience == "" {
		audience = config.DefaultJWTAudience
	}
	tok, err := auth.MintActing(secret, audience, *sub, *act, scopes, *ttl)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, tok)
	return nil
}
