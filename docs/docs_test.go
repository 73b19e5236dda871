package docs

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentic-commerce/wallet-ledger/internal/docblock"
	"github.com/agentic-commerce/wallet-ledger/internal/httpapi"
)

// root is the repository root: go test runs in docs/, one level below it.
const root = ".."

// documents are the Markdown files a reader of a clone follows: the front door, this folder and the deployment guide.
func documents(t *testing.T) []string {
	t.Helper()
	docs, err := filepath.Glob("*.md")
	require.NoError(t, err)
	require.NotEmpty(t, docs)
	out := []string{"README.md", "deploy/README.md"}
	for _, d := range docs {
		out = append(out, "docs/"+d)
	}
	return out
}

func read(t *testing.T, rel string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, rel))
	require.NoError(t, err)
	return string(b)
}

var (
	link    = regexp.MustCompile(`\]\(([^)\s]+)\)`)
	heading = regexp.MustCompile(`(?m)^#{1,6} +(.+?) *$`)
)

// anchors returns the GitHub anchors of a document's headings.
func anchors(doc string) map[string]bool {
	out := map[string]bool{}
	// Headings inside code blocks are not headings.
	var prose strings.Builder
	in := false
	for _, line := range strings.Split(doc, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			in = !in
			continue
		}
		if !in {
			prose.WriteString(line + "\n")
		}
	}
	for _, m := range heading.FindAllStringSubmatch(prose.String(), -1) {
		out[slug(m[1])] = true
	}
	return out
}

// slug is GitHub's heading anchor: lower case, punctuation dropped except hyphens and underscores, spaces to hyphens.
func slug(h string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(h) {
		switch {
		case r == ' ':
			b.WriteRune('-')
		case r == '-' || r == '_' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9':
			b.WriteRune(r)
		}
	}
	return b.String()
}

func TestSlugFollowsGitHub(t *testing.T) {
	assert.Equal(t, "mcp-server-for-agents-wallet-mcp", slug("MCP server for agents (`wallet-mcp`)"))
	assert.Equal(t, "event-schema-version-1", slug("Event schema (version 1)"))
	assert.Equal(t, "throughput-the-ceiling-and-what-bounds-it", slug("Throughput: the ceiling, and what bounds it"))
}

// Every relative link of README.md, deploy/README.md and docs/*.md names a file or folder inside the repository, and
// every #anchor a heading of the document it points into. A clone has nothing outside the repository.
func TestEveryRelativeLinkResolvesInsideTheRepository(t *testing.T) {
	repo, err := filepath.Abs(root)
	require.NoError(t, err)
	checked := 0
	for _, name := range documents(t) {
		doc := read(t, name)
		for _, m := range link.FindAllStringSubmatch(doc, -1) {
			target := m[1]
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			checked++
			file, anchor, _ := strings.Cut(target, "#")
			path := filepath.Join(repo, filepath.Dir(name), file)
			if file == "" {
				path = filepath.Join(repo, name)
			}
			if rel, err := filepath.Rel(repo, path); err != nil || strings.HasPrefix(rel, "..") {
				t.Errorf("%s links %s, outside the repository", name, target)
				continue
			}
			info, err := os.Stat(path)
			if err != nil {
				t.Errorf("%s links %s, which does not exist", name, target)
				continue
			}
			if anchor == "" {
				continue
			}
			if info.IsDir() || !strings.HasSuffix(path, ".md") {
				t.Errorf("%s links %s: an anchor into something that is not a Markdown file", name, target)
				continue
			}
			raw, err := os.ReadFile(path)
			require.NoError(t, err)
			if !anchors(string(raw))[anchor] {
				t.Errorf("%s links %s: no heading with anchor #%s there", name, target, anchor)
			}
		}
	}
	assert.Greater(t, checked, 20, "the documents link each other; the link pattern must have found them")
}

// commandLangs are the info strings of blocks a reader runs in a shell.
var commandLangs = []string{"bash", "sh", "shell", "console"}

// Every command block of README.md and docs/*.md is either run by a test, which finds it by the id of its
// <!-- test: ID --> comment, or says in a <!-- not run: REASON --> comment why no test can run it (a cluster, a
// long-running server, a measurement). A test id must be unique, and a test file must name it beside the document.
func TestEveryCommandBlockIsRunByATestOrSaysWhyNot(t *testing.T) {
	tests := testSources(t)
	seen := map[string]string{}
	run, notRun := 0, 0
	for _, name := range documents(t) {
		if name == "deploy/README.md" {
			continue // deploy/readme_test.go renders its helm commands and checks its kubectl ones against the chart
		}
		for _, b := range docblock.Parse(read(t, name)) {
			if !slices.Contains(commandLangs, b.Lang) {
				continue
			}
			where := name + ":" + strconv.Itoa(b.Line)
			switch {
			case b.Test != "":
				run++
				if prev, ok := seen[b.Test]; ok {
					t.Errorf("%s: test id %q is also used at %s", where, b.Test, prev)
				}
				seen[b.Test] = where
				if !namedByATest(tests, name, b.Test) {
					t.Errorf("%s: block %s is marked as run by a test, but no _test.go names both \"%s\" and %s",
						where, b.Test, b.Test, name)
				}
			case b.NotRun != "":
				notRun++
			default:
				t.Errorf("%s: a %s block with neither <!-- test: ID --> nor <!-- not run: REASON --> right before it", where, b.Lang)
			}
		}
	}
	assert.GreaterOrEqual(t, run, 6, "the quick start, the agent flow and the operator commands are run by tests")
	t.Logf("%d command blocks run by tests, %d not run (each says why)", run, notRun)
}

// testSources returns the contents of every _test.go of the repository outside this folder, by path.
func testSources(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "docs" && filepath.Dir(path) == root) {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(path, "_test.go") {
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			out[path] = string(b)
		}
		return nil
	})
	require.NoError(t, err)
	return out
}

// namedByATest reports whether one test file names both the block's id (as a Go string) and its document.
func namedByATest(tests map[string]string, doc, id string) bool {
	for _, src := range tests {
		if strings.Contains(src, `"`+id+`"`) && strings.Contains(src, doc+`"`) {
			return true
		}
	}
	return false
}

// The errors table of docs/api.md names every problem code the service can answer.
func TestAPIDocumentNamesEveryProblemCode(t *testing.T) {
	api := read(t, "docs/api.md")
	for code := range httpapi.Codes() {
		assert.Contains(t, api, "`"+code+"`", "docs/api.md does not name problem code %s", code)
	}
}

// make run prints README's quick-start block itself (scripts/run_dev.sh finds it by its marker), so the banner and
// the README cannot show different wallets; and it binds the loopback interface unless told otherwise.
func TestMakeRunPrintsTheREADMEQuickStart(t *testing.T) {
	script := read(t, "scripts/run_dev.sh")
	assert.Contains(t, script, "<!-- test: quick-start -->", "run_dev.sh must find the quick start by its marker")
	_, err := docblock.Lookup(read(t, "README.md"), "quick-start")
	require.NoError(t, err)
	assert.Contains(t, script, `HTTP_ADDR="${HTTP_ADDR:-127.0.0.1:8080}"`)
	assert.Contains(t, script, `RELAY_HTTP_ADDR="${RELAY_HTTP_ADDR:-127.0.0.1:8081}"`)
}

// README.md is the front door: what the ledger is, the quick start, a picture, the API at a glance and the way
// into docs/. Reference material belongs in docs/.
func TestREADMEStaysAFrontDoor(t *testing.T) {
	readme := read(t, "README.md")
	assert.LessOrEqual(t, len(readme), 12*1024, "README.md has grown past 12 KB: move reference material into docs/")
	for _, d := range []string{"api", "agents", "events", "operations", "performance", "performance-log", "architecture"} {
		assert.Contains(t, readme, "](docs/"+d+".md)", "README.md must link docs/%s.md", d)
	}
	assert.NotContains(t, readme, "../shared/", "a clone has no ../shared: link docs/architecture.md")
}
