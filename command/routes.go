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
	validate func(in call, req Req) (Cmd, error)
	plan     planner[Cmd]
	// finish, when set, turns the answer (fresh or replayed) into what the caller sees: the webhook secret
	// stored sealed under the key is opened for the answer only.
	finish func(Outcome, error) (Outcome, error)
	// direct, when set, says what an agent acting for its principal (auth.Caller.Actor) may not do here: such a
	// caller is refused (403 forbidden) before anything is read. conditional: the route takes an If-Match
	// precondition, part of the request's identity under its Idempotency-Key.
	direct      string
	conditional bool
}

// call is what a write's validation knows besides its body: who calls, the IDs its path names (id is {id},
// uuid.Nil for none; ids every one, {delivery_id} included), and its If-Match header (nil when absent; only
// conditional routes see it).
type call struct {
	caller  auth.Caller
	id      uuid.UUID
	ids     map[string]uuid.UUID
	ifMatch *string
}

// planner turns a validated command of caller into its plan. It may read what never changes (the wallets of a
// hold, the parties of a transaction) before the batch, to say which rows the batch must lock.
type planner[Cmd any] func(ctx context.Context, caller auth.Caller, cmd Cmd) (plan, error)

// useCases is the one table of the writes: path, scope, answer, validation and plan of each. Routes serves it;
// Commands' fields run it in process. What an agent acting for its principal may not do is marked direct: it may
// never create, grant, replace, resume, unfreeze, refund or adjust (no re-delegation, no self-service
// escalation), though it may spend under its mandate, stop it, and freeze.
func (c *Commands) defineUseCases() {
	c.CreateWallet = define(c, "/v1/wallets", auth.ScopeWrite, created("/v1/wallets/"), byCaller(c.ValidateCreateWallet), c.createWallet).
		onlyDirect("open wallets")
	c.Transfer = define(c, "/v1/transfers", auth.ScopeWrite, created("/v1/transactions/"), byAnyone(ValidateTransfer), c.transfer)
	c.Adjust = define(c, "/v1/adjustments", auth.ScopeAdmin, created("/v1/transactions/"), byAnyone(ValidateAdjustment), c.adjust).
		onlyDirect("adjust balances")
	c.CreateHold = define(c, "/v1/holds", auth.ScopeWrite, created("/v1/holds/"), byAnyone(c.ValidateCreateHold), c.createHold)
	c.CaptureHold = define(c, "/v1/holds/{id}/capture", auth.ScopeWrite, updated, byPathID(ValidateCaptureHold), c.captureHold)
	c.VoidHold = define(c, "/v1/holds/{id}/void", auth.ScopeWrite, updated, byPathID(pathIDOnly[VoidHoldRequest]), c.voidHold)
	c.GrantMandate = define(c, "/v1/wallets/{id}/mandates", auth.ScopeWrite, created("/v1/mandates/"), byPathID(c.ValidateGrantMandate), c.grantMandate).
		onlyDirect("grant mandates")
	c.RevokeMandate = define(c, "/v1/mandates/{id}/revoke", auth.ScopeWrite, updated, byPathID(pathIDOnly[RevokeMandateRequest]), c.revokeMandate)
	c.SuspendMandate = define(c, "/v1/mandates/{id}/suspend", auth.ScopeWrite, updated, byPathID(pathIDOnly[SuspendMandateRequest]), c.suspendMandate)
	c.ResumeMandate = define(c, "/v1/mandates/{id}/resume", auth.ScopeWrite, updated, byPathID(pathIDOnly[ResumeMandateRequest]), c.resumeMandate).
		onlyDirect("resume mandates")
	c.ReplaceMandate = define(c, "/v1/mandates/{id}/replace", auth.ScopeWrite, created("/v1/mandates/"), c.ValidateReplaceMandate, c.replaceMandate).
		onlyDirect("replace mandates").takesIfMatch()
	c.Refund = define(c, "/v1/transactions/{id}/refunds", auth.ScopeWrite, created("/v1/transactions/"), byPathID(ValidateRefund), c.refund).
		onlyDirect("refund")
	c.FreezeWallet = define(c, "/v1/wallets/{id}/freeze", auth.ScopeWrite, updated, byPathID(ValidateFreezeWallet), c.freezeWallet)
	c.UnfreezeWallet = define(c, "/v1/wallets/{id}/unfreeze", auth.ScopeWrite, updated, byPathID(pathIDOnly[UnfreezeWalletRequest]), c.unfreezeWallet).
		onlyDirect("unfreeze wallets")
	c.CreateWebhookEndpoint = define(c, "/v1/webhook_endpoints", auth.ScopeWrite, created("/v1/webhook_endpoints/"), byCaller(c.ValidateCreateWebhookEndpoint), c.createWebhookEndpoint).
		onlyDirect("manage webhook endpoints").then(c.revealSecret)
	c.DisableWebhookEndpoint = define(c, "/v1/webhook_endpoints/{id}/disable", auth.ScopeWrite, updated, byPathID(pathIDOnly[EmptyWebhookRequest]), c.disableWebhookEndpoint).
		onlyDirect("manage webhook endpoints")
	c.EnableWebhookEndpoint = define(c, "/v1/webhook_endpoints/{id}/enable", auth.ScopeWrite, updated, byPathID(pathIDOnly[EmptyWebhookRequest]), c.enableWebhookEndpoint).
		onlyDirect("manage webhook endpoints")
	c.RotateWebhookSecret = define(c, "/v1/webhook_endpoints/{id}/rotate_secret", auth.ScopeWrite, updated, byPathID(pathIDOnly[EmptyWebhookRequest]), c.rotateWebhookSecret).
		onlyDirect("manage webhook endpoints").then(c.revealSecret)
	c.ResendWebhookDelivery = define(c, "/v1/webhook_endpoints/{id}/deliveries/{delivery_id}/retry", auth.ScopeWrite, updated, validateResend, c.resendWebhookDelivery).
		onlyDirect("manage webhook endpoints")
	c.routes = []registrar{c.CreateWallet, c.Transfer, c.Adjust, c.CreateHold, c.CaptureHold, c.VoidHold, c.GrantMandate,
		c.RevokeMandate, c.SuspendMandate, c.ResumeMandate, c.ReplaceMandate, c.Refund, c.FreezeWallet, c.UnfreezeWallet,
		c.CreateWebhookEndpoint, c.DisableWebhookEndpoint, c.EnableWebhookEndpoint, c.RotateWebhookSecret, c.ResendWebhookDelivery,
		route{"/v1/webhook_endpoints/{id}", http.MethodDelete, auth.ScopeWrite, http.HandlerFunc(c.deleteWebhookEndpoint)}}
}

func define[Req, Cmd any](c *Commands, path, scope string, rep reply, validate func(call, Req) (Cmd, error), p planner[Cmd]) *UseCase[Req, Cmd] {
	return &UseCase[Req, Cmd]{c: c, path: path, scope: scope, reply: rep, validate: validate, plan: p}
}

// then sets the use case's finish.
func (u *UseCase[Req, Cmd]) then(finish func(Outcome, error) (Outcome, error)) *UseCase[Req, Cmd] {
	u.finish = finish
	return u
}

// onlyDirect refuses the use case to an agent acting for its principal: what says what it may not do.
func (u *UseCase[Req, Cmd]) onlyDirect(what string) *UseCase[Req, Cmd] {
	u.direct = what
	return u
}

// takesIfMatch makes the route read If-Match into its validation and into the request's identity.
func (u *UseCase[Req, Cmd]) takesIfMatch() *UseCase[Req, Cmd] {
	u.conditional = true
	return u
}

// admit refuses a delegated caller a direct-only use case.
func (u *UseCase[Req, Cmd]) admit(caller auth.Caller) error {
	if u.direct != "" && caller.Delegated() {
		return ErrForbidden.Withf("%s acts on behalf of %s and may not %s: only %s itself (or an admin) may",
			caller.Actor, caller.Sub, u.direct, caller.Sub)
	}
	return nil
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
	decode, in := httpapi.DecodeJSON, call{ids: map[string]uuid.UUID{}}
	if u.onResource() {
		decode = httpapi.DecodeOptionalJSON
	}
	if u.conditional {
		var err error
		if in.ifMatch, err = ifMatchHeader(r); err != nil {
			httpapi.WriteProblem(w, r, err)
			return
		}
	}
	var req Req
	caller, idem, ok := decodeWrite(w, r, &req, decode, in.ifMatch)
	if !ok {
		return
	}
	in.caller = caller
	if err := u.admit(caller); err != nil {
		httpapi.WriteProblem(w, r, err)
		return
	}
	for name, v := range mux.Vars(r) {
		id, err := httpapi.ParsePathID(v)
		if err != nil {
			httpapi.WriteProblem(w, r, err)
			return
		}
		in.ids[name] = id
	}
	in.id = in.ids["id"]
	cmd, err := u.validate(in, req)
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

// ifMatchHeader returns the request's one If-Match header, or nil when it has none. Two are refused rather than
// one picked, as for the Idempotency-Key.
func ifMatchHeader(r *http.Request) (*string, error) {
	vs := r.Header.Values("If-Match")
	switch len(vs) {
	case 0:
		return nil, nil
	case 1:
		return &vs[0], nil
	}
	return nil, ErrPreconditionRequired.Withf("send exactly one If-Match header naming the version you read")
}

// Run runs cmd, already validated, for caller under idem.
func (u *UseCase[Req, Cmd]) Run(ctx context.Context, caller auth.Caller, idem Idempotency, cmd Cmd) (Outcome, error) {
	return u.run(ctx, caller, idem, u.path, cmd)
}

func (u *UseCase[Req, Cmd]) run(ctx context.Context, caller auth.Caller, idem Idempotency, instance string, cmd Cmd) (Outcome, error) {
	if err := u.admit(caller); err != nil {
		return Outcome{}, err
	}
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
func byCaller[Req, Cmd any](v func(auth.Caller, Req) (Cmd, error)) func(call, Req) (Cmd, error) {
	return func(in call, req Req) (Cmd, error) { return v(in.caller, req) }
}

func byAnyone[Req, Cmd any](v func(Req) (Cmd, error)) func(call, Req) (Cmd, error) {
	return func(_ call, req Req) (Cmd, error) { return v(req) }
}

func byPathID[Req, Cmd any](v func(uuid.UUID, Req) (Cmd, error)) func(call, Req) (Cmd, error) {
	return func(in call, req Req) (Cmd, error) { return v(in.id, req) }
}

// pathIDOnly is the validation of an action whose command is the resource's ID alone (its body is {}).
func pathIDOnly[Req any](id uuid.UUID, _ Req) (uuid.UUID, error) { return id, nil }

// decodeWrite does what every write needs before its use case: the caller, the Idempotency-Key and the strictly
// decoded body, whose canonical form (with method, path and the If-Match of a conditional route) identifies the
// request under that key.
func decodeWrite(w http.ResponseWriter, r *http.Request, dst any, decode func(http.ResponseWriter, *http.Request, any) ([]byte, error), ifMatch *string) (auth.Caller, Idempotency, bool) {
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
	return caller, Idempotency{Sub: caller.Sub, Actor: caller.Actor, Key: key,
		Hash: requestHash(r.Method, r.URL.Path, ifMatch, canonical)}, true
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
