package deploy

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/agentic-commerce/wallet-ledger/internal/devtools"
)

const (
	chartPath      = "deploy/doks/helm/wallet-service" // relative to the repository root
	releaseName    = "wallet-service"
	releaseNS      = "wallet-prod"
	productionFile = chartPath + "/values-production.yaml"
)

// repoRoot is the module root: go test runs in deploy/, one level below it.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatalf("resolve repository root: %v", err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("repository root %s has no go.mod: %v", root, err)
	}
	return root
}

// helmBinary finds the helm CLI. It never skips: a missing helm is a broken setup, not an optional check.
func helmBinary(t *testing.T) string {
	t.Helper()
	if h := os.Getenv("HELM"); h != "" {
		if _, err := exec.LookPath(h); err != nil {
			t.Fatalf("$HELM=%s is not an executable: %v", h, err)
		}
		return h
	}
	p, err := devtools.Find("helm")
	if err != nil {
		t.Fatalf("helm CLI not found and $HELM is unset: %v", err)
	}
	return p
}

// runHelm runs helm from the repository root with throw-away helm home folders, so no user's repository
// list or cache leaks into the result.
func runHelm(t *testing.T, args ...string) (string, error) {
	t.Helper()
	home := t.TempDir()
	cmd := exec.Command(helmBinary(t), args...)
	cmd.Dir = repoRoot(t)
	cmd.Env = append(os.Environ(),
		"HELM_CACHE_HOME="+filepath.Join(home, "cache"),
		"HELM_CONFIG_HOME="+filepath.Join(home, "config"),
		"HELM_DATA_HOME="+filepath.Join(home, "data"),
	)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("helm %s: %w\nstdout:\n%s\nstderr:\n%s",
			strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String(), nil
}

// renderChart runs `helm template` for the release the README installs and decodes every manifest strictly.
func renderChart(t *testing.T, args ...string) rendered {
	t.Helper()
	out, err := runHelm(t, append([]string{"template", releaseName, chartPath, "--namespace", releaseNS}, args...)...)
	if err != nil {
		t.Fatalf("render chart: %v", err)
	}
	objs, err := decodeManifests(out)
	if err != nil {
		t.Fatalf("decode rendered chart: %v", err)
	}
	return objs
}

// rendered maps "Kind/name" to the typed object decoded from the chart's output.
type rendered map[string]any

// keys lists the rendered objects, for error messages and set comparisons.
func (r rendered) keys() []string {
	keys := make([]string, 0, len(r))
	for k := range r {
		keys = append(keys, k)
	}
	return sortedCopy(keys)
}

// kinds are the API types the chart may render. A kind outside this table fails decoding, so a new
// template must come with its type here (and so with a strict check).
var kinds = map[string]func() any{
	"v1/Secret":                     func() any { return &corev1.Secret{} },
	"v1/Service":                    func() any { return &corev1.Service{} },
	"apps/v1/Deployment":            func() any { return &appsv1.Deployment{} },
	"batch/v1/CronJob":              func() any { return &batchv1.CronJob{} },
	"batch/v1/Job":                  func() any { return &batchv1.Job{} },
	"policy/v1/PodDisruptionBudget": func() any { return &policyv1.PodDisruptionBudget{} },
	"autoscaling/v2/HorizontalPodAutoscaler": func() any {
		return &autoscalingv2.HorizontalPodAutoscaler{}
	},
	"networking.k8s.io/v1/Ingress":       func() any { return &networkingv1.Ingress{} },
	"networking.k8s.io/v1/NetworkPolicy": func() any { return &networkingv1.NetworkPolicy{} },
}

var docSeparator = regexp.MustCompile(`(?m)^---[ \t]*$`)

// decodeManifests splits helm's output into documents and decodes each with unknown and duplicate
// fields rejected (sigs.k8s.io/yaml UnmarshalStrict: YAML to JSON, then DisallowUnknownFields).
func decodeManifests(out string) (rendered, error) {
	objs := rendered{}
	for i, doc := range docSeparator.Split(out, -1) {
		if blankYAML(doc) {
			continue
		}
		var tm metav1.TypeMeta
		if err := yaml.Unmarshal([]byte(doc), &tm); err != nil {
			return nil, fmt.Errorf("document %d: read apiVersion/kind: %w\n%s", i, err, doc)
		}
		newObj, ok := kinds[tm.APIVersion+"/"+tm.Kind]
		if !ok {
			return nil, fmt.Errorf("document %d: no strict check for %s %s\n%s", i, tm.APIVersion, tm.Kind, doc)
		}
		obj := newObj()
		if err := yaml.UnmarshalStrict([]byte(doc), obj); err != nil {
			return nil, fmt.Errorf("document %d (%s): strict decode: %w\n%s", i, tm.Kind, err, doc)
		}
		meta, ok := obj.(metav1.Object)
		if !ok || meta.GetName() == "" {
			return nil, fmt.Errorf("document %d (%s) has no metadata.name", i, tm.Kind)
		}
		key := tm.Kind + "/" + meta.GetName()
		if _, dup := objs[key]; dup {
			return nil, fmt.Errorf("%s rendered twice", key)
		}
		objs[key] = obj
	}
	if len(objs) == 0 {
		return nil, fmt.Errorf("helm rendered no manifest")
	}
	return objs, nil
}

// blankYAML reports a document holding only comments (helm's "# Source:" lines) and whitespace.
func blankYAML(doc string) bool {
	for _, line := range strings.Split(doc, "\n") {
		line = strings.TrimSpace(line)
		if line != "" && !strings.HasPrefix(line, "#") {
			return false
		}
	}
	return true
}

// object returns the rendered object kind/name as its typed pointer, failing the test when absent.
func object[T any](t *testing.T, r rendered, kind, name string) *T {
	t.Helper()
	obj, ok := r[kind+"/"+name]
	if !ok {
		t.Fatalf("%s/%s not rendered; rendered: %v", kind, name, r.keys())
	}
	typed, ok := obj.(*T)
	if !ok {
		t.Fatalf("%s/%s decoded as %T", kind, name, obj)
	}
	return typed
}

// The decoder is only worth something if it refuses what the API server would: prove it on a typo.
func TestStrictDecodingRejectsMisspeltFields(t *testing.T) {
	good := "apiVersion: batch/v1\nkind: CronJob\nmetadata:\n  name: a\nspec:\n  schedule: \"* * * * *\"\n" +
		"  concurrencyPolicy: Forbid\n  jobTemplate:\n    spec:\n      template:\n        spec:\n" +
		"          containers: [{name: a, image: b}]\n"
	if _, err := decodeManifests(good); err != nil {
		t.Fatalf("valid CronJob rejected: %v", err)
	}
	for name, doc := range map[string]string{
		"misspelt field":  strings.Replace(good, "concurrencyPolicy", "concurencyPolicy", 1),
		"misplaced field": strings.Replace(good, "  schedule:", "  image: x\n  schedule:", 1),
		"duplicate field": strings.Replace(good, "  concurrencyPolicy: Forbid\n", "  concurrencyPolicy: Forbid\n  concurrencyPolicy: Allow\n", 1),
		"unknown kind":    strings.Replace(good, "kind: CronJob", "kind: CronJobs", 1),
		"wrong type":      strings.Replace(good, "concurrencyPolicy: Forbid", "concurrencyPolicy: [Forbid]", 1),
		"only comments":   "# Source: nothing\n",
	} {
		if _, err := decodeManifests(doc); err == nil {
			t.Errorf("%s: decoded without error", name)
		}
	}
}

func TestHelmLint(t *testing.T) {
	for name, args := range map[string][]string{
		"default values":    {"--set", "secretEnv.JWT_SECRET=lint-secret", "--set", "secretEnv.DATABASE_URL=postgres://u@db:5432/w"},
		"production values": {"-f", productionFile},
	} {
		t.Run(name, func(t *testing.T) {
			out, err := runHelm(t, append([]string{"lint", "--strict", chartPath}, args...)...)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(out, "0 chart(s) failed") {
				t.Fatalf("helm lint did not report a clean chart:\n%s", out)
			}
		})
	}
}

// The chart fails closed: without secrets, or with a grace period shorter than the drain, it refuses to
// render rather than deploy something that loses requests or runs with a guessed key.
func TestChartRefusesUnsafeValues(t *testing.T) {
	secrets := []string{"--set", "secretEnv.JWT_SECRET=s", "--set", "secretEnv.DATABASE_URL=postgres://u@db/w"}
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"no secrets at all", nil, "existingSecret"},
		{"no database URL", []string{"--set", "secretEnv.JWT_SECRET=s"}, "secretEnv.DATABASE_URL is empty"},
		{"no JWT secret", []string{"--set", "secretEnv.DATABASE_URL=postgres://u@db/w"}, "secretEnv.JWT_SECRET is empty"},
		{"api grace period equal to the drain", append([]string{"--set", "api.terminationGracePeriodSeconds=25"}, secrets...),
			"api.terminationGracePeriodSeconds must exceed"},
		{"relay grace period shorter than its drain", append([]string{"--set", "relay.terminationGracePeriodSeconds=10"}, secrets...),
			"relay.terminationGracePeriodSeconds must exceed"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := runHelm(t, append([]string{"template", releaseName, chartPath}, tc.args...)...)
			if err == nil {
				t.Fatalf("chart rendered; want a failure mentioning %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("failure does not mention %q: %v", tc.want, err)
			}
		})
	}
}

func TestChartDefaultValues(t *testing.T) {
	const jwt, dbURL = "test-jwt-secret", "postgres://wallet:pw@db.internal:25060/wallet_service?sslmode=require"
	r := renderChart(t, "--set", "secretEnv.JWT_SECRET="+jwt, "--set-string", "secretEnv.DATABASE_URL="+dbURL)
	values := loadValues(t, chartPath+"/values.yaml")

	assertSameSet(t, "rendered objects", r.keys(), []string{
		"CronJob/wallet-service-audit", "Deployment/wallet-service", "Deployment/wallet-service-relay",
		"Job/wallet-service-migrate", "NetworkPolicy/wallet-service-api", "NetworkPolicy/wallet-service-audit",
		"NetworkPolicy/wallet-service-migrate", "NetworkPolicy/wallet-service-relay",
		"PodDisruptionBudget/wallet-service", "Secret/wallet-service", "Service/wallet-service",
	})

	secret := object[corev1.Secret](t, r, "Secret", "wallet-service")
	if secret.StringData["JWT_SECRET"] != jwt || secret.StringData["DATABASE_URL"] != dbURL {
		t.Errorf("Secret stringData = %v, want the values set", secret.StringData)
	}
	assertHook(t, "Secret/wallet-service", secret.Annotations)

	want := expectations{
		image:      fmt.Sprintf("%s:%s", dig(t, values, "image.repository"), chartAppVersion(t)),
		secretName: "wallet-service",
		schedule:   dig(t, values, "audit.schedule").(string),
		otel:       dig(t, values, "env.OTEL_EXPORTER_OTLP_ENDPOINT").(string),
	}
	checkChart(t, r, want)

	api := object[appsv1.Deployment](t, r, "Deployment", "wallet-service")
	if api.Spec.Replicas == nil || *api.Spec.Replicas < 2 {
		t.Errorf("wallet-api replicas = %v without autoscaling; want 2 or more for the PDB to allow drains", api.Spec.Replicas)
	}
	if w, j := hookWeight(t, secret.Annotations), hookWeight(t, object[batchv1.Job](t, r, "Job", "wallet-service-migrate").Annotations); w >= j {
		t.Errorf("Secret hook weight %d must be below the migrate Job's %d: the Job reads it", w, j)
	}
}

func TestChartProductionValues(t *testing.T) {
	r := renderChart(t, "-f", productionFile)
	values := loadValues(t, productionFile)

	assertSameSet(t, "rendered objects", r.keys(), []string{
		"CronJob/wallet-service-audit", "Deployment/wallet-service", "Deployment/wallet-service-relay",
		"HorizontalPodAutoscaler/wallet-service", "Ingress/wallet-service", "Job/wallet-service-migrate",
		"NetworkPolicy/wallet-service-api", "NetworkPolicy/wallet-service-audit",
		"NetworkPolicy/wallet-service-migrate", "NetworkPolicy/wallet-service-relay",
		"PodDisruptionBudget/wallet-service", "Service/wallet-service",
	})
	checkChart(t, r, expectations{
		image:      fmt.Sprintf("%s:%s", dig(t, values, "image.repository"), dig(t, values, "image.tag")),
		secretName: dig(t, values, "existingSecret").(string),
		schedule:   dig(t, values, "audit.schedule").(string),
		otel:       dig(t, values, "env.OTEL_EXPORTER_OTLP_ENDPOINT").(string),
	})

	api := object[appsv1.Deployment](t, r, "Deployment", "wallet-service")
	if api.Spec.Replicas != nil {
		t.Errorf("wallet-api sets replicas=%d while the HPA owns the count; each upgrade would reset it", *api.Spec.Replicas)
	}
	hpa := object[autoscalingv2.HorizontalPodAutoscaler](t, r, "HorizontalPodAutoscaler", "wallet-service")
	if ref := hpa.Spec.ScaleTargetRef; ref.Kind != "Deployment" || ref.Name != api.Name || ref.APIVersion != "apps/v1" {
		t.Errorf("HPA targets %+v, want the wallet-api Deployment", ref)
	}
	if hpa.Spec.MinReplicas == nil || *hpa.Spec.MinReplicas < 2 || hpa.Spec.MaxReplicas < *hpa.Spec.MinReplicas {
		t.Errorf("HPA replicas min=%v max=%d; want 2 <= min <= max", hpa.Spec.MinReplicas, hpa.Spec.MaxReplicas)
	}
	ing := object[networkingv1.Ingress](t, r, "Ingress", "wallet-service")
	for _, rule := range ing.Spec.Rules {
		for _, p := range rule.HTTP.Paths {
			if b := p.Backend.Service; b == nil || b.Name != "wallet-service" || b.Port.Number != 8080 {
				t.Errorf("Ingress path %s backend %+v, want service wallet-service port 8080", p.Path, p.Backend)
			}
		}
	}
	if len(ing.Spec.TLS) == 0 {
		t.Error("production Ingress has no TLS")
	}
}
