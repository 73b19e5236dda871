// Package devtools finds the development tools the tests run (helm, promtool, node): first in the cache that
// scripts/install_*.sh fill once per machine and share between clones (WALLET_TOOLS_DIR, by default
// $XDG_CACHE_HOME/wallet-ledger/tools or ~/.cache/wallet-ledger/tools), then on PATH.
package devtools

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// Dir is the tools cache: the same directory scripts/tools_dir.sh computes.
func Dir() string {
	if d := os.Getenv("WALLET_TOOLS_DIR"); d != "" {
		return d
	}
	cache := os.Getenv("XDG_CACHE_HOME")
	if cache == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return filepath.Join(os.TempDir(), "wallet-ledger", "tools")
		}
		cache = filepath.Join(home, ".cache")
	}
	return filepath.Join(cache, "wallet-ledger", "tools")
}

// Find returns the path of tool: the cache's bin/ first, then PATH. The error says which script installs it.
func Find(tool string) (string, error) {
	p := filepath.Join(Dir(), "bin", tool)
	if info, err := os.Stat(p); err == nil && !info.IsDir() && info.Mode()&0o111 != 0 {
		return p, nil
	}
	if p, err := exec.LookPath(tool); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("%s is neither in %s nor on PATH: run scripts/install_%s.sh (make test does)",
		tool, filepath.Join(Dir(), "bin"), tool)
}
