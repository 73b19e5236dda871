package command

import (
	"context"
	"net/http"

	"github.com/google/uuid"
	"github.com/gorilla/mux"

	"github.com/agentic-commerce/wallet-ledger/internal/auth"
	"github.com/agentic-commerce/wallet-ledger/internal/httpapi"
)

// Routes registers the POST routes on r, each behind authentication with its scope. Every route is the same three
// steps, which post and postOn carry out: decode strictly, validate into the use case's command, run it.
func Routes(r *mux.Router, c *Commands, authn *httpapi.Authenticator) {
	write, admin := authn.Require(auth.ScopeWrite), authn.Require(auth.ScopeAdmin)
	routes := []struct {
		path    string
		scope   func(http.Handler) http.Handler
		handler http.HandlerFunc
	}{
		{"/v1/wallets", write, post(c.ValidateCreateWallet, c.CreateWallet)},
		{"/v1/transfers", write, post(anyCaller(ValidateTransfer), c.Transfer)},
		{"/v1/adjustments", admin, post(anyCaller(ValidateAdjustment), c.Adjust)},
		{"/v1/holds", write, post(anyCaller(c.ValidateCreateHold), c.CreateHold)},
		{"/v1/holds/{id}/capture", write, postOn(ValidateCaptureHold, c.CaptureHold)},
		{"/v1/holds/{id}/void", write, postOn(idOnly[VoidHoldRequest], c.VoidHold)},
		{"/v1/wallets/{id}/mandates", write, postOn(c.ValidateGrantMandate, c.GrantMandate)},
		{"/v1/mandates/{id}/revoke", write, postOn(idOnly[RevokeMandateRequest], c.RevokeMandate)},
		{"/v1/transactions/{id}/refunds", write, postOn(ValidateRefund, c.Refund)},
	}
	for _, rt := range routes {
		r.Handle(rt.path, rt.scope(rt.handler)).Methods(http.MethodPost)
	}
}

// useCase is a write's last step: it runs cmd for caller under the Idempotency-Key.
type useCase[Cmd any] func(ctx context.Context, caller auth.Caller, idem Idempotency, cmd Cmd) (Outcome, error)

// post is the handler of a write on a collection: the body decoded into Req, validated into Cmd, run.
func post[Req, Cmd any](validate func(auth.Caller, Req) (Cmd, error), run useCase[Cmd]) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var req Req
		caller, idem, ok := decodeWrite(w, r, &req)
		if !ok {
			return
		}
		cmd, err := validate(caller, req)
		respond(w, r, caller, idem, cmd, err, run)
	}
}

// postOn is post for a write on one resource, the {id} in the path, which validation receives.
func postOn[Req, Cmd any](validate func(uuid.UUID, Req) (Cmd, error), run useCase[Cmd]) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var req Req
		caller, idem, id, ok := decodeWriteOn(w, r, &req)
		if !ok {
			return
		}
		cmd, err := validate(id, req)
		respond(w, r, caller, idem, cmd, err, run)
	}
}

// anyCaller adapts a validation that does not depend on who calls.
func anyCaller[Req, Cmd any](validate func(Req) (Cmd, error)) func(auth.Caller, Req) (Cmd, error) {
	return func(_ auth.Caller, req Req) (Cmd, error) { return validate(req) }
}

// idOnly is the validation of a write whose command is the resource's ID alone (its body is the empty object).
func idOnly[Req any](id uuid.UUID, _ Req) (uuid.UUID, error) { return id, nil }

// respond writes the validation's refusal, or runs the command and writes its outcome.
func respond[Cmd any](w http.ResponseWriter, r *http.Request, caller auth.Caller, idem Idempotency, cmd Cmd, invalid error, run useCase[Cmd]) {
	if invalid != nil {
		httpapi.WriteProblem(w, r, invalid)
		return
	}
	out, err := run(r.Context(), caller, idem, cmd)
	if err != nil {
		httpapi.WriteProblem(w, r, err)
		return
	}
	WriteOutcome(w, out)
}

// decodeWrite does what every write needs before its use case: the caller, the Idempotency-Key and the strictly
// decoded body, whose canonical form (with method and path) identifies the request under that key.
func decodeWrite(w http.ResponseWriter, r *http.Request, dst any) (auth.Caller, Idempotency, bool) {
	caller, key, err := callerAndKey(r)
	if err != nil {
		httpapi.WriteProblem(w, r, err)
		return auth.Caller{}, Idempotency{}, false
	}
	canonical, err := httpapi.DecodeJSON(w, r, dst)
	if err != nil {
		httpapi.WriteProblem(w, r, err)
		return auth.Caller{}, Idempotency{}, false
	}
	return caller, Idempotency{Sub: caller.Sub, Key: key, Hash: RequestHash(r.Method, r.URL.Path, canonical)}, true
}

// decodeWriteOn is decodeWrite for a route on one resource ({id} in the path), whose body may be left out: an
// empty one stands for the empty object, so `curl -X POST .../void` works (httpapi.DecodeOptionalJSON).
func decodeWriteOn(w http.ResponseWriter, r *http.Request, dst any) (auth.Caller, Idempotency, uuid.UUID, bool) {
	caller, key, err := callerAndKey(r)
	if err != nil {
		httpapi.WriteProblem(w, r, err)
		return auth.Caller{}, Idempotency{}, uuid.Nil, false
	}
	canonical, err := httpapi.DecodeOptionalJSON(w, r, dst)
	if err != nil {
		httpapi.WriteProblem(w, r, err)
		return auth.Caller{}, Idempotency{}, uuid.Nil, false
	}
	id, err := httpapi.ParsePathID(mux.Vars(r)["id"])
	if err != nil {
		httpapi.WriteProblem(w, r, err)
		return auth.Caller{}, Idempotency{}, uuid.Nil, false
	}
	return caller, Idempotency{Sub: caller.Sub, Key: key, Hash: RequestHash(r.Method, r.URL.Path, canonical)}, id, true
}

// callerAndKey returns the authenticated caller and the request's one Idempotency-Key. Two keys are refused rather
// than one picked: a client and a proxy that disagree about the key would otherwise disagree about the payment.
func callerAndKey(r *http.Request) (auth.Caller, string, error) {
	caller, ok := auth.CallerFrom(r.Context())
	if !ok {
		return auth.Caller{}, "", httpapi.Errorf("unauthorized", "a Bearer token is required")
	}
	if len(r.Header.Values(IdempotencyHeader)) > 1 {
		return auth.Caller{}, "", httpapi.Errorf("invalid_idempotency_key", "send exactly one Idempotency-Key header")
	}
	key, err := ParseKey(r.Header.Get(IdempotencyHeader))
	return caller, key, err
}

// PositionHeader carries, on every answer of a write, the WAL position it is committed by: a read that sends it back
// as Min-Position sees this write (internal/replica).
const PositionHeader = "Ledger-Position"

// WriteOutcome writes a fresh or replayed write response.
func WriteOutcome(w http.ResponseWriter, out Outcome) {
	if out.Position != "" {
		w.Header().Set(PositionHeader, out.Position)
	}
	if out.Replayed {
		w.Header().Set("Idempotent-Replayed", "true")
	}
	if out.Location != "" {
		w.Header().Set("Location", out.Location)
	}
	if out.Problem {
		httpapi.WriteProblemBody(w, out.Status, out.Body)
		return
	}
	httpapi.WriteJSONBody(w, out.Status, out.Body)
}
