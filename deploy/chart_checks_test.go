package deploy

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"
)

// expectations are what one set of values must produce in every workload.
type expectations struct {
	image      string // repository:tag of every container
	secretName string // Secret every DATABASE_URL / JWT_SECRET reference names
	schedule   string // audit CronJob schedule
	otel       string // OTEL_EXPORTER_OTLP_ENDPOINT of every container
}

// checkChart runs the checks every rendering must pass, whatever the values.
func checkChart(t *testing.T, r rendered, want expectations) {
	t.Helper()
	binaries := dockerfileBinaries(t)

	api := object[appsv1.Deployment](t, r, "Deployment", "wallet-service")
	checkPodSpec(t, "Deployment/wallet-service", api.Spec.Template.Spec, want, binaries)
	checkAPI(t, r, api)

	relay := object[appsv1.Deployment](t, r, "Deployment", "wallet-service-relay")
	checkPodSpec(t, "Deployment/wallet-service-relay", relay.Spec.Template.Spec, want, binaries)
	checkRelay(t, relay)

	audit := object[batchv1.CronJob](t, r, "CronJob", "wallet-service-audit")
	checkPodSpec(t, "CronJob/wallet-service-audit", audit.Spec.JobTemplate.Spec.Template.Spec, want, binaries)
	checkAudit(t, audit, want.schedule)

	migrate := object[batchv1.Job](t, r, "Job", "wallet-service-migrate")
	checkPodSpec(t, "Job/wallet-service-migrate", migrate.Spec.Template.Spec, want, binaries)
	checkMigrate(t, migrate)

	for _, w := range []struct {
		component string
		labels    map[string]string
	}{
		{"api", api.Spec.Template.Labels}, {"relay", relay.Spec.Template.Labels},
		{"audit", audit.Spec.JobTemplate.Spec.Template.Labels}, {"migrate", migrate.Spec.Template.Labels},
	} {
		np := object[networkingv1.NetworkPolicy](t, r, "NetworkPolicy", "wallet-service-"+w.component)
		assertSelects(t, "NetworkPolicy/"+np.Name, &np.Spec.PodSelector, w.labels)
		if !slices.Contains(np.Spec.PolicyTypes, networkingv1.PolicyTypeIngress) || !slices.Contains(np.Spec.PolicyTypes, networkingv1.PolicyTypeEgress) {
			t.Errorf("NetworkPolicy/%s policyTypes %v: want Ingress and Egress", np.Name, np.Spec.PolicyTypes)
		}
	}
	checkWebhookWiring(t, r, want, map[string]corev1.PodSpec{"api": api.Spec.Template.Spec,
		"relay": relay.Spec.Template.Spec, "audit": audit.Spec.JobTemplate.Spec.Template.Spec,
		"migrate": migrate.Spec.Template.Spec})
	// Jobs serve nothing: their policies admit no ingress at all.
	for _, name := range []string{"wallet-service-audit", "wallet-service-migrate"} {
		if np := object[networkingv1.NetworkPolicy](t, r, "NetworkPolicy", name); len(np.Spec.Ingress) != 0 {
			t.Errorf("NetworkPolicy/%s admits ingress %+v", name, np.Spec.Ingress)
		}
	}
}

// checkPodSpec holds the hardening and wiring every wallet pod shares.
func checkPodSpec(t *testing.T, where string, spec corev1.PodSpec, want expectations, binaries []string) {
	t.Helper()
	if spec.AutomountServiceAccountToken == nil || *spec.AutomountServiceAccountToken {
		t.Errorf("%s mounts a service account token; no process talks to the Kubernetes API", where)
	}
	psc := spec.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser == 0 {
		t.Errorf("%s pod securityContext %+v: want runAsNonRoot and a non-zero runAsUser", where, psc)
	} else if psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("%s pod seccompProfile %+v: want RuntimeDefault", where, psc.SeccompProfile)
	}
	volumes := map[string]bool{}
	for _, v := range spec.Volumes {
		volumes[v.Name] = true
	}
	if len(spec.Containers) != 1 || len(spec.InitContainers) != 0 {
		t.Fatalf("%s has %d containers and %d init containers; want exactly one container", where, len(spec.Containers), len(spec.InitContainers))
	}
	c := spec.Containers[0]
	where += " container " + c.Name
	if c.Image != want.image {
		t.Errorf("%s image %q, want %q", where, c.Image, want.image)
	}
	if len(c.Command) != 1 || !slices.Contains(binaries, c.Command[0]) {
		t.Errorf("%s command %v: want one binary the Dockerfile ships %v", where, c.Command, binaries)
	}
	sc := c.SecurityContext
	switch {
	case sc == nil:
		t.Errorf("%s has no securityContext", where)
	case sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation:
		t.Errorf("%s allows privilege escalation", where)
	case sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem:
		t.Errorf("%s root filesystem is writable", where)
	case sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot:
		t.Errorf("%s does not require a non-root user", where)
	case sc.Privileged != nil && *sc.Privileged:
		t.Errorf("%s is privileged", where)
	case sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") || len(sc.Capabilities.Add) != 0:
		t.Errorf("%s capabilities %+v: want drop [ALL] and nothing added", where, sc.Capabilities)
	case sc.SeccompProfile == nil || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault:
		t.Errorf("%s seccompProfile %+v: want RuntimeDefault", where, sc.SeccompProfile)
	}
	if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
		t.Errorf("%s resources %+v: want cpu and memory requests and a memory limit", where, c.Resources)
	}
	for _, m := range c.VolumeMounts {
		if !volumes[m.Name] {
			t.Errorf("%s mounts undeclared volume %q", where, m.Name)
		}
	}
	env := map[string]corev1.EnvVar{}
	for _, e := range c.Env {
		if _, dup := env[e.Name]; dup {
			t.Errorf("%s sets env %s twice", where, e.Name)
		}
		env[e.Name] = e
	}
	for _, key := range []string{"DATABASE_URL", "JWT_SECRET"} {
		e, ok := env[key]
		if !ok || e.Value != "" || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil {
			t.Errorf("%s env %s = %+v: want it from a Secret, never a literal", where, key, e)
			continue
		}
		if ref := e.ValueFrom.SecretKeyRef; ref.Name != want.secretName || ref.Key != key {
			t.Errorf("%s env %s reads secret %s key %s, want %s key %s", where, key, ref.Name, ref.Key, want.secretName, key)
		}
	}
	if got := env["OTEL_EXPORTER_OTLP_ENDPOINT"].Value; got != want.otel {
		t.Errorf("%s OTEL_EXPORTER_OTLP_ENDPOINT %q, want %q", where, got, want.otel)
	}
}

// checkAPI: probes, graceful termination, and the Service/PDB that must find the pods.
func checkAPI(t *testing.T, r rendered, d *appsv1.Deployment) {
	t.Helper()
	spec := d.Spec.Template.Spec
	c := spec.Containers[0]
	assertSelects(t, "Deployment/wallet-service", d.Spec.Selector, d.Spec.Template.Labels)
	assertProbe(t, "wallet-api readiness", c, c.ReadinessProbe, "/v1/ready", 8080)
	assertProbe(t, "wallet-api liveness", c, c.LivenessProbe, "/v1/health", 8080)
	if c.StartupProbe != nil {
		assertProbe(t, "wallet-api startup", c, c.StartupProbe, "/v1/health", 8080)
	}
	if addr := envValue(c, "HTTP_ADDR"); addr != ":8080" {
		t.Errorf("wallet-api HTTP_ADDR %q, want :8080 (the port the probes and Service use)", addr)
	}
	if routes := envValue(c, "API_ROUTES"); !slices.Contains([]string{"all", "command", "query"}, routes) {
		t.Errorf("wallet-api API_ROUTES %q", routes)
	}
	if c.Lifecycle == nil || c.Lifecycle.PreStop == nil || c.Lifecycle.PreStop.Sleep == nil || c.Lifecycle.PreStop.Sleep.Seconds <= 0 {
		t.Fatalf("wallet-api has no preStop sleep; endpoints would still route to a pod that is draining")
	}
	preStop := time.Duration(c.Lifecycle.PreStop.Sleep.Seconds) * time.Second
	drain := envDuration(t, "wallet-api", c, "SHUTDOWN_TIMEOUT")
	if grace := terminationGrace(t, "wallet-api", spec); grace <= preStop+drain {
		t.Errorf("wallet-api terminationGracePeriodSeconds %v <= preStop %v + SHUTDOWN_TIMEOUT %v: pods are killed mid-drain", grace, preStop, drain)
	}

	svc := object[corev1.Service](t, r, "Service", "wallet-service")
	if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Port != 8080 || containerPort(t, c, svc.Spec.Ports[0].TargetPort) != 8080 {
		t.Errorf("Service/wallet-service ports %+v: want 8080 onto the container's 8080", svc.Spec.Ports)
	}
	assertSelects(t, "Service/wallet-service", &metav1.LabelSelector{MatchLabels: svc.Spec.Selector}, d.Spec.Template.Labels)

	pdb := object[policyv1.PodDisruptionBudget](t, r, "PodDisruptionBudget", "wallet-service")
	assertSelects(t, "PodDisruptionBudget/wallet-service", pdb.Spec.Selector, d.Spec.Template.Labels)
	if pdb.Spec.MinAvailable == nil && pdb.Spec.MaxUnavailable == nil {
		t.Error("PodDisruptionBudget/wallet-service sets neither minAvailable nor maxUnavailable")
	}
	np := object[networkingv1.NetworkPolicy](t, r, "NetworkPolicy", "wallet-service-api")
	assertIngressPorts(t, np, 8080)
}

func checkRelay(t *testing.T, d *appsv1.Deployment) {
	t.Helper()
	c := d.Spec.Template.Spec.Containers[0]
	assertSelects(t, "Deployment/wallet-service-relay", d.Spec.Selector, d.Spec.Template.Labels)
	if c.Command[0] != "relay" {
		t.Errorf("relay command %v", c.Command)
	}
	assertProbe(t, "relay readiness", c, c.ReadinessProbe, "/v1/ready", 8081)
	assertProbe(t, "relay liveness", c, c.LivenessProbe, "/v1/health", 8081)
	if addr := envValue(c, "RELAY_HTTP_ADDR"); addr != ":8081" {
		t.Errorf("relay RELAY_HTTP_ADDR %q, want :8081", addr)
	}
	if p := envValue(c, "RELAY_PUBLISHER"); p != "sql" && p != "nats" {
		t.Errorf("relay RELAY_PUBLISHER %q, want sql or nats", p)
	}
	if d.Spec.Replicas == nil || *d.Spec.Replicas < 1 {
		t.Errorf("relay replicas %v", d.Spec.Replicas)
	}
	drain := envDuration(t, "relay", c, "SHUTDOWN_TIMEOUT")
	if grace := terminationGrace(t, "relay", d.Spec.Template.Spec); grace <= drain {
		t.Errorf("relay terminationGracePeriodSeconds %v <= SHUTDOWN_TIMEOUT %v", grace, drain)
	}
	// The relay refuses to start on a malformed retention; "0" (keep every row) is allowed.
	if r, err := time.ParseDuration(envValue(c, "OUTBOX_RETENTION")); err != nil || r < 0 {
		t.Errorf("relay OUTBOX_RETENTION %q: want a Go duration such as 168h, or 0 (%v)", envValue(c, "OUTBOX_RETENTION"), err)
	}
}

func checkAudit(t *testing.T, cj *batchv1.CronJob, schedule string) {
	t.Helper()
	if cj.Spec.Schedule != schedule {
		t.Errorf("audit schedule %q, want the values' %q", cj.Spec.Schedule, schedule)
	}
	if fields := strings.Fields(cj.Spec.Schedule); len(fields) != 5 {
		t.Errorf("audit schedule %q is not a five-field cron expression", cj.Spec.Schedule)
	}
	if cj.Spec.ConcurrencyPolicy != batchv1.ForbidConcurrent {
		t.Errorf("audit concurrencyPolicy %q, want Forbid: two sweeps must never overlap", cj.Spec.ConcurrencyPolicy)
	}
	if cj.Spec.FailedJobsHistoryLimit == nil || *cj.Spec.FailedJobsHistoryLimit < 1 {
		t.Errorf("audit failedJobsHistoryLimit %v: failed sweeps must stay visible", cj.Spec.FailedJobsHistoryLimit)
	}
	job := cj.Spec.JobTemplate.Spec
	if job.BackoffLimit == nil || job.ActiveDeadlineSeconds == nil {
		t.Errorf("audit Job backoffLimit %v activeDeadlineSeconds %v: want both bounded", job.BackoffLimit, job.ActiveDeadlineSeconds)
	}
	if job.Template.Spec.RestartPolicy != corev1.RestartPolicyNever {
		t.Errorf("audit restartPolicy %q, want Never (podFailurePolicy requires it)", job.Template.Spec.RestartPolicy)
	}
	if c := job.Template.Spec.Containers[0]; c.Command[0] != "audit" {
		t.Errorf("audit command %v", c.Command)
	}
	// Exit 1 is a discrepancy: it must fail the Job at once rather than be retried into a pass.
	failsOnDiscrepancy := false
	if job.PodFailurePolicy != nil {
		for _, rule := range job.PodFailurePolicy.Rules {
			if rule.Action == batchv1.PodFailurePolicyActionFailJob && rule.OnExitCodes != nil &&
				rule.OnExitCodes.Operator == batchv1.PodFailurePolicyOnExitCodesOpIn && slices.Contains(rule.OnExitCodes.Values, 1) {
				failsOnDiscrepancy = true
			}
		}
	}
	if !failsOnDiscrepancy {
		t.Errorf("audit podFailurePolicy %+v: want FailJob on exit code 1", job.PodFailurePolicy)
	}
}

func checkMigrate(t *testing.T, j *batchv1.Job) {
	t.Helper()
	assertHook(t, "Job/wallet-service-migrate", j.Annotations)
	if c := j.Spec.Template.Spec.Containers[0]; c.Command[0] != "migrate" {
		t.Errorf("migrate command %v", c.Command)
	}
	if j.Spec.Template.Spec.RestartPolicy != corev1.RestartPolicyNever || j.Spec.BackoffLimit == nil || j.Spec.ActiveDeadlineSeconds == nil {
		t.Errorf("migrate Job restartPolicy %q backoffLimit %v activeDeadlineSeconds %v: want Never and both bounded",
			j.Spec.Template.Spec.RestartPolicy, j.Spec.BackoffLimit, j.Spec.ActiveDeadlineSeconds)
	}
}

// assertHook: the object runs before install and before upgrade.
func assertHook(t *testing.T, where string, annotations map[string]string) {
	t.Helper()
	hooks := strings.Split(annotations["helm.sh/hook"], ",")
	if !slices.Contains(hooks, "pre-install") || !slices.Contains(hooks, "pre-upgrade") {
		t.Errorf("%s helm.sh/hook %q: want pre-install and pre-upgrade", where, annotations["helm.sh/hook"])
	}
	if !strings.Contains(annotations["helm.sh/hook-delete-policy"], "before-hook-creation") {
		t.Errorf("%s hook-delete-policy %q: without before-hook-creation the next upgrade collides with the old object",
			where, annotations["helm.sh/hook-delete-policy"])
	}
}

func hookWeight(t *testing.T, annotations map[string]string) int {
	t.Helper()
	w, err := strconv.Atoi(annotations["helm.sh/hook-weight"])
	if err != nil {
		t.Fatalf("hook weight %q: %v", annotations["helm.sh/hook-weight"], err)
	}
	return w
}

func assertProbe(t *testing.T, where string, c corev1.Container, p *corev1.Probe, path string, port int32) {
	t.Helper()
	if p == nil || p.HTTPGet == nil {
		t.Errorf("%s probe missing or not httpGet: %+v", where, p)
		return
	}
	if p.HTTPGet.Path != path || containerPort(t, c, p.HTTPGet.Port) != port {
		t.Errorf("%s probe GET %s on %s, want %s on %d", where, p.HTTPGet.Path, p.HTTPGet.Port.String(), path, port)
	}
}

// containerPort resolves a named or numbered port against the container's declared ports.
func containerPort(t *testing.T, c corev1.Container, port intstr.IntOrString) int32 {
	t.Helper()
	if port.Type == intstr.Int {
		return port.IntVal
	}
	for _, p := range c.Ports {
		if p.Name == port.StrVal {
			return p.ContainerPort
		}
	}
	t.Errorf("container %s declares no port named %q", c.Name, port.StrVal)
	return 0
}

func assertIngressPorts(t *testing.T, np *networkingv1.NetworkPolicy, port int32) {
	t.Helper()
	for _, rule := range np.Spec.Ingress {
		if len(rule.Ports) == 0 {
			t.Errorf("NetworkPolicy/%s has an ingress rule open on every port", np.Name)
		}
		for _, p := range rule.Ports {
			if p.Port == nil || p.Port.IntValue() != int(port) {
				t.Errorf("NetworkPolicy/%s admits port %v, want only %d", np.Name, p.Port, port)
			}
		}
	}
}

func assertSelects(t *testing.T, where string, sel *metav1.LabelSelector, podLabels map[string]string) {
	t.Helper()
	if sel == nil || (len(sel.MatchLabels) == 0 && len(sel.MatchExpressions) == 0) {
		t.Errorf("%s has an empty selector: it would match every pod in the namespace", where)
		return
	}
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		t.Errorf("%s selector: %v", where, err)
		return
	}
	if !s.Matches(labels.Set(podLabels)) {
		t.Errorf("%s selector %s does not match its pods' labels %v", where, s, podLabels)
	}
}

func envValue(c corev1.Container, name string) string {
	for _, e := range c.Env {
		if e.Name == name {
			return e.Value
		}
	}
	return ""
}

func envDuration(t *testing.T, where string, c corev1.Container, name string) time.Duration {
	t.Helper()
	d, err := time.ParseDuration(envValue(c, name))
	if err != nil || d <= 0 {
		t.Fatalf("%s %s=%q is not a positive duration: %v", where, name, envValue(c, name), err)
	}
	return d
}

func terminationGrace(t *testing.T, where string, spec corev1.PodSpec) time.Duration {
	t.Helper()
	if spec.TerminationGracePeriodSeconds == nil {
		t.Fatalf("%s has no terminationGracePeriodSeconds", where)
	}
	return time.Duration(*spec.TerminationGracePeriodSeconds) * time.Second
}

// loadValues reads a values file of the chart (path relative to the repository root).
func loadValues(t *testing.T, path string) map[string]any {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(repoRoot(t), path))
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	var v map[string]any
	if err := yaml.Unmarshal(raw, &v); err != nil {
		t.Fatalf("parse %s: %v", path, err)
	}
	return v
}

// dig follows a dotted path ("audit.schedule") through decoded YAML.
func dig(t *testing.T, v map[string]any, path string) any {
	t.Helper()
	var cur any = v
	for _, key := range strings.Split(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			t.Fatalf("values: %s: %q is not under a map", path, key)
		}
		if cur, ok = m[key]; !ok {
			t.Fatalf("values: %s: no key %q", path, key)
		}
	}
	return cur
}

func chartAppVersion(t *testing.T) string {
	t.Helper()
	return dig(t, loadValues(t, chartPath+"/Chart.yaml"), "appVersion").(string)
}

func assertSameSet(t *testing.T, what string, got, want []string) {
	t.Helper()
	if g, w := sortedCopy(got), sortedCopy(want); !slices.Equal(g, w) {
		t.Errorf("%s:\n got  %v\n want %v", what, g, w)
	}
}

func sortedCopy(s []string) []string {
	c := slices.Clone(s)
	slices.Sort(c)
	return c
}
