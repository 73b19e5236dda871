package telemetry

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/agentic-commerce/wallet-ledger/internal/devtools"
	"github.com/agentic-commerce/wallet-ledger/internal/telemetry/otlptest"
)

const obsDir = "../../deploy/doks/observability"

// promtool runs promtool with args in dir. A missing promtool fails the test: skipping would hide broken configs.
func promtool(t *testing.T, dir string, args ...string) {
	t.Helper()
	bin, err := devtools.Find("promtool")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

func TestPrometheusConfigAndRulesPassPromtool(t *testing.T) {
	dir := filepath.Join(obsDir, "prometheus")
	promtool(t, dir, "check", "config", "prometheus.yml")
	promtool(t, dir, "check", "rules", "alerts.yml")
	// Each alert fires on the series that should trigger it and stays quiet on healthy ones.
	promtool(t, dir, "test", "rules", "alerts_test.yml")
}

func loadDashboard(t *testing.T) otlptest.Dashboard {
	t.Helper()
	d, err := otlptest.LoadDashboard(obsDir)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestDashboardHasTheRequiredPanels(t *testing.T) {
	d := loadDashboard(t)
	titles := map[string]bool{}
	for _, p := range d.Panels {
		titles[p.Title] = true
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
	}
	for _, want := range []string{"Request rate by route", "p95 latency by route", "5xx rate", "Commit throughput by kind",
		"Idempotency conflicts and replays", "DB readiness", "Outbox lag and backlog", "Audit discrepancies",
		"Time since last clean audit", "Webhook deliveries", "Webhook lag and backlog", "Webhook attempt latency p95"} {
		if !titles[want] {
			t.Errorf("dashboard lacks the panel %q", want)
		}
	}
}

func TestDashboardQueriesAreValidPromQL(t *testing.T) {
	var rules strings.Builder
	rules.WriteString("groups:\n  - name: dashboard\n    rules:\n")
	queries, err := otlptest.DashboardQueries(loadDashboard(t))
	if err != nil {
		t.Fatal(err)
	}
	for i, q := range queries {
		if strings.HasPrefix(q.Where, "variable ") {
			continue // Grafana's label_values() is not PromQL
		}
		expr, _ := json.Marshal(otlptest.GrafanaVars.Replace(q.Expr)) // a JSON string is a valid YAML scalar
		rules.WriteString("      - record: dashboard:query_" + strconv.Itoa(i) + "\n")
		rules.WriteString("        expr: " + string(expr) + "\n")
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "dashboard_rules.yml"), []byte(rules.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	promtool(t, dir, "check", "rules", "dashboard_rules.yml")
}

// TestQueriesUseOnlyExportedMetrics holds every alert and dashboard query to the metrics a real run exported,
// translated to Prometheus names: a renamed or never-emitted metric would leave a panel empty or an alert mute.
func TestQueriesUseOnlyExportedMetrics(t *testing.T) {
	set := exportedPrometheusNames(t)
	queries, err := otlptest.AllQueries(obsDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range otlptest.CheckQueries(queries, set, nil) {
		t.Error(p)
	}
	t.Logf("OTel metrics exported: %v", set.OTelNames)
	t.Logf("as Prometheus series: %v", otlptest.Sorted(set.Metrics))
	t.Logf("with labels: %v", otlptest.Sorted(set.Labels))
}

func TestLokiConfigIsSingleBinaryOnFilesystem(t *testing.T) {
	var c struct {
		AuthEnabled bool `yaml:"auth_enabled"`
		Common      struct {
			ReplicationFactor int `yaml:"replication_factor"`
			Storage           struct {
				Filesystem struct {
					ChunksDirectory string `yaml:"chunks_directory"`
				}
			}
			Ring struct{ Kvstore struct{ Store string } }
		}
		SchemaConfig struct {
			Configs []struct {
				Store, Schema string
				ObjectStore   string `yaml:"object_store"`
			}
		} `yaml:"schema_config"`
		Limits struct {
			Structured bool `yaml:"allow_structured_metadata"`
		} `yaml:"limits_config"`
	}
	readYAML(t, filepath.Join(obsDir, "loki", "loki-config.yaml"), &c)
	if c.Common.ReplicationFactor != 1 || c.Common.Ring.Kvstore.Store != "inmemory" || c.Common.Storage.Filesystem.ChunksDirectory == "" {
		t.Errorf("want a single-binary, filesystem Loki: %+v", c.Common)
	}
	if len(c.SchemaConfig.Configs) == 0 || c.SchemaConfig.Configs[0].ObjectStore != "filesystem" || c.SchemaConfig.Configs[0].Store != "tsdb" {
		t.Errorf("want a tsdb schema on the filesystem: %+v", c.SchemaConfig)
	}
	if !c.Limits.Structured {
		t.Error("OTLP logs need allow_structured_metadata")
	}
}

var (
	alloyBlock = regexp.MustCompile(`(?m)^([a-z_]+(?:\.[a-z_]+)+)\s+"([a-zA-Z0-9_]+)"\s*\{`)
	alloyRef   = regexp.MustCompile(`\b((?:otelcol|prometheus|loki)(?:\.[a-z_]+)+)\.([a-zA-Z0-9_]+)\.(input|receiver|targets)\b`)
)

// TestAlloyConfigWiring checks what can be checked without an Alloy binary (not packaged for Debian): balanced
// blocks, every component an output or forward_to names is defined, and the pipeline has its required parts.
func TestAlloyConfigWiring(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(obsDir, "alloy", "config.alloy"))
	if err != nil {
		t.Fatal(err)
	}
	var code strings.Builder
	for _, line := range strings.Split(string(raw), "\n") {
		if i := strings.Index(line, "//"); i >= 0 {
			line = line[:i]
		}
		code.WriteString(line + "\n")
	}
	src := code.String()
	if strings.Count(src, "{") != strings.Count(src, "}") || strings.Count(src, "[") != strings.Count(src, "]") ||
		strings.Count(src, `"`)%2 != 0 {
		t.Fatal("config.alloy has unbalanced braces, brackets or quotes")
	}
	defined := map[string]bool{}
	for _, m := range alloyBlock.FindAllStringSubmatch(src, -1) {
		defined[m[1]+"."+m[2]] = true
	}
	for _, m := range alloyRef.FindAllStringSubmatch(src, -1) {
		if !defined[m[1]+"."+m[2]] {
			t.Errorf("config.alloy refers to %s.%s.%s, which it does not define", m[1], m[2], m[3])
		}
	}
	for _, want := range []string{"otelcol.receiver.otlp.default", "otelcol.processor.batch.default",
		"otelcol.exporter.prometheus.default", "prometheus.remote_write.default", "otelcol.exporter.loki.default",
		"loki.write.default", "otelcol.exporter.otlp.traces"} {
		if !defined[want] {
			t.Errorf("config.alloy lacks %s", want)
		}
	}
	for _, want := range []string{`endpoint = "0.0.0.0:4317"`, `endpoint = "0.0.0.0:4318"`, `sys.env("TRACES_OTLP_ENDPOINT")`} {
		if !strings.Contains(src, want) {
			t.Errorf("config.alloy lacks %s", want)
		}
	}
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(raw, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}
