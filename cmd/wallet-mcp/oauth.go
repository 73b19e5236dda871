package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/oauthex"

	"github.com/agentic-commerce/wallet-ledger/internal/auth"
)

// metadataPath is where wallet-mcp serves its OAuth 2.0 Protected Resource Metadata (RFC 9728): the resource is
// the server's base URL, whose well-known metadata URL is this path on the same origin.
const metadataPath = "/.well-known/oauth-protected-resource"

// resourceConfig describes wallet-mcp as an OAuth protected resource, so MCP clients can discover where to get
// a token (the MCP authorization specification follows RFC 9728).
type resourceConfig struct {
	// PublicURL is the base URL clients reach wallet-mcp at (MCP_PUBLIC_URL), such as https://mcp.example.com.
	// Empty: each request's own scheme and Host, which is right unless a proxy in front changes them.
	PublicURL string
	// AuthorizationServers are the issuers of wallet-api tokens (MCP_AUTHORIZATION_SERVERS, comma-separated
	// URLs): OAuth authorization servers whose RFC 8414 metadata MCP clients read. None configured: the document
	// names none, and clients must be given a token some other way (walletctl token).
	AuthorizationServers []string
}

// loadResourceConfig reads MCP_PUBLIC_URL and MCP_AUTHORIZATION_SERVERS; a malformed URL is an error.
func loadResourceConfig() (resourceConfig, error) {
	var c resourceConfig
	if v := strings.TrimSpace(os.Getenv("MCP_PUBLIC_URL")); v != "" {
		if err := checkURL("MCP_PUBLIC_URL", v); err != nil {
			return c, err
		}
		c.PublicURL = strings.TrimRight(v, "/")
	}
	for _, v := range strings.Split(os.Getenv("MCP_AUTHORIZATION_SERVERS"), ",") {
		if v = strings.TrimSpace(v); v == "" {
			continue
		}
		if err := checkURL("MCP_AUTHORIZATION_SERVERS", v); err != nil {
			return c, err
		}
		c.AuthorizationServers = append(c.AuthorizationServers, v)
	}
	return c, nil
}

func checkURL(name, v string) error {
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("%s: %q is not an http(s) URL without query or fragment", name, v)
	}
	return nil
}

// base is the resource identifier of wallet-mcp as r reached it.
func (c resourceConfig) base(r *http.Request) string {
	if c.PublicURL != "" {
		return c.PublicURL
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// metadataURL is what a 401's WWW-Authenticate points MCP clients at.
func (c resourceConfig) metadataURL(r *http.Request) string { return c.base(r) + metadataPath }

// challenge answers a request without a usable bearer token: 401 with the RFC 9728 resource_metadata parameter,
// from which an MCP client starts its authorization discovery.
func (c resourceConfig) challenge(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer resource_metadata=%q`, c.metadataURL(r)))
	http.Error(w, "send your wallet-api token, once: Authorization: Bearer <token>", http.StatusUnauthorized)
}

// serveMetadata serves the protected resource metadata document. It is public, like any discovery document.
func (c resourceConfig) serveMetadata(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	doc := oauthex.ProtectedResourceMetadata{
		Resource:               c.base(r),
		AuthorizationServers:   c.AuthorizationServers,
		BearerMethodsSupported: []string{"header"},
		ScopesSupported:        []string{auth.ScopeRead, auth.ScopeWrite},
		ResourceName:           "Wallet ledger (MCP)",
	}
	body, err := json.Marshal(doc)
	if err != nil {
		http.Error(w, "metadata unavailable", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=300")
	w.Header().Set("Access-Control-Allow-Origin", "*") // browser-based MCP clients discover it too
	_, _ = w.Write(body)
}
