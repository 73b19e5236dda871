package devtools

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDirFollowsTheScripts(t *testing.T) {
	t.Setenv("WALLET_TOOLS_DIR", "/opt/tools")
	assert.Equal(t, "/opt/tools", Dir())
	t.Setenv("WALLET_TOOLS_DIR", "")
	t.Setenv("XDG_CACHE_HOME", "/var/cache/me")
	assert.Equal(t, "/var/cache/me/wallet-ledger/tools", Dir())
	t.Setenv("XDG_CACHE_HOME", "")
	t.Setenv("HOME", "/home/me")
	assert.Equal(t, "/home/me/.cache/wallet-ledger/tools", Dir())
}

func TestFindPrefersTheCacheOverPATH(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("WALLET_TOOLS_DIR", dir)
	pathDir := t.TempDir()
	t.Setenv("PATH", pathDir)
	for _, d := range []string{filepath.Join(dir, "bin"), pathDir} {
		require.NoError(t, os.MkdirAll(d, 0o755))
	}
	_, err := Find("sometool")
	assert.ErrorContains(t, err, "scripts/install_sometool.sh")

	onPath := filepath.Join(pathDir, "sometool")
	require.NoError(t, os.WriteFile(onPath, []byte("#!/bin/sh\n"), 0o755))
	got, err := Find("sometool")
	require.NoError(t, err)
	assert.Equal(t, onPath, got)

	cached := filepath.Join(dir, "bin", "sometool")
	require.NoError(t, os.WriteFile(cached, []byte("#!/bin/sh\n"), 0o755))
	got, err = Find("sometool")
	require.NoError(t, err)
	assert.Equal(t, cached, got)
}
