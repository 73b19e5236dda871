package deploy

import (
	"context"
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/dotenv"
	"github.com/compose-spec/compose-go/v2/types"
)

const composeDir = "deploy/droplet" // relative to the repository root

// loadCompose loads deploy/droplet/docker-compose.yml the way `docker compose config` does (compose-go:
// schema validation, interpolation, normalisation, consistency checks), with env as the only environment:
// neither the caller's shell nor a developer's real .env leaks in.
func loadCompose(t *testing.T, env map[string]string) (*types.Project, error) {
	t.Helper()
	dir := filepath.Join(repoRoot(t), composeDir)
	var envList []string
	for k, v := range env {
		envList = append(envList, k+"="+v)
	}
	opts, err := cli.NewProjectOptions([]string{filepath.Join(dir, "docker-compose.yml")},
		cli.WithWorkingDirectory(dir),
		cli.WithEnv(envList),
		cli.WithResolvedPaths(true),
	)
	if err != nil {
		t.Fatalf("compose options: %v", err)
	}
	return opts.LoadProject(context.Background())
}

// exampleEnv is deploy/droplet/.env.example, the file the README tells operators to copy to .env.
func exampleEnv(t *testing.T) map[string]string {
	t.Helper()
	env, err := dotenv.GetEnvFromFile(nil, []string{filepath.Join(repoRoot(t), composeDir, ".env.example")})
	if err != nil {
		t.Fatalf("read .env.example: %v", err)
	}
	return env
}

func TestComposeFileIsValid(t *testing.T) {
	env := exampleEnv(t)
	p, err := loadCompose(t, env)
	if err != nil {
		t.Fatalf("docker-compose.yml does not load with .env.example: %v", err)
	}
	var names []string
	for name := range p.Services {
		names = append(names, name)
	}
	assertSameSet(t, "compose services", names, []string{
		"postgres", "migrate", "wallet-api", "relay", "nats", "alloy", "prometheus", "loki", "grafana",
	})

	binaries := dockerfileBinaries(t)
	root := repoRoot(t)
	for _, name := range []string{"migrate", "wallet-api", "relay"} {
		s := p.Services[name]
		if s.Build == nil || s.Build.Context != root || filepath.Base(s.Build.Dockerfile) != "Dockerfile" {
			t.Errorf("%s build %+v: want the repository's Dockerfile", name, s.Build)
		}
		if len(s.Command) != 1 || s.Command[0] != name || !slices.Contains(binaries, name) {
			t.Errorf("%s command %v: want [%s], a binary the image ships", name, s.Command, name)
		}
		if !s.ReadOnly || !slices.Equal(s.CapDrop, []string{"ALL"}) || !slices.Contains(s.SecurityOpt, "no-new-privileges:true") {
			t.Errorf("%s: want read_only, cap_drop [ALL] and no-new-privileges like the chart", name)
		}
		if got := envOf(s, "JWT_SECRET"); got != env["JWT_SECRET"] {
			t.Errorf("%s JWT_SECRET %q: want it from .env (%q), never written in the file", name, got, env["JWT_SECRET"])
		}
		db, err := url.Parse(envOf(s, "DATABASE_URL"))
		if err != nil || db.Hostname() != "postgres" || db.Path != "/wallet_service" {
			t.Errorf("%s DATABASE_URL %q: want the postgres service's wallet_service database (%v)", name, envOf(s, "DATABASE_URL"), err)
		} else if pw, _ := db.User.Password(); pw != env["POSTGRES_PASSWORD"] {
			t.Errorf("%s DATABASE_URL password does not come from POSTGRES_PASSWORD", name)
		}
		if otel := envOf(s, "OTEL_EXPORTER_OTLP_ENDPOINT"); otel != "http://alloy:4318" {
			t.Errorf("%s OTEL_EXPORTER_OTLP_ENDPOINT %q, want http://alloy:4318", name, otel)
		}
		assertDependsOn(t, p, name, "postgres", types.ServiceConditionHealthy)
	}

	migrate := p.Services["migrate"]
	if migrate.Restart != "no" && migrate.Restart != "" {
		t.Errorf("migrate restart %q: a one-shot must not restart", migrate.Restart)
	}
	for _, name := range []string{"wallet-api", "relay"} {
		assertDependsOn(t, p, name, "migrate", types.ServiceConditionCompletedSuccessfully)
	}
	api := p.Services["wallet-api"]
	if !slices.ContainsFunc(api.Ports, func(pc types.ServicePortConfig) bool { return pc.Target == 8080 && pc.Published == "8080" }) {
		t.Errorf("wallet-api ports %+v: want 8080 published on 8080", api.Ports)
	}
	relay := p.Services["relay"]
	if envOf(relay, "RELAY_PUBLISHER") != "nats" || envOf(relay, "NATS_URL") != "nats://nats:4222" {
		t.Errorf("relay RELAY_PUBLISHER=%q NATS_URL=%q: want nats via nats://nats:4222", envOf(relay, "RELAY_PUBLISHER"), envOf(relay, "NATS_URL"))
	}
	assertDependsOn(t, p, "relay", "nats", types.ServiceConditionHealthy)
	if r, err := time.ParseDuration(envOf(relay, "OUTBOX_RETENTION")); err != nil || r < 0 {
		t.Errorf("relay OUTBOX_RETENTION %q: want a Go duration such as 168h, or 0 (%v)", envOf(relay, "OUTBOX_RETENTION"), err)
	}
	if !slices.Contains(p.Services["nats"].Command, "-js") {
		t.Errorf("nats command %v: JetStream (-js) is off", p.Services["nats"].Command)
	}

	checkComposeHealthAndVolumes(t, p)
	checkGrafanaProvisioning(t, p)
}

// Every service another waits on as healthy has a health check, stateful services keep their data in
// named volumes, and every file bind-mounted into a container exists in the repository.
func checkComposeHealthAndVolumes(t *testing.T, p *types.Project) {
	t.Helper()
	for _, name := range []string{"postgres", "nats", "prometheus", "loki", "grafana"} {
		if hc := p.Services[name].HealthCheck; hc == nil || hc.Disable || len(hc.Test) == 0 {
			t.Errorf("%s has no health check", name)
		}
	}
	for name, s := range p.Services {
		for dep, d := range s.DependsOn {
			if hc := p.Services[dep].HealthCheck; d.Condition == types.ServiceConditionHealthy && (hc == nil || hc.Disable) {
				t.Errorf("%s waits for %s to be healthy, but %s has no health check: it would never start", name, dep, dep)
			}
		}
		for _, v := range s.Volumes {
			switch v.Type {
			case types.VolumeTypeVolume:
				if _, ok := p.Volumes[v.Source]; !ok {
					t.Errorf("%s mounts volume %q that is not declared", name, v.Source)
				}
			case types.VolumeTypeBind:
				// docker would create a missing source as an empty directory and the service would start
				// without its config.
				if _, err := os.Stat(v.Source); err != nil {
					t.Errorf("%s bind-mounts %s, which does not exist: %v", name, v.Source, err)
				}
			}
		}
	}
	for _, name := range []string{"postgres", "nats", "prometheus", "loki", "grafana", "alloy"} {
		if !slices.ContainsFunc(p.Services[name].Volumes, func(v types.ServiceVolumeConfig) bool { return v.Type == types.VolumeTypeVolume }) {
			t.Errorf("%s keeps its data in no named volume", name)
		}
	}
}

// Grafana's file provider loads the dashboard JSON mounted from ../doks/observability; it must be one
// dashboard model (an object with a title and panels), or Grafana skips it silently.
func checkGrafanaProvisioning(t *testing.T, p *types.Project) {
	t.Helper()
	for _, v := range p.Services["grafana"].Volumes {
		if !strings.HasSuffix(v.Source, filepath.Join("doks", "observability", "grafana", "dashboards.json")) {
			continue
		}
		raw, err := os.ReadFile(v.Source)
		if err != nil {
			return // reported by the bind-mount check
		}
		var dash struct {
			Title  string            `json:"title"`
			Panels []json.RawMessage `json:"panels"`
		}
		if err := json.Unmarshal(raw, &dash); err != nil || dash.Title == "" || len(dash.Panels) == 0 {
			t.Errorf("%s is not a Grafana dashboard model with a title and panels (err %v)", v.Source, err)
		}
		if !strings.HasPrefix(v.Target, "/var/lib/grafana/dashboards/") {
			t.Errorf("dashboards.json mounted at %s, outside the provider's path", v.Target)
		}
		return
	}
	t.Error("grafana does not mount ../doks/observability/grafana/dashboards.json")
}

// The compose file holds no secret: each one must come from .env, and a missing one stops compose.
func TestComposeRequiresSecrets(t *testing.T) {
	for _, key := range []string{"JWT_SECRET", "POSTGRES_PASSWORD", "GRAFANA_ADMIN_PASSWORD"} {
		t.Run(key, func(t *testing.T) {
			env := exampleEnv(t)
			if env[key] == "" {
				t.Fatalf(".env.example does not list %s", key)
			}
			delete(env, key)
			if _, err := loadCompose(t, env); err == nil || !strings.Contains(err.Error(), key) {
				t.Fatalf("compose loaded without %s (err %v); it must refuse", key, err)
			}
		})
	}
}

func assertDependsOn(t *testing.T, p *types.Project, service, dep, condition string) {
	t.Helper()
	d, ok := p.Services[service].DependsOn[dep]
	if !ok || d.Condition != condition {
		t.Errorf("%s depends_on %s = %+v, want condition %s", service, dep, d, condition)
	}
}

func envOf(s types.ServiceConfig, key string) string {
	if v := s.Environment[key]; v != nil {
		return *v
	}
	return ""
}
