package main

import (
	"fmt"
	"slices"

	"github.com/google/jsonschema-go/jsonschema"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// addTool registers a tool whose input and output schemas are inferred from In and Out and then made plain:
// several model providers' tool-schema dialects refuse a type list such as ["null", "integer"], which inference
// gives pointers, slices and maps. An optional field is instead left out of "required" (omitempty), and the
// handlers never send null: they leave a field out.
func addTool[In, Out any](s *mcp.Server, t *mcp.Tool, h mcp.ToolHandlerFor[In, Out]) {
	t.InputSchema = plainSchema[In]()
	t.OutputSchema = plainSchema[Out]()
	mcp.AddTool(s, t, h)
}

// plainSchema infers T's JSON schema with every ["null", X] type list replaced by X.
func plainSchema[T any]() *jsonschema.Schema {
	s, err := jsonschema.For[T](nil)
	if err != nil {
		// The tool types are fixed at build time; the tests list every tool.
		panic(fmt.Sprintf("wallet-mcp: schema of %T: %v", *new(T), err))
	}
	dropNull(s)
	return s
}

func dropNull(s *jsonschema.Schema) {
	if s == nil {
		return
	}
	if types := slices.DeleteFunc(slices.Clone(s.Types), func(t string) bool { return t == "null" }); len(s.Types) > 0 {
		if len(types) == 1 {
			s.Type, s.Types = types[0], nil
		} else {
			s.Types = types
		}
	}
	for _, p := range s.Properties {
		dropNull(p)
	}
	for _, d := range s.Defs {
		dropNull(d)
	}
	for _, list := range [][]*jsonschema.Schema{s.PrefixItems, s.AnyOf, s.OneOf, s.AllOf} {
		for _, c := range list {
			dropNull(c)
		}
	}
	dropNull(s.Items)
	dropNull(s.AdditionalProperties)
}
