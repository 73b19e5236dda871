package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/agentic-commerce/wallet-ledger/internal/leaktest"
)

var (
	buildOnce sync.Once
	builtBin  string
	buildErr  error
	buildDir  string
)

// TestMain removes the relay binary the tests share.
func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		_ = os.RemoveAll(buildDir)
	}
	os.Exit(leaktest.Check(code))
}

// relayBinary builds this command once per test binary, so the tests run the relay exactly as it ships.
func relayBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "relay-bin-")
		if buildErr != nil {
			return
		}
		builtBin = filepath.Join(buildDir, "relay")
		build := exec.Command("go", "build", "-o", builtBin, ".")
		build.Stderr = os.Stderr
		buildErr = build.Run()
	})
	if buildErr != nil {
		t.Fatalf("build the relay: %v", buildErr)
	}
	return builtBin
}
