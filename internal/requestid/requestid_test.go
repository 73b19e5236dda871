package requestid

import (
	"context"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
)

func TestChooseEchoesOnlyOneSafeID(t *testing.T) {
	for _, id := range []string{"a", "req-42", "01HV7Z3K8M:retry.2", "Root=1-5759e988-bd862e3fe1be46a994272793",
		"b64+/=@~_", strings.Repeat("x", MaxLen)} {
		assert.Equal(t, id, Choose([]string{id}), "%q is echoed", id)
	}
	for name, sent := range map[string][]string{
		"none": nil, "empty": {""}, "too long": {strings.Repeat("x", MaxLen+1)}, "space": {"a b"},
		"quote": {`a"b`}, "newline": {"a\nb"}, "semicolon": {"a;b"}, "non-ASCII": {"été"}, "two": {"a", "b"},
		"comma": {"a,b"}, "backslash": {`a\b`}, "angle": {"<script>"},
	} {
		got := Choose(sent)
		assert.True(t, Valid(got), name)
		_, err := uuid.Parse(got)
		assert.NoError(t, err, "%s: a generated id is a UUID", name)
		if len(sent) > 0 {
			assert.NotEqual(t, sent[0], got, name)
		}
	}
	assert.NotEqual(t, New(), New())
}

func TestContextCarriesTheID(t *testing.T) {
	assert.Empty(t, From(context.Background()))
	assert.Equal(t, "req-1", From(With(context.Background(), "req-1")))
}
