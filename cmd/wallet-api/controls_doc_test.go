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

	"github.com/agentic-commerce/wallet-ledger/internal/docblock"
	"github.com/agentic-commerce/wallet-ledger/internal/pgtest"
	"github.com/agentic-commerce/wallet-ledger/migrations"
)

// docs/agents-controls.md's end-to-end block (a delegated agent spends, cannot widen its rights, the owner
// replaces the mandate, the agent suspends it and freezes the wallet, the owner restarts both) is run as written,
// except for the server address, and what it printed is checked.
func TestControlsDocWorksAsWritten(t *testing.T) {
	for _, tool := range []string{"curl", "jq"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is needed to run the controls document's example", tool)
		}
	}
	block := docblock.Find(t, "../../docs/agents-controls.md", "controls-end-to-end")
	require.Contains(t, block, "/freeze", "the end-to-end block pulls the kill switch")

	// Its own database: the document's fixed wallet IDs must not collide with other tests'.
	cfg := testConfig(t)
	cfg.DatabaseURL = pgtest.NewDatabase(t, migrations.Apply)
	a := newAPIWith(t, cfg)
	bin := filepath.Join(t.TempDir(), "bin")
	require.NoError(t, os.MkdirAll(bin, 0o755))
	build := exec.Command("go", "build", "-o", filepath.Join(bin, "walletctl"), "../walletctl")
	build.Stderr = os.Stderr
	require.NoError(t, build.Run())
	cmd := exec.Command("bash", "-euo", "pipefail", "-c", strings.ReplaceAll(block, "http://localhost:8080", a.base))
	cmd.Dir = filepath.Dir(bin)
	cmd.Env = append(os.Environ(), "JWT_SECRET="+testSecret)
	out, err := cmd.Output()
	require.NoError(t, err, "%s", out)
	text := string(out)

	var codes []string
	for _, p := range regexp.MustCompile(`"code":"([a-z_]+)"`).FindAllStringSubmatch(text, -1) {
		codes = append(codes, p[1])
	}
	assert.Equal(t, []string{"forbidden", "mandate_inactive", "wallet_frozen", "mandate_limit_exceeded"}, codes,
		"the only refusals are the ones the document shows: %s", text)
	assert.Contains(t, text, `"sub":"alice","actor":"shopping-agent"`)
	assert.Regexp(t, `"spent_in_period":1500,"remaining":3500`, text, "the replacement carried the spend")
	assert.Regexp(t, `"transactions_in_period":1,"transactions_remaining":2`, text, "and the count")
	assert.Contains(t, text, `"status":"frozen"`)
	lines := strings.Split(strings.TrimSpace(text), "\n")
	assert.Contains(t, lines[len(lines)-2], `"balance":5500`, "alice's balance at the end")
	assert.Contains(t, lines[len(lines)-1], `"consistent":true`)
}
