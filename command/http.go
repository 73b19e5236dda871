package command

import (
	"context"
	"net/http"

	"github.com/gorilla/mux"

	"github.com/agentic-commerce/wallet-ledger/internal/auth"
	"github.com/agentic-commerce/wallet-ledger/internal/httpapi"
)

// Routes registers the POST routes on r, each behind authentication with its scope.
func Routes(r *mux.Router, c *Commands, authn *httpapi.Authenticator) {
	r.Handle("/v1/wallets", authn.Require(auth.ScopeWrite)(http.HandlerFunc(c.handleCreateWallet))).Methods(http.MethodPost)
	r.Handle("/v1/transfers", authn.Require(auth.ScopeWrite)(http.HandlerFunc(c.handleTransfer))).Methods(http.MethodPost)
	r.Handle("/v1/adjustments", authn.Require(auth.ScopeAdmin)(http.HandlerFunc(c.handleAdjustment))).Methods(http.MethodPost)
	agentRoutes(r, c, authn)
}

func (c *Commands) handleCreateWallet(w http.ResponseWriter, r *http.Request) {
	var req CreateWalletRequest
	caller, idem, ok := decodeWrite(w, r, &req)
	if !ok {
		return
	}
	cmd, err := c.ValidateCreateWallet(caller, req)
	if err != nil {
		httpapi.WriteProblem(w, r, err)
		return
	}
	respond(w, r, func(ctx context.Context) (Outcome, error) { return c.CreateWallet(ctx, caller, idem, cmd) })
}

func (c *Commands) handleTransfer(w http.ResponseWriter, r *http.Request) {
	var req TransferRequest
	caller, idem, ok := decodeWrite(w, r, &req)
	if !ok {
		return
	}
	cmd, err := ValidateTransfer(req)
	if err != nil {
		httpapi.WriteProblem(w, r, err)
		return
	}
	respond(w, r, func(ctx context.Context) (Outcome, error) { return c.Transfer(ctx, caller, idem, cmd) })
}

func (c *Commands) handleAdjustment(w http.ResponseWriter, r *http.Request) {
	var req AdjustmentRequest
	caller, idem, ok := decodeWrite(w, r, &req)
	if !ok {
		return
	}
	cmd, err := ValidateAdjustment(req)
	if err != nil {
		httpapi.WriteProblem(w, r, err)
		return
	}
	respond(w, r, func(ctx context.Context) (Outcome, error) { return c.Adjust(ctx, caller, idem, cmd) })
}

// decodeWrite does what every write needs before its use case: the caller, the Idempotency-Key and the strictly
// decoded body, whose canonical form (with method and path) identifies the request under that key.
func decodeWrite(w http.ResponseWriter, r *http.Request, dst any) (auth.Caller, Idempotency, bool) {
	caller, ok := auth.CallerFrom(r.Context())
	if !ok {
		httpapi.WriteProblem(w, r, httpapi.Errorf("unauthorized", "a Bearer token is required"))
		return auth.Caller{}, Idempotency{}, false
	}
	key, err := ParseKey(r.Header.Get(IdempotencyHeader))
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

// WriteOutcome writes a fresh or replayed write response.
func WriteOutcome(w http.ResponseWriter, out Outcome) {
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

func respond(w http.ResponseWriter, r *http.Request, run func(ctx context.Context) (Outcome, error)) {
	out, err := run(r.Context())
	if err != nil {
		httpapi.WriteProblem(w, r, err)
		return
	}
	WriteOutcome(w, out)
}
