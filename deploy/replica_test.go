package deploy

import (
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
)

// The read replica (READ_DATABASE_URL, docs/read-replicas.md) reaches wallet-api from a Secret, with its tuning from
// values; the relay and the audit CronJob get the URL alone, for their full sweeps; without readReplica.enabled
// nothing of it is rendered.
func TestChartReadReplica(t *testing.T) {
	const replicaURL = "postgres://wallet:pw@replica-db.internal:25060/wallet_service?sslmode=require"
	base := []string{"--set", "secretEnv.JWT_SECRET=s", "--set-string", "secretEnv.DATABASE_URL=postgres://u@db/w"}

	off := renderChart(t, base...)
	for _, name := range []string{"wallet-service", "wallet-service-relay"} {
		c := object[appsv1.Deployment](t, off, "Deployment", name).Spec.Template.Spec.Containers[0]
		for _, key := range []string{"READ_DATABASE_URL", "REPLICA_MAX_WAIT", "REPLICA_MAX_LAG", "REPLICA_CHECK_INTERVAL"} {
			if hasEnv(c, key) {
				t.Errorf("%s sets %s although readReplica.enabled is false", name, key)
			}
		}
	}
	if _, ok := object[corev1.Secret](t, off, "Secret", "wallet-service").StringData["READ_DATABASE_URL"]; ok {
		t.Error("the Secret holds READ_DATABASE_URL although none was given")
	}

	on := renderChart(t, append(base, "--set", "readReplica.enabled=true", "--set-string",
		"secretEnv.READ_DATABASE_URL="+replicaURL, "--set", "readReplica.maxWait=250ms")...)
	if got := object[corev1.Secret](t, on, "Secret", "wallet-service").StringData["READ_DATABASE_URL"]; got != replicaURL {
		t.Errorf("Secret READ_DATABASE_URL = %q, want %q", got, replicaURL)
	}
	api := object[appsv1.Deployment](t, on, "Deployment", "wallet-service").Spec.Template.Spec.Containers[0]
	checkReplicaEnv(t, api, "wallet-service")
	if got := envValue(api, "REPLICA_MAX_WAIT"); got != "250ms" {
		t.Errorf("REPLICA_MAX_WAIT = %q, want the value set (250ms)", got)
	}
	relay := object[appsv1.Deployment](t, on, "Deployment", "wallet-service-relay").Spec.Template.Spec.Containers[0]
	audit := object[batchv1.CronJob](t, on, "CronJob", "wallet-service-audit").Spec.JobTemplate.Spec.Template.Spec.Containers[0]
	for name, c := range map[string]corev1.Container{"relay": relay, "audit CronJob": audit} {
		if ref := secretRef(c, "READ_DATABASE_URL"); ref == nil || ref.Name != "wallet-service" || ref.Key != "READ_DATABASE_URL" {
			t.Errorf("%s READ_DATABASE_URL from %+v, want Secret wallet-service key READ_DATABASE_URL", name, ref)
		}
		if hasEnv(c, "REPLICA_MAX_WAIT") {
			t.Errorf("%s gets wallet-api's read routing tuning", name)
		}
	}
	offAudit := object[batchv1.CronJob](t, off, "CronJob", "wallet-service-audit").Spec.JobTemplate.Spec.Template.Spec.Containers[0]
	if hasEnv(offAudit, "READ_DATABASE_URL") {
		t.Error("the audit CronJob sets READ_DATABASE_URL although readReplica.enabled is false")
	}

	// With existingSecret the chart holds no secret: the key must be in the operator's Secret.
	ext := renderChart(t, "--set", "existingSecret=ops-secrets", "--set", "readReplica.enabled=true")
	checkReplicaEnv(t, object[appsv1.Deployment](t, ext, "Deployment", "wallet-service").Spec.Template.Spec.Containers[0], "ops-secrets")

	// Enabled with nowhere to take the URL from: refused, never rendered with a guess.
	_, err := runHelm(t, append([]string{"template", releaseName, chartPath, "--set", "readReplica.enabled=true"}, base...)...)
	if err == nil || !strings.Contains(err.Error(), "readReplica.enabled needs secretEnv.READ_DATABASE_URL") {
		t.Errorf("readReplica.enabled without a URL rendered (err %v); it must refuse", err)
	}
}

// secretRef returns where c takes the variable name from, nil unless from a Secret.
func secretRef(c corev1.Container, name string) *corev1.SecretKeySelector {
	for _, e := range c.Env {
		if e.Name == name && e.ValueFrom != nil {
			return e.ValueFrom.SecretKeyRef
		}
	}
	return nil
}

func checkReplicaEnv(t *testing.T, c corev1.Container, secret string) {
	t.Helper()
	ref := secretRef(c, "READ_DATABASE_URL")
	if ref == nil || ref.Name != secret || ref.Key != "READ_DATABASE_URL" {
		t.Errorf("wallet-api READ_DATABASE_URL from %+v, want Secret %s key READ_DATABASE_URL, never a literal", ref, secret)
	}
	for _, key := range []string{"REPLICA_MAX_WAIT", "REPLICA_MAX_LAG", "REPLICA_CHECK_INTERVAL"} {
		if d, err := time.ParseDuration(envValue(c, key)); err != nil || d <= 0 {
			t.Errorf("wallet-api %s = %q: want a positive Go duration (%v)", key, envValue(c, key), err)
		}
	}
}

func hasEnv(c corev1.Container, name string) bool {
	for _, e := range c.Env {
		if e.Name == name {
			return true
		}
	}
	return false
}

// The compose stack passes READ_DATABASE_URL from .env to wallet-api and the relay (empty, the default, means the primary serves
// every read) with durations the service accepts.
func TestComposeReadReplica(t *testing.T) {
	env := exampleEnv(t)
	p, err := loadCompose(t, env)
	if err != nil {
		t.Fatalf("docker-compose.yml does not load with .env.example: %v", err)
	}
	api := p.Services["wallet-api"]
	if got := envOf(api, "READ_DATABASE_URL"); got != "" {
		t.Errorf("wallet-api READ_DATABASE_URL = %q by default, want empty (no replica)", got)
	}
	for _, key := range []string{"REPLICA_MAX_WAIT", "REPLICA_MAX_LAG"} {
		if d, err := time.ParseDuration(envOf(api, key)); err != nil || d <= 0 {
			t.Errorf("wallet-api %s = %q: want a positive Go duration (%v)", key, envOf(api, key), err)
		}
	}
	const replicaURL = "postgres://doadmin:pw@replica-db.example:25060/wallet_service?sslmode=require"
	env["READ_DATABASE_URL"] = replicaURL
	if p, err = loadCompose(t, env); err != nil {
		t.Fatal(err)
	}
	if got := envOf(p.Services["wallet-api"], "READ_DATABASE_URL"); got != replicaURL {
		t.Errorf("wallet-api READ_DATABASE_URL = %q, want it from .env (%q)", got, replicaURL)
	}
	if got := envOf(p.Services["relay"], "READ_DATABASE_URL"); got != replicaURL {
		t.Errorf("the relay READ_DATABASE_URL = %q, want it from .env (%q) for its full sweeps", got, replicaURL)
	}
}

// Every table or stream the relay fills is bounded by default: the outbox (OUTBOX_RETENTION), the JetStream stream
// it publishes to (NATS_STREAM_MAX_AGE) and the SQL topic (RELAY_SQL_TOPIC_RETENTION), in the chart and the compose
// stack alike.
func TestRelayRetentionIsBoundedByDefault(t *testing.T) {
	r := renderChart(t, "--set", "secretEnv.JWT_SECRET=s", "--set-string", "secretEnv.DATABASE_URL=postgres://u@db/w")
	relay := object[appsv1.Deployment](t, r, "Deployment", "wallet-service-relay").Spec.Template.Spec.Containers[0]
	p, err := loadCompose(t, exampleEnv(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"OUTBOX_RETENTION", "NATS_STREAM_MAX_AGE", "RELAY_SQL_TOPIC_RETENTION"} {
		if d, err := time.ParseDuration(envValue(relay, key)); err != nil || d < 2*time.Minute {
			t.Errorf("chart relay %s = %q: want a bounded retention of at least 2m (%v)", key, envValue(relay, key), err)
		}
	}
	composeRelay := p.Services["relay"]
	for _, key := range []string{"OUTBOX_RETENTION", "NATS_STREAM_MAX_AGE"} {
		if d, err := time.ParseDuration(envOf(composeRelay, key)); err != nil || d < 2*time.Minute {
			t.Errorf("compose relay %s = %q: want a bounded retention of at least 2m (%v)", key, envOf(composeRelay, key), err)
		}
	}
}
