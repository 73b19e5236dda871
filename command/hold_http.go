package command

import (
	"context"
	"net/http"

	"github.com/google/uuid"
	"github.com/gorilla/mux"

	"github.com/agentic-commerce/wallet-ledger/internal/auth"
	"github.com/agentic-commerce/wallet-ledger/internal/httpapi"
)

// agentRoutes registers the POST routes of holds, mandates and refunds.
func agentRoutes(r *mux.Router, c *Commands, authn *httpapi.Authenticator) {
	write := authn.Require(auth.ScopeWrite)
	r.Handle("/v1/holds", write(http.HandlerFunc(c.handleCreateHold))).Methods(http.MethodPost)
	r.Handle("/v1/holds/{id}/capture", write(http.HandlerFunc(c.handleCaptureHold))).Methods(http.MethodPost)
	r.Handle("/v1/holds/{id}/void", write(http.HandlerFunc(c.handleVoidHold))).Methods(http.MethodPost)
	r.Handle("/v1/wallets/{id}/mandates", write(http.HandlerFunc(c.handleGrantMandate))).Methods(http.MethodPost)
	r.Handle("/v1/mandates/{id}/revoke", write(http.HandlerFunc(c.handleRevokeMandate))).Methods(http.MethodPost)
	r.Handle("/v1/transactions/{id}/refunds", write(http.HandlerFunc(c.handleRefund))).Methods(http.MethodPost)
}

func (c *Commands) handleCreateHold(w http.ResponseWriter, r *http.Request) {
	var req CreateHoldRequest
	caller, idem, ok := decodeWrite(w, r, &req)
	if !ok {
		return
	}
	cmd, err := c.ValidateCreateHold(req)
	if err != nil {
		httpapi.WriteProblem(w, r, err)
		return
	}
	respond(w, r, func(ctx context.Context) (Outcome, error) { return c.CreateHold(ctx, caller, idem, cmd) })
}

func (c *Commands) handleCaptureHold(w http.ResponseWriter, r *http.Request) {
	var req CaptureHoldRequest
	caller, idem, id, ok := decodeWriteOn(w, r, &req)
	if !ok {
		return
	}
	cmd, err := ValidateCaptureHold(id, req)
	if err != nil {
		httpapi.WriteProblem(w, r, err)
		return
	}
	respond(w, r, func(ctx context.Context) (Outcome, error) { return c.CaptureHold(ctx, caller, idem, cmd) })
}

func (c *Commands) handleVoidHold(w http.ResponseWriter, r *http.Request) {
	var req VoidHoldRequest
	caller, idem, id, ok := decodeWriteOn(w, r, &req)
	if !ok {
		return
	}
	respond(w, r, func(ctx context.Context) (Outcome, error) { return c.VoidHold(ctx, caller, idem, id) })
}

func (c *Commands) handleGrantMandate(w http.ResponseWriter, r *http.Request) {
	var req GrantMandateRequest
	caller, idem, id, ok := decodeWriteOn(w, r, &req)
	if !ok {
		return
	}
	cmd, err := c.ValidateGrantMandate(id, req)
	if err != nil {
		httpapi.WriteProblem(w, r, err)
		return
	}
	respond(w, r, func(ctx context.Context) (Outcome, error) { return c.GrantMandate(ctx, caller, idem, cmd) })
}

func (c *Commands) handleRevokeMandate(w http.ResponseWriter, r *http.Request) {
	var req RevokeMandateRequest
	caller, idem, id, ok := decodeWriteOn(w, r, &req)
	if !ok {
		return
	}
	respond(w, r, func(ctx context.Context) (Outcome, error) { return c.RevokeMandate(ctx, caller, idem, id) })
}

func (c *Commands) handleRefund(w http.ResponseWriter, r *http.Request) {
	var req RefundRequest
	caller, idem, id, ok := decodeWriteOn(w, r, &req)
	if !ok {
		return
	}
	cmd, err := ValidateRefund(id, req)
	if err != nil {
		httpapi.WriteProblem(w, r, err)
		return
	}
	respond(w, r, func(ctx context.Context) (Outcome, error) { return c.Refund(ctx, caller, idem, cmd) })
}

// decodeWriteOn is decodeWrite for a route on one resource ({id} in the path). A request without a body (no
// Content-Type, no length) stands for the empty object, so `curl -X POST .../void` works; a body that is sent is
// decoded as strictly as everywhere else.
func decodeWriteOn(w http.ResponseWriter, r *http.Request, dst any) (auth.Caller, Idempotency, uuid.UUID, bool) {
	var caller auth.Caller
	var idem Idempotency
	if r.ContentLength == 0 && r.Header.Get("Content-Type") == "" {
		var ok bool
		if caller, ok = auth.CallerFrom(r.Context()); !ok {
			httpapi.WriteProblem(w, r, httpapi.Errorf("unauthorized", "a Bearer token is required"))
			return auth.Caller{}, Idempotency{}, uuid.Nil, false
		}
		key, err := ParseKey(r.Header.Get(IdempotencyHeader))
		if err != nil {
			httpapi.WriteProblem(w, r, err)
			return auth.Caller{}, Idempotency{}, uuid.Nil, false
		}
		idem = Idempotency{Sub: caller.Sub, Key: key, Hash: RequestHash(r.Method, r.URL.Path, []byte("{}"))}
	} else {
		var ok bool
		if caller, idem, ok = decodeWrite(w, r, dst); !ok {
			return auth.Caller{}, Idempotency{}, uuid.Nil, false
		}
	}
	id, err := httpapi.ParsePathID(mux.Vars(r)["id"])
	if err != nil {
		httpapi.WriteProblem(w, r, err)
		return auth.Caller{}, Idempotency{}, uuid.Nil, false
	}
	return caller, idem, id, true
}
