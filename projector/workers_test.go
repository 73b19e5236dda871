package projector_test

import (
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentic-commerce/wallet-ledger/projector"
)

func TestLoadWorkerConfig(t *testing.T) {
	env := map[string]string{"AUDIT_INTERVAL": "2s", "AUDIT_FULL_INTERVAL": "1h"}
	cfg, err := projector.LoadWorkerConfig(func(k string) string { return env[k] })
	require.NoError(t, err)
	assert.Equal(t, "2s", cfg.AuditInterval.String())
	assert.Equal(t, "1h0m0s", cfg.AuditFullInterval.String())
	assert.Equal(t, "1s", cfg.HistoryInterval.String())
	for _, bad := range []string{"0s", "-1s", "soon"} {
		_, err := projector.LoadWorkerConfig(func(k string) string {
			if k == "HISTORY_INTERVAL" {
				return bad
			}
			return ""
		})
		assert.Error(t, err, bad)
	}
}

// The relay's full sweep keeps its interval while it is quick, and spaces out as the ledger grows and it slows.
func TestNextFullSweep(t *testing.T) {
	assert.Equal(t, 15*time.Minute, projector.NextFullSweep(15*time.Minute, 300*time.Millisecond), "a fresh ledger")
	assert.Equal(t, 15*time.Minute, projector.NextFullSweep(15*time.Minute, 45*time.Second), "at the bound")
	assert.Equal(t, 40*time.Minute, projector.NextFullSweep(15*time.Minute, 2*time.Minute), "10 million entries")
	assert.Equal(t, time.Hour, projector.NextFullSweep(time.Hour, 2*time.Minute), "a longer interval set")
}

// An incremental pass retires only the findings of the wallets it rechecked; a full sweep replaces them all.
func TestOpenFindings(t *testing.T) {
	a, b := uuid.New(), uuid.New()
	mismatch := func(w uuid.UUID) projector.Finding {
		return projector.Finding{Kind: projector.FindingWalletMismatch, WalletID: &w}
	}
	asset := projector.Finding{Kind: projector.FindingAssetSumNotZero, Asset: "EUR", Sum: "7"}
	var o projector.OpenFindings
	assert.Equal(t, 3, o.Update(projector.Report{Mode: projector.ModeFull, Findings: []projector.Finding{mismatch(a), mismatch(b), asset}}))
	assert.Equal(t, 3, o.Update(projector.Report{Mode: projector.ModeIncremental, CheckedWallets: []uuid.UUID{uuid.New()}}),
		"a pass that did not look at a or b hides nothing")
	assert.Equal(t, 2, o.Update(projector.Report{Mode: projector.ModeIncremental, CheckedWallets: []uuid.UUID{a}}))
	assert.Equal(t, 0, o.Update(projector.Report{Mode: projector.ModeFull}))
	assert.Empty(t, o.Snapshot())
}
