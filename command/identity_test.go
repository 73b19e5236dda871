package command

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentic-commerce/wallet-ledger/eventstore"
	"github.com/agentic-commerce/wallet-ledger/internal/auth"
)

// The ledger writes as eventstore.SystemOwner (the system wallets' owner, the hold sweeper's sub); a token that
// carried it could read the system wallets and squat the sweeper's keys. auth refuses auth.SystemSub: the two
// must be the same value.
func TestNoTokenCanActAsTheLedger(t *testing.T) {
	assert.Equal(t, eventstore.SystemOwner, auth.SystemSub)
	tok, err := auth.Mint("s3cret", "aud", eventstore.SystemOwner, []string{auth.ScopeRead}, time.Hour)
	require.NoError(t, err)
	_, err = auth.NewVerifier("s3cret", "aud").Verify(tok)
	assert.ErrorIs(t, err, auth.ErrInvalidToken)
}
