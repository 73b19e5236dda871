package config

import (
	"testing"

	"github.com/agentic-commerce/wallet-ledger/internal/leaktest"
)

func TestMain(m *testing.M) { leaktest.Main(m) }
