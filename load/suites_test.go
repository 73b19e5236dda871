package load

import (
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// make load, make resiliency and make bench-ceiling judge speed on the whole machine, so make test never runs
// them; it runs their machinery small (the smoke and fault tests here) and checks that the suites themselves are
// whole: each script parses, each make target runs its script, and each profile a script names is one
// scenarios.json defines.
func TestSuiteScriptsParseAndNameRealProfiles(t *testing.T) {
	f, err := LoadFile("data/scenarios.json")
	require.NoError(t, err)
	makefile, err := os.ReadFile("../Makefile")
	require.NoError(t, err)

	suites := map[string]string{"load": "run_load_suite.sh", "resiliency": "run_resiliency_suite.sh", "bench-ceiling": "bench_ceiling.sh"}
	named := regexp.MustCompile(`-scenario ([a-z_]+)|LOAD_PROFILES=\$\{LOAD_PROFILES:-([a-z_ ]+)\}|LOAD_PROFILES=([a-z_]+) `)
	profiles := map[string]bool{}
	for target, script := range suites {
		path := "../scripts/" + script
		out, err := exec.Command("bash", "-n", path).CombinedOutput()
		assert.NoError(t, err, "bash -n %s: %s", script, out)
		assert.Regexp(t, `(?m)^`+regexp.QuoteMeta(target)+`:.*\n\tscripts/`+regexp.QuoteMeta(script)+`$`, string(makefile),
			"make %s runs scripts/%s", target, script)
		src, err := os.ReadFile(path)
		require.NoError(t, err)
		for _, m := range named.FindAllStringSubmatch(string(src), -1) {
			for _, names := range m[1:] {
				for _, name := range strings.Fields(names) {
					profiles[name] = true
				}
			}
		}
	}
	for _, want := range []string{"smoke", "baseline", "spike", "soak", "resiliency_partition"} {
		assert.True(t, profiles[want], "the suites name profile %s", want)
	}
	for name := range profiles {
		_, err := f.Get(name)
		assert.NoError(t, err, "a suite names profile %q, which scenarios.json does not define", name)
	}
}
