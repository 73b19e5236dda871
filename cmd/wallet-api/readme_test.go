package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentic-commerce/wallet-ledger/internal/docblock"
)

var (
	walletctlOnce sync.Once
	walletctlRoot string // a folder holding bin/walletctl, as the repository root does after make build
	walletctlErr  error
)

// docsRoot builds walletctl once per test binary into <dir>/bin, so a documentation block that calls
// bin/walletctl runs from <dir> as it would from the repository root.
func docsRoot(t *testing.T) string {
	t.Helper()
	walletctlOnce.Do(func() {
		walletctlRoot, walletctlErr = os.MkdirTemp("", "wallet-api-docs-")
		if walletctlErr != nil {
			return
		}
		out, err := exec.Command("go", "build", "-o", filepath.Join(walletctlRoot, "bin", "walletctl"), "../walletctl").CombinedOutput()
		if err != nil {
			walletctlErr = err
			walletctlRoot = string(out)
		}
	})
	require.NoError(t, walletctlErr, "go build walletctl: %s", walletctlRoot)
	return walletctlRoot
}

// runDocBlock runs a documentation block with bash as written, except that the server address the documents
// use (http://localhost:8080) becomes the test API's, and returns what it printed on stdout (curl's progress
// meter goes to stderr). for lists the tools the block calls, which must be installed.
func runDocBlock(t *testing.T, block, base string, tools ...string) string {
	t.Helper()
	for _, tool := range append([]string{"bash", "curl"}, tools...) {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is needed to run the documentation's examples", tool)
		}
	}
	cmd := exec.Command("bash", "-euo", "pipefail", "-c", strings.ReplaceAll(block, "http://localhost:8080", base))
	cmd.Dir = docsRoot(t)
	cmd.Env = append(os.Environ(), "JWT_SECRET="+testSecret)
	out, err := cmd.Output()
	require.NoError(t, err, "%s", out)
	return string(out)
}

// The README's quick start is a promise to a newcomer: its curl commands, run as written against a running
// wallet-api, open two wallets, fund one, move money and end on the balances the README shows.
func TestQuickStartWorksAsWritten(t *testing.T) {
	block := docblock.Find(t, "../../README.md", "quick-start")

	a := newIsolatedAPI(t) // the README's fixed wallet IDs must not collide with other tests'

	text := runDocBlock(t, block, a.base)
	lines := strings.Split(strings.TrimSpace(text), "\n")
	require.Len(t, lines, 7, "each of the seven commands prints one JSON line: %s", text)
	assert.Equal(t, 2, strings.Count(text, `"kind":"user"`), "two wallets opened: %s", text)
	assert.Contains(t, lines[2], `"kind":"adjustment"`)
	assert.Contains(t, lines[3], `"kind":"transfer"`)
	// The three lines the README shows at the end.
	assert.Regexp(t, `^\{"wallet_id":"11111111-1111-1111-1111-111111111111","asset":"USD","balance":7500,"available":7500,"held":0,"version":2,`, lines[4])
	assert.Regexp(t, `^\{"wallet_id":"22222222-2222-2222-2222-222222222222","asset":"USD","balance":2500,"available":2500,"held":0,"version":1,`, lines[5])
	assert.Regexp(t, `^\{"wallet_id":"11111111-1111-1111-1111-111111111111","asset":"USD","projected_balance":7500,"journal_balance":7500,"projected_held":0,"journal_held":0,"consistent":true,`, lines[6])
	assert.NotContains(t, text, "urn:wallet-ledger:problem", "no command may fail: %s", text)

	// Run again: every write replays, nothing moves twice.
	again := strings.Split(strings.TrimSpace(runDocBlock(t, block, a.base)), "\n")
	require.Len(t, again, 7)
	assert.Equal(t, lines[:6], again[:6], "the replays answer like the first time and the balances did not move")
	assert.Contains(t, again[6], `"consistent":true`)
}

// docs/api.md's look at the contract the service serves.
func TestOpenAPIPathsBlockWorksAsWritten(t *testing.T) {
	a := newAPI(t)
	text := runDocBlock(t, docblock.Find(t, "../../docs/api.md", "openapi-paths"), a.base, "jq")
	for _, path := range []string{`"/v1/transfers"`, `"/v1/wallets/{id}/balance"`, `"/v1/holds/{id}/capture"`} {
		assert.Contains(t, text, path)
	}
}
