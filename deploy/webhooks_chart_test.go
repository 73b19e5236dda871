package deploy

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
)

// checkWebhookWiring (docs/webhooks.md): the API and the relay read the optional WEBHOOK_SECRET_KEY from the
// Secret, the jobs do not see it, and only the relay may reach https:// endpoints (webhook deliveries).
func checkWebhookWiring(t *testing.T, r rendered, want expectations, specs map[string]corev1.PodSpec) {
	t.Helper()
	for name, spec := range specs {
		var ref *corev1.SecretKeySelector
		for _, e := range spec.Containers[0].Env {
			if e.Name == "WEBHOOK_SECRET_KEY" && e.ValueFrom != nil {
				ref = e.ValueFrom.SecretKeyRef
			}
		}
		wantKey := name == "api" || name == "relay"
		if wantKey && (ref == nil || ref.Name != want.secretName || ref.Key != "WEBHOOK_SECRET_KEY" || ref.Optional == nil || !*ref.Optional) {
			t.Errorf("%s: want WEBHOOK_SECRET_KEY from Secret %s, optional; got %+v", name, want.secretName, ref)
		}
		if !wantKey && ref != nil {
			t.Errorf("%s reads WEBHOOK_SECRET_KEY, which it does not need", name)
		}
		np := object[networkingv1.NetworkPolicy](t, r, "NetworkPolicy", "wallet-service-"+name)
		https := false
		for _, rule := range np.Spec.Egress {
			for _, port := range rule.Ports {
				https = https || (port.Port != nil && port.Port.IntValue() == 443)
			}
		}
		if https != (name == "relay") {
			t.Errorf("NetworkPolicy/%s allows egress to 443: %v, want %v (webhook deliveries, relay only)", np.Name, https, name == "relay")
		}
	}
}
