package deploy

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
)

// deploymentDocs are the documents whose deployment steps and paths must match these files: the deployment guide
// (deploy/README.md), the repository README and the reference in docs/ (operations.md holds the observability
// steps on DOKS).
func deploymentDocs(t *testing.T) []string {
	t.Helper()
	docs, err := filepath.Glob(filepath.Join(repoRoot(t), "docs", "*.md"))
	if err != nil || len(docs) == 0 {
		t.Fatalf("no docs/*.md: %v", err)
	}
	out := []string{"deploy/README.md", "README.md"}
	for _, d := range docs {
		out = append(out, filepath.Join("docs", filepath.Base(d)))
	}
	return out
}

// placeholders stand in for what an operator types; $TAG for the README's `TAG="$(git rev-parse ...)"`.
var placeholders = strings.NewReplacer("<org>", "example-org", "<secure-secret>", "readme-jwt-secret",
	"<user>", "wallet", "<password>", "pw", "<db-host>", "db.example.internal", `"${TAG}"`, "abc1234", "${TAG}", "abc1234")

// shellCommands returns the commands of the ```bash blocks, continuation lines joined.
func shellCommands(doc string) []string {
	var cmds []string
	in := false
	var cur strings.Builder
	for _, line := range strings.Split(doc, "\n") {
		trimmed := strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(trimmed, "```bash"):
			in = true
			continue
		case strings.HasPrefix(trimmed, "```"):
			in = false
			continue
		case !in || trimmed == "":
			continue
		}
		if strings.HasSuffix(trimmed, `\`) {
			cur.WriteString(strings.TrimSuffix(trimmed, `\`))
			continue
		}
		cur.WriteString(trimmed)
		cmds = append(cmds, cur.String())
		cur.Reset()
	}
	return cmds
}

// shellWords splits a command like sh would for the quoting the README uses ('...' and "..."), and stops
// at an unquoted # comment.
func shellWords(cmd string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord := false
	var quote rune
	for _, r := range cmd {
		switch {
		case quote != 0 && r == quote:
			quote = 0
		case quote != 0:
			cur.WriteRune(r)
		case r == '\'' || r == '"':
			quote, inWord = r, true
		case r == '#' && !inWord:
			return words, nil
		case r == ' ' || r == '\t':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("unterminated quote in %q", cmd)
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}

var (
	repoPath    = regexp.MustCompile(`(?:deploy/(?:doks|droplet)|\.github/workflows|scripts)(?:/[\w.-]+)*`)
	kubectlRef  = regexp.MustCompile(`\b(svc|deploy|cronjob)/([a-z0-9-]+)`)
	secretNamed = regexp.MustCompile(`create secret generic ([a-z0-9-]+)`)
)

// Every path the deployment docs name exists, every `helm upgrade --install` renders with the chart and
// sets what it claims, and every object kubectl is pointed at is one the chart creates.
func TestDeploymentDocsMatchTheFiles(t *testing.T) {
	root := repoRoot(t)
	var docs []string
	for _, name := range deploymentDocs(t) {
		raw, err := os.ReadFile(filepath.Join(root, name))
		if err != nil {
			t.Fatalf("read %s: %v", name, err)
		}
		docs = append(docs, string(raw))
	}

	rendered := map[string]bool{} // Kind/name of everything the README's helm commands produce
	secretRefs := map[string]bool{}
	helmRuns := 0
	for _, doc := range docs {
		for _, p := range repoPath.FindAllString(doc, -1) {
			if _, err := os.Stat(filepath.Join(root, strings.TrimSuffix(p, "."))); err != nil {
				t.Errorf("deployment docs name %s, which does not exist", p)
			}
		}
		for _, cmd := range shellCommands(doc) {
			if !strings.HasPrefix(cmd, "helm upgrade --install") {
				continue
			}
			helmRuns++
			r := renderReadmeCommand(t, placeholders.Replace(cmd))
			for k, obj := range r {
				rendered[k] = true
				if d, ok := obj.(*appsv1.Deployment); ok {
					for _, e := range d.Spec.Template.Spec.Containers[0].Env {
						if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
							secretRefs[e.ValueFrom.SecretKeyRef.Name] = true
						}
					}
				}
			}
		}
	}
	if helmRuns == 0 {
		t.Fatal("deployment docs hold no `helm upgrade --install` command")
	}
	kinds := map[string]string{"svc": "Service", "deploy": "Deployment", "cronjob": "CronJob"}
	for _, doc := range docs {
		for _, cmd := range shellCommands(doc) {
			if !strings.HasPrefix(cmd, "kubectl") {
				continue
			}
			// The observability namespace holds the upstream charts (Grafana, Prometheus, Loki, Alloy), not ours.
			if strings.Contains(cmd, "-n observability") {
				continue
			}
			for _, m := range kubectlRef.FindAllStringSubmatch(cmd, -1) {
				if !rendered[kinds[m[1]]+"/"+m[2]] {
					t.Errorf("`%s` names %s/%s, which the chart does not create", cmd, m[1], m[2])
				}
			}
			for _, m := range secretNamed.FindAllStringSubmatch(cmd, -1) {
				if !secretRefs[m[1]] {
					t.Errorf("docs create Secret %s, but no helm command of theirs makes the chart read it", m[1])
				}
			}
		}
	}
}

// renderReadmeCommand turns `helm upgrade --install NAME CHART ...` into `helm template` with the same
// flags and checks that the --set values it passes land where the names say.
func renderReadmeCommand(t *testing.T, cmd string) rendered {
	t.Helper()
	words, err := shellWords(cmd)
	if err != nil {
		t.Fatal(err)
	}
	if len(words) < 5 || words[3] != releaseName || words[4] != chartPath {
		t.Fatalf("`%s`: want `helm upgrade --install %s %s ...`", cmd, releaseName, chartPath)
	}
	args := []string{}
	sets := map[string]string{}
	for i := 5; i < len(words); i++ {
		switch w := words[i]; w {
		case "--create-namespace":
		case "--namespace", "-n", "-f", "--values":
			if i+1 >= len(words) {
				t.Fatalf("`%s`: %s without a value", cmd, w)
			}
			args = append(args, w, words[i+1])
			i++
		case "--set", "--set-string":
			if i+1 >= len(words) {
				t.Fatalf("`%s`: %s without a value", cmd, w)
			}
			k, v, _ := strings.Cut(words[i+1], "=")
			sets[k] = v
			args = append(args, w, words[i+1])
			i++
		default:
			t.Fatalf("`%s`: flag %q is not covered by this check; teach renderReadmeCommand about it", cmd, w)
		}
	}
	out, err := runHelm(t, append([]string{"template", releaseName, chartPath}, args...)...)
	if err != nil {
		t.Fatalf("README command does not render: %v", err)
	}
	r, err := decodeManifests(out)
	if err != nil {
		t.Fatalf("README command renders invalid manifests: %v", err)
	}
	api := object[appsv1.Deployment](t, r, "Deployment", releaseName).Spec.Template.Spec.Containers[0]
	if repo, ok := sets["image.repository"]; ok {
		if want := repo + ":" + sets["image.tag"]; api.Image != want {
			t.Errorf("`%s` runs image %s, want %s", cmd, api.Image, want)
		}
	}
	if otel, ok := sets["env.OTEL_EXPORTER_OTLP_ENDPOINT"]; ok && envValue(api, "OTEL_EXPORTER_OTLP_ENDPOINT") != otel {
		t.Errorf("`%s`: OTEL_EXPORTER_OTLP_ENDPOINT %q, want %q", cmd, envValue(api, "OTEL_EXPORTER_OTLP_ENDPOINT"), otel)
	}
	for _, key := range []string{"JWT_SECRET", "DATABASE_URL"} {
		if v, ok := sets["secretEnv."+key]; ok {
			if s := object[corev1.Secret](t, r, "Secret", releaseName); s.StringData[key] != v {
				t.Errorf("`%s`: Secret %s = %q, want %q", cmd, key, s.StringData[key], v)
			}
		}
	}
	return r
}

func TestShellWords(t *testing.T) {
	got, err := shellWords(`helm --set a='x y' --set b="q=1?z" plain # comment 'x`)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"helm", "--set", "a=x y", "--set", "b=q=1?z", "plain"}; !slices.Equal(got, want) {
		t.Errorf("shellWords = %q, want %q", got, want)
	}
	if _, err := shellWords(`echo 'open`); err == nil {
		t.Error("unterminated quote accepted")
	}
}
