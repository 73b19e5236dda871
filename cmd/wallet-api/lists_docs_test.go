package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentic-commerce/wallet-ledger/internal/auth"
	"github.com/agentic-commerce/wallet-ledger/internal/docblock"
)

// docs/api.md's list examples, run as written against alice's wallets: a second page of wallets, her transfers, and
// the active holds of her newest wallet.
func TestListExamplesWorkAsWritten(t *testing.T) {
	block := docblock.Find(t, "../../docs/api.md", "list-examples")
	a := newIsolatedAPI(t) // the example lists every wallet of "alice"
	alice := token(t, "alice", auth.ScopeRead, auth.ScopeWrite)
	first, second := a.createWallet(alice, "USD"), a.createWallet(alice, "USD")
	a.fund(first, "USD", 100)
	created(t, a.post(alice, "/v1/transfers", map[string]any{"from_wallet_id": first, "to_wallet_id": second, "amount": 10, "asset": "USD"}))
	newest := a.createWallet(alice, "USD")
	a.fund(newest, "USD", 50)
	created(t, a.post(alice, "/v1/holds", map[string]any{"wallet_id": newest, "amount": 20, "asset": "USD"}))

	out := runDocBlock(t, block, a.base, "jq")
	dec := json.NewDecoder(strings.NewReader(out))
	var page2, transfers, holds struct {
		Data    []map[string]any `json:"data"`
		HasMore bool             `json:"has_more"`
	}
	require.NoError(t, dec.Decode(&page2), out)
	require.NoError(t, dec.Decode(&transfers), out)
	require.NoError(t, dec.Decode(&holds), out)
	assert.False(t, dec.More(), out)
	require.Len(t, page2.Data, 1, "three wallets, two a page: the second page holds the oldest")
	assert.Equal(t, first, page2.Data[0]["wallet_id"])
	require.Len(t, transfers.Data, 1)
	assert.Equal(t, "transfer", transfers.Data[0]["kind"])
	require.Len(t, holds.Data, 1)
	assert.Equal(t, "active", holds.Data[0]["status"])
	assert.Equal(t, newest, holds.Data[0]["wallet_id"])
}

// docs/api.md's request id example: the id sent comes back.
func TestRequestIDExampleWorksAsWritten(t *testing.T) {
	block := docblock.Find(t, "../../docs/api.md", "request-id")
	a := newAPI(t)
	out := runDocBlock(t, block, a.base)
	assert.Equal(t, "request-id: checkout-42", strings.ToLower(strings.TrimSpace(out)))
}
