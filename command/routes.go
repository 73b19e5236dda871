package command

import (
	"context"
	"net/http"
	"strings"

	"github.com/google/uuid"
	"github.com/gorilla/mux"

	"github.com/agentic-commerce/wallet-ledger/internal/auth"
	"github.com/agentic-commerce/wallet-ledger/internal/httpapi"
	"github.com/agentic-commerce/wallet-ledger/internal/telemetry"
)

// reply is what a route answers when its use case succeeds: the status, and where what it created lives.
type reply struct {
	status   int
	under    string // prefix of the created resource's path, completed with Result.ID; "" for none
	instance string // the request's path, for problem details
}

// created answers 201 with a Location under prefix; updated answers 200.
func created(prefix string) reply { return reply{status: http.StatusCreated, under: prefix} }

var updated = reply{status: http.StatusOK}

func (r reply) location(id uuid.UUID) string {
	if r.under == "" || id == uuid.Nil {
		return ""
	}
	return r.under + id.String()
}

// UseCase is one write: where its route lives, the scope it needs, what it answers, how a request is validated
// into its command and how a command becomes its plan. Run runs a command in process (tools, tests) exactly as
// its route does: in a batch, under the key.
type UseCase[Req, Cmd any] struct {
	c        *Commands
	path     string
	scope    string
	reply    reply
	validate func(t target, req Req) (Cmd, error)
	plan     planner[Cmd]
	// finish, when set, turns the answer (fresh or replayed) into what the caller sees: the webhook secret
	// stored sealed under the key is opened for the answer only.
	finish func(Outcome, error) (Outcome, error)
}

// target is what a write's route says besides its body: who calls, and the IDs its path names ({id},
// {delivery_id}).
type target struct {
	caller auth.Caller
	ids    map[string]uuid.UUID
}

// planner turns a validated command of caller into its plan. It may read what never changes (the wallets of a
// hold, the parties of a transaction) before the batch, to say which rows the batch must lock.
type planner[Cmd any] func(ctx context.Context, caller auth.Caller, cmd Cmd) (plan, error)

// useCases is the one table of the writes: path, scope, answer, validation and plan of each. Routes serves it;
// Commands' fields run it in process.
func (c *Commands) defineUseCases() {
	c.CreateWallet = define(c, "/v1/wallets", auth.ScopeWrite, created("/v1/wallets/"), byCaller(c.ValidateCreateWallet), c.createWallet)
	c.Transfer = define(c, "/v1/transfers", auth.ScopeWrite, created("/v1/transactions/"), byAnyone(ValidateTransfer), c.transfer)
	c.Adjust = define(c, "/v1/adjustments", auth.ScopeAdmin, created("/v1/transactions/"), byAnyone(ValidateAdjustment), c.adjust)
	c.CreateHold = define(c, "/v1/holds", auth.ScopeWrite, created("/v1/holds/"), byAnyone(c.ValidateCreateHold), c.createHold)
	c.CaptureHold = define(c, "/v1/holds/{id}/capture", auth.ScopeWrite, updated, byPathID(ValidateCaptureHold), c.captureHold)
	c.VoidHold = define(c, "/v1/holds/{id}/void", auth.ScopeWrite, updated, byPathID(pathIDOnly[VoidHoldRequest]), c.voidHold)
	c.GrantMandate = define(c, "/v1/wallets/{id}/mandates", auth.ScopeWrite, created("/v1/mandates/"), byPathID(c.ValidateGrantMandate), c.grantMandate)
	c.RevokeMandate = define(c, "/v1/mandates/{id}/revoke", auth.ScopeWrite, updated, byPathID(pathIDOnly[RevokeMandateRequest]), c.revokeMandate)
	c.Refund = define(c, "/v1/transactions/{id}/refunds", auth.ScopeWrite, created("/v1/transactions/"), byPathID(ValidateRefund), c.refund)
	c.CreateWebhookEndpoint = define(c, "/v1/webhook_endpoints", auth.ScopeWrite, created("/v1/webhook_endpoints/"), byCaller(c.ValidateCreateWebhookEndpoint), c.createWebhookEndpoint).then(c.revealSecret)
	c.DisableWebhookEndpoint = define(c, "/v1/webhook_endpoints/{id}/disable", auth.ScopeWrite, updated, byPathID(pathIDOnly[EmptyWebhookRequest]), c.disableWebhookEndpoint)
	c.EnableWebhookEndpoint = define(c, "/v1/webhook_endpoints/{id}/enable", auth.ScopeWrite, updated, byPathID(pathIDOnly[EmptyWebhookRequest]), c.enableWebhookEndpoint)
	c.RotateWebhookSecret = define(c, "/v1/webhook_endpoints/{id}/rotate_secret", auth.ScopeWrite, updated, byPathID(pathIDOnly[EmptyWebhookRequest]), c.rotateWebhookSecret).then(c.revealSecret)
	c.ResendWebhookDelivery = define(c, "/v1/webhook_endpoints/{id}/deliveries/{delivery_id}/retry", auth.ScopeWrite, updated, validateResend, c.resendWebhookDelivery)
	c.routes = []registrar{c.CreateWallet, c.Transfer, c.Adjust, c.CreateHold, c.CaptureHold, c.VoidHold, c.GrantMandate,
		c.RevokeMandate, c.Refund, c.CreateWebhookEndpoint, c.DisableWebhookEndpoint, c.EnableWebhookEndpoint,
		c.RotateWebhookSecret, c.ResendWebhookDelivery,
		route{"/v1/webhook_endpoints/{id}", http.MethodDelete, auth.ScopeWrite, http.HandlerFunc(c.deleteWebhookEndpoint)}}
}

func define[Req, Cmd any](c *Commands, path, scope string, rep reply, validate func(target, Req) (Cmd, error), p planner[Cmd]) *UseCase[Req, Cmd] {
	return &UseCase[Req, Cmd]{c: c, path: path, scope: scope, reply: rep, validate: validate, plan: p}
}

// then sets the use case's finish.
func (u *UseCase[Req, Cmd]) then(finish func(Outcome, error) (Outcome, error)) *UseCase[Req, Cmd] {
	u.finish = finish
	return u
}

// registrar is a use case as the router sees it.
type registrar interface {
	register(r *mux.Router, authn *httpapi.Authenticator)
}

// Routes registers the POST route of every write on r, behind authentication with its scope.
func Routes(r *mux.Router, c *Commands, authn *httpapi.Authenticator) {
	for _, u := range c.routes {
		u.register(r, authn)
	}
}

func (u *UseCase[Req, Cmd]) register(r *mux.Router, authn *httpapi.Authenticator) {
	r.Handle(u.path, authn.Require(u.scope)(u)).Methods(http.MethodPost)
}

// route is a write that is not a use case run under an Idempotency-Key (a DELETE, idempotent by nature).
type route struct {
	path, method, scope string
	handler             http.Handler
}

func (rt route) register(r *mux.Router, authn *httpapi.Authenticator) {
	r.Handle(rt.path, authn.Require(rt.scope)(rt.handler)).Methods(rt.method)
}

// onResource reports whether the route acts on one resource ({id} in the path): its body may be left out (no
// body stands for {}, so `curl -X POST .../void` works).
func (u *UseCase[Req, Cmd]) onResource() bool { return strings.Contains(u.path, "{id}") }

// ServeHTTP decodes the request strictly, validates it into the command, plans and runs it.
func (u *UseCase[Req, Cmd]) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	decode := httpapi.DecodeJSON
	if u.onResource() {
		decode = httpapi.DecodeOptionalJSON
	}
	var req Req
	caller, idem, ok := decodeWrite(w, r, &req, decode)
	if !ok {
		return
	}
	t := target{caller: caller, ids: map[string]uuid.UUID{}}
	for name, v := range mux.Vars(r) {
		id, err := httpapi.ParsePathID(v)
		if err != nil {
			httpapi.WriteProblem(w, r, err)
			return
		}
		t.ids[name] = id
	}
	cmd, err := u.validate(t, req)
	if err != nil {
		httpapi.WriteProblem(w, r, err)
		return
	}
	out, err := u.run(r.Context(), caller, idem, r.URL.Path, cmd)
	if err != nil {
		httpapi.WriteProblem(w, r, err)
		return
	}
	WriteOutcome(w, out)
}

// Run runs cmd, already validated, for caller under idem.
func (u *UseCase[Req, Cmd]) Run(ctx context.Context, caller auth.Caller, idem Idempotency, cmd Cmd) (Outcome, error) {
	return u.run(ctx, caller, idem, u.path, cmd)
}

func (u *UseCase[Req, Cmd]) run(ctx context.Context, caller auth.Caller, idem Idempotency, instance string, cmd Cmd) (Outcome, error) {
	p, err := u.plan(ctx, caller, cmd)
	if err != nil {
		return Outcome{}, err
	}
	rep := u.reply
	rep.instance = instance
	j := &job{ctx: ctx, caller: caller, idem: idem, reply: rep, plan: p, keepRefusal: true,
		trace: telemetry.InjectMap(ctx), requestID: httpapi.RequestIDFrom(ctx), done: make(chan answer, 1)}
	out, err := u.c.batcher.submit(j, u.c.store.AcquireTimeout())
	if u.finish != nil {
		return u.finish(out, err)
	}
	return out, err
}

// byCaller, byAnyone and byPathID adapt the three shapes of validation: one that depends on who calls, one that
// does not, and one of an action on the resource the path names.
func byCaller[Req, Cmd any](v func(auth.Caller, Req) (Cmd, error)) func(target, Req) (Cmd, error) {
	return func(t target, req Req) (Cmd, error) { return v(t.caller, req) }
}

func byAnyone[Req, Cmd any](v func(Req) (Cmd, error)) func(target, Req) (Cmd, error) {
	return func(_ target, req Req) (Cmd, error) { return v(req) }
}

func byPathID[Req, Cmd any](v func(uuid.UUID, Req) (Cmd, error)) func(target, Req) (Cmd, error) {
	return func(t target, req Req) (Cmd, error) { return v(t.ids["id"], req) }
}

// pathIDOnly is the validation of an action whose command is the resource's ID alone (its body is {}).
func pathIDOnly[Req any](id uuid.UUID, _ Req) (uuid.UUID, error) { return id, nil }

// decodeWrite does what every write needs before its use case: the caller, the Idempotency-Key and the strictly
// decoded body, whose canonical form (with method and path) identifies the request under that key.
func decodeWrite(w http.ResponseWriter, r *http.Request, dst any, decode func(http.ResponseWriter, *http.Request, any) ([]byte, error)) (auth.Caller, Idempotency, bool) {
	caller, key, err := callerAndKey(r)
	if err != nil {
		httpapi.WriteProblem(w, r, err)
		return auth.Caller{}, Idempotency{}, false
	}
	canonical, err := decode(w, r, dst)
	if err != nil {
		httpapi.WriteProblem(w, r, err)
		return auth.Caller{}, Idempotency{}, false
	}
	return caller, Idempotency{Sub: caller.Sub, Key: key, Hash: RequestHash(r.Method, r.URL.Path, canonical)}, true
}

// callerAndKey returns the authenticated caller and the request's one Idempotency-Key. Two keys are refused rather
// than one picked: a client and a proxy that disagree about the key would otherwise disagree about the payment.
func callerAndKey(r *http.Request) (auth.Caller, string, error) {
	caller, ok := auth.CallerFrom(r.Context())
	if !ok {
		return auth.Caller{}, "", unauthenticated
	}
	if len(r.Header.Values(IdempotencyHeader)) > 1 {
		return auth.Caller{}, "", httpapi.Errorf("invalid_idempotency_key", "send exactly one Idempotency-Key header")
	}
	key, err := ParseKey(r.Header.Get(IdempotencyHeader))
	return caller, key, err
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
