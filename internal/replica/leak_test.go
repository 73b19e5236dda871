package replica

import (
	"testing"

	"github.com/agentic-commerce/wallet-ledger/internal/leaktest"
)

// TestMain fails the package's tests if any of them leaves a goroutine running.
func TestMain(m *testing.M) { leaktest.Main(m) }
