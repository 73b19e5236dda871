package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentic-commerce/wallet-ledger/internal/pgtest"
	"github.com/agentic-commerce/wallet-ledger/migrations"
)

// The README's quick start is a promise to a newcomer: its curl commands, run as written against a running
// wallet-api, open two wallets, fund one, move money and show a consistent balance. This test runs that bash block
// verbatim, except for the server address, and checks what it printed.
func TestREADMEQuickStartWorksAsWritten(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Fatal("curl is needed to run the README's examples")
	}
	readme, err := os.ReadFile("../../README.md")
	require.NoError(t, err)
	block := quickStartBlock(t, string(readme))

	// Its own database: the README's fixed wallet IDs must not collide with other tests'.
	cfg := testConfig(t)
	cfg.DatabaseURL = pgtest.NewDatabase(t, migrations.Apply)
	a := newAPIWith(t, cfg)
	bin := filepath.Join(t.TempDir(), "bin")
	require.NoError(t, os.MkdirAll(bin, 0o755))
	build := exec.Command("go", "build", "-o", filepath.Join(bin, "walletctl"), "../walletctl")
	build.Stderr = os.Stderr
	require.NoError(t, build.Run())

	script := strings.ReplaceAll(block, "http://localhost:8080", a.base)
	run := func() string {
		cmd := exec.Command("bash", "-euo", "pipefail", "-c", script)
		cmd.Dir = filepath.Dir(bin) // so bin/walletctl resolves as in the repository root
		cmd.Env = append(os.Environ(), "JWT_SECRET="+testSecret)
		out, err := cmd.Output() // stdout only: curl's progress meter goes to stderr
		require.NoError(t, err, "%s", out)
		return string(out)
	}

	text := run()
	assert.Equal(t, 2, strings.Count(text, `"kind":"user"`), "two wallets opened: %s", text)
	assert.Contains(t, text, `"kind":"adjustment"`)
	assert.Contains(t, text, `"kind":"transfer"`)
	assert.Contains(t, text, `"balance":7500`)
	assert.Contains(t, text, `"consistent":true`)
	assert.NotContains(t, text, "urn:wallet-ledger:problem", "no command may fail: %s", text)

	// Run again: every write replays, nothing moves twice.
	again := run()
	assert.Contains(t, again, `"balance":7500`)
	assert.NotContains(t, again, "urn:wallet-ledger:problem", "replays answer like the first time: %s", again)
}

// quickStartBlock returns the README's bash block that exports TOKEN and runs the curl examples.
func quickStartBlock(t *testing.T, readme string) string {
	t.Helper()
	for _, m := range regexp.MustCompile("(?s)```bash\n(.*?)```").FindAllStringSubmatch(readme, -1) {
		if strings.Contains(m[1], "export TOKEN=") && strings.Contains(m[1], "/v1/transfers") {
			return m[1]
		}
	}
	t.Fatal("README has no quick-start block exporting TOKEN and calling /v1/transfers")
	return ""
}
