package docblock

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const sample = "# Title\n\n<!-- test: first -->\n```bash\necho one\necho two\n```\n\ntext\n<!-- not run: needs a cluster -->\n" +
	"```bash\nkubectl get pods\n```\n\n```json\n{}\n```\n<!-- test: first -->\n\n```bash\necho unmarked\n```\n"

func TestParseReadsBlocksAndTheirMarkers(t *testing.T) {
	blocks := Parse(sample)
	require.Len(t, blocks, 4)
	assert.Equal(t, Block{Lang: "bash", Text: "echo one\necho two\n", Line: 4, Test: "first"}, blocks[0])
	assert.Equal(t, "needs a cluster", blocks[1].NotRun)
	assert.Equal(t, "json", blocks[2].Lang)
	// A marker separated from the fence by a blank line marks nothing.
	assert.Equal(t, Block{Lang: "bash", Text: "echo unmarked\n", Line: 20}, blocks[3])
}

func TestLookupFindsExactlyOneBlock(t *testing.T) {
	text, err := Lookup(sample, "first")
	require.NoError(t, err)
	assert.Equal(t, "echo one\necho two\n", text)
	_, err = Lookup(sample, "missing")
	assert.ErrorContains(t, err, "no block marked <!-- test: missing -->")
	_, err = Lookup(sample+"<!-- test: first -->\n```bash\necho again\n```\n", "first")
	assert.ErrorContains(t, err, "2 blocks")
}
