// Package docblock finds the fenced code blocks of the repository's Markdown documents and the comment before each
// that says whether a test runs it, so that tests can run the documentation's commands as a reader would.
//
// The convention, on the line right before a block's opening fence:
//
//	<!-- test: quick-start -->           a test finds this block by its id (Find) and runs it
//	<!-- not run: needs a DOKS cluster --> no test runs it, and the comment says why
//
// docs/docs_test.go requires one of the two before every bash block of README.md and docs/*.md.
package docblock

import (
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
)

// Block is one fenced code block.
type Block struct {
	Lang   string // the info string after the opening fence: "bash", "json", "" ...
	Text   string // the lines between the fences, each ending in a newline
	Line   int    // the 1-based line of the opening fence
	Test   string // the id of a <!-- test: ID --> comment right before the fence
	NotRun string // the reason of a <!-- not run: REASON --> comment right before the fence
}

var (
	testMarker   = regexp.MustCompile(`^<!--\s*test:\s*([a-z0-9-]+)\s*-->$`)
	notRunMarker = regexp.MustCompile(`^<!--\s*not run:\s*(.+?)\s*-->$`)
)

// Parse returns the fenced blocks of a Markdown document in order. An unclosed block runs to the end.
func Parse(doc string) []Block {
	var blocks []Block
	lines := strings.Split(doc, "\n")
	var cur *Block
	var body strings.Builder
	for i, line := range lines {
		trimmed := strings.TrimSpace(line)
		if cur != nil {
			if trimmed == "```" {
				cur.Text = body.String()
				blocks = append(blocks, *cur)
				cur = nil
				continue
			}
			body.WriteString(line)
			body.WriteString("\n")
			continue
		}
		if !strings.HasPrefix(trimmed, "```") {
			continue
		}
		cur = &Block{Lang: strings.TrimSpace(strings.TrimPrefix(trimmed, "```")), Line: i + 1}
		body.Reset()
		if i > 0 {
			prev := strings.TrimSpace(lines[i-1])
			if m := testMarker.FindStringSubmatch(prev); m != nil {
				cur.Test = m[1]
			} else if m := notRunMarker.FindStringSubmatch(prev); m != nil {
				cur.NotRun = m[1]
			}
		}
	}
	if cur != nil {
		cur.Text = body.String()
		blocks = append(blocks, *cur)
	}
	return blocks
}

// Lookup returns the text of the block of doc marked <!-- test: id -->.
func Lookup(doc, id string) (string, error) {
	var found []Block
	for _, b := range Parse(doc) {
		if b.Test == id {
			found = append(found, b)
		}
	}
	switch len(found) {
	case 0:
		return "", fmt.Errorf("no block marked <!-- test: %s -->", id)
	case 1:
		return found[0].Text, nil
	default:
		return "", fmt.Errorf("%d blocks marked <!-- test: %s -->", len(found), id)
	}
}

// Find reads the Markdown file at path and returns the text of its block marked <!-- test: id -->, failing tb
// when there is not exactly one.
func Find(tb testing.TB, path, id string) string {
	tb.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		tb.Fatalf("docblock: %v", err)
	}
	text, err := Lookup(string(raw), id)
	if err != nil {
		tb.Fatalf("docblock: %s: %v", path, err)
	}
	return text
}
