// Command wallet-mcp is a Model Context Protocol server that lets an LLM agent use the wallet-api as tools, over
// stdio (one agent, token from WALLET_TOKEN) or streamable HTTP (each request carries its agent's own bearer
// token). It holds no privileged credential: every call reaches the wallet-api as the agent that made it.
//
//	WALLET_API_URL=http://localhost:8080 WALLET_TOKEN=$(walletctl token --sub agent-1 --scope "wallet:read wallet:write") wallet-mcp
//	WALLET_API_URL=http://localhost:8080 wallet-mcp --http :8090
//
// Over HTTP it is an OAuth protected resource: a 401 points at /.well-known/oauth-protected-resource (RFC 9728),
// which names MCP_PUBLIC_URL (default: the URL the request came to) and MCP_AUTHORIZATION_SERVERS.
package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	mcpauth "github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/agentic-commerce/wallet-ledger/client"
)

const version = "1.0.0"

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	fs := flag.NewFlagSet("wallet-mcp", flag.ContinueOnError)
	httpAddr := fs.String("http", "", "serve streamable HTTP on this address (such as :8090) instead of stdio")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	// stdout is the stdio transport: logs go to stderr only.
	slog.SetDefault(slog.New(slog.NewJSONHandler(os.Stderr, nil)))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()

	base := os.Getenv("WALLET_API_URL")
	if base == "" {
		base = "http://localhost:8080"
	}
	api, err := client.New(base, client.WithHTTPClient(&http.Client{Timeout: 15 * time.Second}))
	if err != nil {
		slog.Error("wallet-mcp cannot start", "error", err)
		return 2
	}
	t := &tools{api: api}
	resource, err := loadResourceConfig()
	if err != nil {
		slog.Error("wallet-mcp cannot start", "error", err)
		return 2
	}
	if *httpAddr == "" {
		t.stdioToken = os.Getenv("WALLET_TOKEN")
		if t.stdioToken == "" {
			slog.Warn("WALLET_TOKEN is not set: every tool call will be refused until it is")
		}
		if err := newServer(t, version).Run(ctx, &mcp.StdioTransport{}); err != nil && !errors.Is(err, context.Canceled) {
			slog.Error("wallet-mcp stopped", "error", err)
			return 1
		}
		return 0
	}
	return serveHTTP(ctx, *httpAddr, httpHandler(t, resource))
}

// httpHandler serves MCP over streamable HTTP, and its protected resource metadata (RFC 9728) at
// /.well-known/oauth-protected-resource without a token. Requests without exactly one bearer token are refused
// with 401 before any session exists, pointing at that document; the token itself is checked by the wallet-api
// on every tool call. A session belongs to the token that opened it (bindToken): a request under another token,
// which could otherwise close or use it by its Mcp-Session-Id, is refused with 403.
func httpHandler(t *tools, resource resourceConfig) http.Handler {
	server := newServer(t, version)
	mcpHandler := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return server }, nil)
	bound := mcpauth.RequireBearerToken(bindToken, &mcpauth.RequireBearerTokenOptions{AllowMissingExpiration: true})(mcpHandler)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == metadataPath {
			resource.serveMetadata(w, r)
			return
		}
		if !bearerFromHeader(r.Header) {
			resource.challenge(w, r)
			return
		}
		bound.ServeHTTP(w, r)
	})
}

// bindToken gives the SDK the identity a session is bound to: a digest of the bearer token. It checks nothing
// else, because wallet-mcp holds no secret to verify tokens with; the wallet-api verifies the token on every
// tool call. Its expiry is the wallet-api's to enforce too, so none is set here.
func bindToken(_ context.Context, token string, _ *http.Request) (*mcpauth.TokenInfo, error) {
	sum := sha256.Sum256([]byte(token))
	return &mcpauth.TokenInfo{UserID: hex.EncodeToString(sum[:])}, nil
}

func serveHTTP(ctx context.Context, addr string, h http.Handler) int {
	srv := &http.Server{Addr: addr, Handler: h, ReadHeaderTimeout: 5 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	slog.Info("wallet-mcp listening", "addr", addr)
	select {
	case err := <-errc:
		slog.Error("wallet-mcp stopped", "error", err)
		return 1
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil {
		fmt.Fprintln(os.Stderr, "wallet-mcp: shutdown:", err)
		return 1
	}
	return 0
}
