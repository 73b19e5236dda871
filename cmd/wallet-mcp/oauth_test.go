package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// An MCP client that reaches wallet-mcp without a token learns from the 401 where the resource's metadata is
// (RFC 9728), and the metadata document says how to send a token and which authorization servers issue them.
func TestUnauthorizedRequestsPointAtTheProtectedResourceMetadata(t *testing.T) {
	l := newLedger(t, "agent-oauth", 1)
	api := httpServer(t, l.base)

	for name, header := range map[string][]string{
		"no token": nil, "not bearer": {"Basic abc"}, "empty bearer": {"Bearer "}, "two tokens": {"Bearer a", "Bearer b"},
		"bearer with spaces": {"Bearer a b"},
	} {
		req, err := http.NewRequest(http.MethodPost, api.URL, strings.NewReader(`{}`))
		require.NoError(t, err)
		req.Header["Authorization"] = header
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusUnauthorized, resp.StatusCode, name)
		assert.Equal(t, `Bearer resource_metadata="`+api.URL+`/.well-known/oauth-protected-resource"`,
			resp.Header.Get("WWW-Authenticate"), name)
	}

	resp, err := http.Get(api.URL + "/.well-known/oauth-protected-resource")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	doc := decodeMetadata(t, resp.Body)
	assert.Equal(t, api.URL, doc["resource"], "the resource is the URL the client used")
	assert.Equal(t, []any{"header"}, doc["bearer_methods_supported"])
	assert.Equal(t, []any{"wallet:read", "wallet:write"}, doc["scopes_supported"])
	assert.NotContains(t, doc, "authorization_servers", "none configured, none claimed")
}

func TestProtectedResourceMetadataComesFromConfiguration(t *testing.T) {
	t.Setenv("MCP_PUBLIC_URL", "https://mcp.example.com/")
	t.Setenv("MCP_AUTHORIZATION_SERVERS", "https://auth.example.com, https://login.example.org/tenant")
	cfg, err := loadResourceConfig()
	require.NoError(t, err)
	srv := httptest.NewServer(httpHandler(&tools{}, cfg))
	defer srv.Close()

	resp, err := http.Get(srv.URL + "/mcp")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	assert.Equal(t, `Bearer resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource"`,
		resp.Header.Get("WWW-Authenticate"))

	resp, err = http.Get(srv.URL + "/.well-known/oauth-protected-resource")
	require.NoError(t, err)
	defer resp.Body.Close()
	doc := decodeMetadata(t, resp.Body)
	assert.Equal(t, "https://mcp.example.com", doc["resource"])
	assert.Equal(t, []any{"https://auth.example.com", "https://login.example.org/tenant"}, doc["authorization_servers"])

	req, err := http.NewRequest(http.MethodPost, srv.URL+"/.well-known/oauth-protected-resource", nil)
	require.NoError(t, err)
	resp, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)

	for name, env := range map[string][2]string{
		"relative public URL": {"MCP_PUBLIC_URL", "mcp.example.com"},
		"ftp server":          {"MCP_AUTHORIZATION_SERVERS", "ftp://auth.example.com"},
		"query in URL":        {"MCP_PUBLIC_URL", "https://mcp.example.com/?x=1"},
	} {
		t.Setenv("MCP_PUBLIC_URL", "")
		t.Setenv("MCP_AUTHORIZATION_SERVERS", "")
		t.Setenv(env[0], env[1])
		_, err := loadResourceConfig()
		assert.Error(t, err, name)
	}
}

func decodeMetadata(t *testing.T, r io.Reader) map[string]any {
	t.Helper()
	var doc map[string]any
	require.NoError(t, json.NewDecoder(r).Decode(&doc))
	return doc
}
