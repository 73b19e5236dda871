package command

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"

	"github.com/gorilla/mux"

	"github.com/agentic-commerce/wallet-ledger/internal/auth"
	"github.com/agentic-commerce/wallet-ledger/internal/httpapi"
	"github.com/agentic-commerce/wallet-ledger/webhook"
)

// revealSecret opens the secret of a create or rotate_secret answer. The answer stored under the
// Idempotency-Key holds the secret sealed, so the database never holds it in clear; the caller gets it in clear,
// in the first answer and in every replay.
func (c *Commands) revealSecret(out Outcome, err error) (Outcome, error) {
	if err != nil || out.Problem {
		return out, err
	}
	body, err := c.openSecret(out.Body)
	if err != nil {
		return Outcome{}, err
	}
	out.Body = body
	return out, nil
}

// openSecret replaces the sealed secret of an endpoint answer by the secret itself.
func (c *Commands) openSecret(body []byte) ([]byte, error) {
	var v webhook.EndpointView
	if err := json.Unmarshal(body, &v); err != nil {
		return nil, err
	}
	if !strings.HasPrefix(v.Secret, sealedPrefix) {
		return body, nil
	}
	sealed, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(v.Secret, sealedPrefix))
	if err != nil {
		return nil, err
	}
	if err := c.webhooksConfigured(); err != nil {
		return nil, err
	}
	secret, err := c.webhooks.Keyring.Open(sealed, webhook.ResponseContext(v.EndpointID.String()))
	if err != nil {
		return nil, webhook.ErrNotConfigured.Withf("this answer's secret was sealed with another WEBHOOK_SECRET_KEY than the server's")
	}
	v.Secret = string(secret)
	return json.Marshal(v)
}

// deleteWebhookEndpoint is the handler of DELETE /v1/webhook_endpoints/{id}: 204, also when it was already
// deleted. It reads no body and no Idempotency-Key.
func (c *Commands) deleteWebhookEndpoint(w http.ResponseWriter, r *http.Request) {
	caller, ok := auth.CallerFrom(r.Context())
	if !ok {
		httpapi.WriteProblem(w, r, unauthenticated)
		return
	}
	if caller.Delegated() {
		httpapi.WriteProblem(w, r, ErrForbidden.Withf("%s acts on behalf of %s and may not manage webhook endpoints", caller.Actor, caller.Sub))
		return
	}
	id, err := httpapi.ParsePathID(mux.Vars(r)["id"])
	if err == nil {
		err = c.DeleteWebhookEndpoint(r.Context(), caller, id)
	}
	if err != nil {
		httpapi.WriteProblem(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
}
