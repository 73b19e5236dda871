package load

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// k6Copy copies load/k6 into a temp dir with .mjs names: Node 20 parses a
// .js file without "type": "module" as CommonJS and would reject the
// imports, and --check does not resolve them, so a renamed copy is enough.
func k6Copy(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("node"); err != nil {
		t.Fatalf("node is required to check the k6 scripts (scripts/test.sh installs it): %v", err)
	}
	dir := t.TempDir()
	entries, err := os.ReadDir("k6")
	require.NoError(t, err)
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join("k6", e.Name()))
		require.NoError(t, err)
		src := strings.ReplaceAll(string(b), ".js'", ".mjs'")
		require.NoError(t, os.WriteFile(filepath.Join(dir, strings.TrimSuffix(e.Name(), ".js")+".mjs"), []byte(src), 0o644))
	}
	return dir
}

func TestK6ScriptsParse(t *testing.T) {
	dir := k6Copy(t)
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(entries), 5)
	for _, e := range entries {
		out, err := exec.Command("node", "--check", filepath.Join(dir, e.Name())).CombinedOutput()
		assert.NoError(t, err, "node --check %s: %s", e.Name(), out)
	}
	// And a broken script must fail the same check, or the check proves nothing.
	bad := filepath.Join(dir, "broken.mjs")
	require.NoError(t, os.WriteFile(bad, []byte("export default function ( {\n"), 0o644))
	assert.Error(t, exec.Command("node", "--check", bad).Run())
}

// TestK6WalletIDsMatchGo runs ids.js under Node with node:crypto and
// compares its wallet IDs with the Go derivation the seeder uses.
func TestK6WalletIDsMatchGo(t *testing.T) {
	dir := k6Copy(t)
	script := `import { createHash } from 'node:crypto';
import { walletID, WALLET_NAMESPACE } from '` + filepath.ToSlash(filepath.Join(dir, "ids.mjs")) + `';
const sha1 = (buf) => createHash('sha1').update(Buffer.from(buf)).digest('hex');
console.log([WALLET_NAMESPACE, ...[0, 1, 42, 2999].map((i) => walletID(sha1, i))].join(' '));`
	cmd := exec.Command("node", "--input-type=module", "-")
	cmd.Stdin = strings.NewReader(script)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	want := []string{walletNamespace.String()}
	for _, i := range []int{0, 1, 42, 2999} {
		want = append(want, WalletID(i).String())
	}
	assert.Equal(t, strings.Join(want, " "), strings.TrimSpace(string(out)), "indexes 0 1 42 2999 ("+strconv.Itoa(len(want))+" ids)")
}
