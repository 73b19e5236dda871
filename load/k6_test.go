package load

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentic-commerce/wallet-ledger/internal/devtools"
)

// k6Tree lays load/k6 out in a temp dir as the scripts expect to find it, with .mjs names (Node 20 parses a .js
// file without "type": "module" as CommonJS and would reject the imports): <dir>/k6/*.mjs, <dir>/data/scenarios.json
// (scenarios, or the shipped file when nil) and <dir>/k6shim, the stand-ins for the k6 modules in testdata, which
// the scripts' k6 imports are pointed at. It returns <dir>/k6.
func k6Tree(t *testing.T, scenarios []byte) string {
	t.Helper()
	nodeBinary(t)
	root := t.TempDir()
	if scenarios == nil {
		var err error
		scenarios, err = os.ReadFile("data/scenarios.json")
		require.NoError(t, err)
	}
	k6Module := regexp.MustCompile(`from 'k6/(\w+)'`)
	for _, d := range []struct{ from, to string }{{"k6", "k6"}, {"testdata/k6shim", "k6shim"}} {
		require.NoError(t, os.MkdirAll(filepath.Join(root, d.to), 0o755))
		entries, err := os.ReadDir(d.from)
		require.NoError(t, err)
		for _, e := range entries {
			b, err := os.ReadFile(filepath.Join(d.from, e.Name()))
			require.NoError(t, err)
			name, src := e.Name(), string(b)
			if d.to == "k6" {
				name = strings.TrimSuffix(name, ".js") + ".mjs"
				src = strings.ReplaceAll(src, ".js'", ".mjs'")
				src = k6Module.ReplaceAllString(src, "from '../k6shim/$1.mjs'")
				src = strings.ReplaceAll(src, "from 'k6'", "from '../k6shim/k6.mjs'")
			}
			require.NoError(t, os.WriteFile(filepath.Join(root, d.to, name), []byte(src), 0o644))
		}
	}
	require.NoError(t, os.MkdirAll(filepath.Join(root, "data"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(root, "data", "scenarios.json"), scenarios, 0o644))
	return filepath.Join(root, "k6")
}

func TestK6ScriptsParse(t *testing.T) {
	dir := k6Tree(t, nil)
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(entries), 5)
	for _, e := range entries {
		out, err := exec.Command(nodeBinary(t), "--check", filepath.Join(dir, e.Name())).CombinedOutput()
		assert.NoError(t, err, "node --check %s: %s", e.Name(), out)
	}
	// And a broken script must fail the same check, or the check proves nothing.
	bad := filepath.Join(dir, "broken.mjs")
	require.NoError(t, os.WriteFile(bad, []byte("export default function ( {\n"), 0o644))
	assert.Error(t, exec.Command(nodeBinary(t), "--check", bad).Run())
}

// TestK6WalletIDsMatchGo runs ids.js under Node with node:crypto and
// compares its wallet IDs with the Go derivation the seeder uses.
func TestK6WalletIDsMatchGo(t *testing.T) {
	dir := k6Tree(t, nil)
	script := `import { createHash } from 'node:crypto';
import { walletID, WALLET_NAMESPACE } from '` + filepath.ToSlash(filepath.Join(dir, "ids.mjs")) + `';
const sha1 = (buf) => createHash('sha1').update(Buffer.from(buf)).digest('hex');
console.log([WALLET_NAMESPACE, ...[0, 1, 42, 2999].map((i) => walletID(sha1, i))].join(' '));`
	cmd := exec.Command(nodeBinary(t), "--input-type=module", "-")
	cmd.Stdin = strings.NewReader(script)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	want := []string{walletNamespace.String()}
	for _, i := range []int{0, 1, 42, 2999} {
		want = append(want, WalletID(i).String())
	}
	assert.Equal(t, strings.Join(want, " "), strings.TrimSpace(string(out)), "indexes 0 1 42 2999 ("+strconv.Itoa(len(want))+" ids)")
}

// nodeBinary finds node (the tools cache, then PATH); the k6 scripts are checked and run with it.
func nodeBinary(t *testing.T) string {
	t.Helper()
	p, err := devtools.Find("node")
	if err != nil {
		t.Fatalf("node is required to check the k6 scripts: %v", err)
	}
	return p
}
