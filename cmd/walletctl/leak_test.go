package main

import (
	"os"
	"testing"

	"github.com/agentic-commerce/wallet-ledger/internal/leaktest"
)

// TestMain removes the walletctl the documentation tests built, and fails the package's tests if any of them leaves
// a goroutine running.
func TestMain(m *testing.M) {
	code := m.Run()
	if buildErr == nil && buildDir != "" {
		_ = os.RemoveAll(buildDir)
	}
	os.Exit(leaktest.Check(code))
}
