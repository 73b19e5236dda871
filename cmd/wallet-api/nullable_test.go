package main

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentic-commerce/wallet-ledger/command"
)

// The server accepts an explicit null exactly where the document says a request field is nullable (the decoder
// reads the `nullable:"true"` tag): a null anywhere else is a 400, never "no rule". Every request schema of the
// document must be listed here, so a new one cannot skip the comparison.
func TestNullableRequestFieldsMatchTheDocument(t *testing.T) {
	types := map[string]any{
		"CreateWalletRequest":          command.CreateWalletRequest{},
		"TransferRequest":              command.TransferRequest{},
		"AdjustmentRequest":            command.AdjustmentRequest{},
		"CreateHoldRequest":            command.CreateHoldRequest{},
		"CaptureHoldRequest":           command.CaptureHoldRequest{},
		"GrantMandateRequest":          command.GrantMandateRequest{},
		"RefundRequest":                command.RefundRequest{},
		"FreezeWalletRequest":          command.FreezeWalletRequest{},
		"EmptyRequest":                 command.VoidHoldRequest{},
		"CreateWebhookEndpointRequest": command.CreateWebhookEndpointRequest{},
	}
	doc := contract(t).Document()
	for name, schema := range doc.Components.Schemas {
		if strings.HasSuffix(name, "Request") {
			require.Contains(t, types, name, "request schema %s has no Go type in this test", name)
			compareNullable(t, name, schema.Value, reflect.TypeOf(types[name]))
		}
	}
}

func compareNullable(t *testing.T, where string, schema *openapi3.Schema, typ reflect.Type) {
	t.Helper()
	for typ.Kind() == reflect.Pointer {
		typ = typ.Elem()
	}
	for prop, ref := range schema.Properties {
		field, ok := fieldByJSONName(typ, prop)
		if !assert.True(t, ok, "%s.%s is documented but %s has no such field", where, prop, typ) {
			continue
		}
		docNullable := ref.Value.Type != nil && slices.Contains(*ref.Value.Type, "null")
		assert.Equal(t, docNullable, field.Tag.Get("nullable") == "true", "%s.%s: nullable in the document and in %s differ", where, prop, typ)
		if len(ref.Value.Properties) > 0 {
			compareNullable(t, where+"."+prop, ref.Value, field.Type)
		}
	}
}

func fieldByJSONName(t reflect.Type, name string) (reflect.StructField, bool) {
	for i := range t.NumField() {
		f := t.Field(i)
		if tag, _, _ := strings.Cut(f.Tag.Get("json"), ","); tag == name {
			return f, true
		}
	}
	return reflect.StructField{}, false
}
