package main

import (
	"encoding/json"
	"fmt"
	"slices"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Every tool's schemas use plain types (several model providers refuse ["null", X]); optional input fields are
// left out of "required"; and the descriptions tell a model what it most needs to get right with money: amounts
// are integers of minor units, and a retried write reuses its idempotency key.
func TestToolSchemasArePlainAndDescriptionsSayHowToUseMoney(t *testing.T) {
	server := newServer(&tools{}, "test")
	serverT, clientT := mcp.NewInMemoryTransports()
	ss, err := server.Connect(bg(), serverT, nil)
	require.NoError(t, err)
	defer ss.Close()
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "schema-check", Version: "1"}, nil).Connect(bg(), clientT, nil)
	require.NoError(t, err)
	defer cs.Close()
	list, err := cs.ListTools(bg(), nil)
	require.NoError(t, err)

	required := map[string][]string{
		"get_balance": {"wallet_id"}, "get_wallet": {"wallet_id"}, "get_transaction": {"transaction_id"},
		"transfer": {"amount", "asset", "from_wallet_id", "to_wallet_id"}, "list_wallets": nil,
		"list_transactions": {"wallet_id"}, "create_hold": {"amount", "asset", "wallet_id"},
		"capture_hold": {"hold_id"}, "void_hold": {"hold_id"}, "list_mandates": {"wallet_id"},
		"freeze_wallet": {"reason", "wallet_id"}, "suspend_mandate": {"mandate_id"}, "revoke_mandate": {"mandate_id"},
		"get_mandate": {"mandate_id"},
	}
	var names []string
	for _, tool := range list.Tools {
		names = append(names, tool.Name)
		in, out := schemaJSON(t, tool.InputSchema), schemaJSON(t, tool.OutputSchema)
		assert.Empty(t, nullTypes("input", in), tool.Name)
		assert.Empty(t, nullTypes("output", out), tool.Name)
		var got []string
		if r, ok := in["required"].([]any); ok {
			for _, f := range r {
				got = append(got, f.(string))
			}
		}
		slices.Sort(got)
		assert.Equal(t, required[tool.Name], got, "required fields of %s", tool.Name)

		assert.Contains(t, tool.Description, "integers in minor units", tool.Name)
		if tool.Annotations == nil || !tool.Annotations.ReadOnlyHint {
			assert.Contains(t, tool.Description, "must reuse the same idempotency_key", tool.Name)
			props, _ := in["properties"].(map[string]any)
			assert.Contains(t, props, "idempotency_key", tool.Name)
		}
	}
	slices.Sort(names)
	want := make([]string, 0, len(required))
	for name := range required {
		want = append(want, name)
	}
	slices.Sort(want)
	assert.Equal(t, want, names, "every tool is checked")
}

func schemaJSON(t *testing.T, s any) map[string]any {
	t.Helper()
	b, err := json.Marshal(s)
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.Unmarshal(b, &m))
	return m
}

// nullTypes lists where a schema's "type" is a list or is "null".
func nullTypes(path string, node any) []string {
	var bad []string
	switch n := node.(type) {
	case map[string]any:
		if typ, ok := n["type"]; ok {
			if s, isString := typ.(string); !isString || s == "null" {
				bad = append(bad, fmt.Sprintf("%s: type %v", path, typ))
			}
		}
		for k, child := range n {
			if k == "properties" || k == "$defs" {
				for name, p := range child.(map[string]any) {
					bad = append(bad, nullTypes(path+"."+name, p)...)
				}
				continue
			}
			bad = append(bad, nullTypes(path+"/"+k, child)...)
		}
	case []any:
		for i, child := range n {
			bad = append(bad, nullTypes(fmt.Sprintf("%s[%d]", path, i), child)...)
		}
	}
	return bad
}
