package client

import (
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentic-commerce/wallet-ledger/api/apitest"
)

// The client's types carry exactly the fields of the document's schemas, so a field added to the API (and, by the
// contract tests, to the document) is a failing test here until the client learns it.
func TestTypesMatchTheDocument(t *testing.T) {
	v, err := apitest.Shared()
	require.NoError(t, err)
	schemas := v.Document().Components.Schemas
	for name, typ := range map[string]any{
		"Wallet": Wallet{}, "CreateWalletRequest": CreateWalletRequest{}, "Balance": Balance{},
		"BalanceAudit": BalanceAudit{}, "Entry": Entry{}, "Transaction": Transaction{},
		"TransferRequest": TransferRequest{}, "AdjustmentRequest": AdjustmentRequest{}, "Problem": Error{},
		"RefundRequest": RefundRequest{}, "Hold": Hold{}, "CreateHoldRequest": CreateHoldRequest{},
		"CaptureHoldRequest": CaptureHoldRequest{}, "Mandate": Mandate{}, "MandateList": MandateList{},
		"GrantMandateRequest": GrantMandateRequest{}, "WalletHistory": WalletHistory{}, "HistoryEntry": HistoryEntry{},
		"WebhookEndpoint": WebhookEndpoint{}, "WebhookEndpointList": WebhookEndpointList{},
		"CreateWebhookEndpointRequest": CreateWebhookEndpointRequest{}, "WebhookDelivery": WebhookDelivery{},
		"WebhookDeliveryList": WebhookDeliveryList{}, "Event": Event{}, "EventPage": EventPage{},
		"WalletPage": WalletPage{}, "HoldPage": HoldPage{}, "TransactionPage": TransactionPage{},
		"FreezeWalletRequest": FreezeWalletRequest{},
	} {
		ref := schemas[name]
		require.NotNil(t, ref, "schema %s", name)
		var documented []string
		for p := range ref.Value.Properties {
			documented = append(documented, p)
		}
		sort.Strings(documented)
		assert.Equal(t, documented, jsonFields(reflect.TypeOf(typ)), "client.%T vs #/components/schemas/%s", typ, name)
	}
}

func jsonFields(t reflect.Type) []string {
	var out []string
	for i := range t.NumField() {
		tag := strings.Split(t.Field(i).Tag.Get("json"), ",")[0]
		if tag != "" && tag != "-" {
			out = append(out, tag)
		}
	}
	sort.Strings(out)
	return out
}

// Every problem code the client names is one the document promises, so a caller switching on it can be answered.
func TestCodesAreDocumented(t *testing.T) {
	v, err := apitest.Shared()
	require.NoError(t, err)
	ref := v.Document().Components.Schemas["ProblemCode"]
	require.NotNil(t, ref)
	documented := map[string]bool{}
	for _, e := range ref.Value.Enum {
		documented[e.(string)] = true
	}
	for _, code := range []string{CodeInsufficientFunds, CodeWalletNotFound, CodeTransactionNotFound, CodeWalletExists,
		CodeValidation, CodeIdempotencyKeyReuse, CodeIdempotencyKeyInUse, CodeUnavailable, CodeUnauthorized,
		CodeInsufficientScope, CodeRateLimited, CodeInvalidQuery, CodeForbidden, CodeWalletFrozen, CodeMandateInactive,
		CodeMandateLimit, CodeVersionMismatch, CodePreconditionNeeded} {
		assert.True(t, documented[code], "client code %q is not in #/components/schemas/ProblemCode", code)
	}
}
