package httpapi

import (
	"context"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/agentic-commerce/wallet-ledger/internal/auth"
)

// Recover turns a panic in a handler into a 500 problem instead of a dropped connection, and logs the stack.
func Recover(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				slog.ErrorContext(r.Context(), "handler panicked", "route", r.URL.Path, "panic", v, "stack", string(debug.Stack()))
				WriteProblem(w, r, Errorf("internal_error", ""))
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// Timeout bounds the work of one request: the context ends after d, and a database call that is still running
// is cancelled, so the answer is a 503 instead of a hang.
func Timeout(d time.Duration) mux.MiddlewareFunc {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ctx, cancel := context.WithTimeout(r.Context(), d)
			defer cancel()
			next.ServeHTTP(w, r.WithContext(ctx))
		})
	}
}

// SubRecorder receives the caller's sub once authenticated, for access logs (telemetry's per-request holder).
type SubRecorder func(ctx context.Context, sub string)

// Authenticator verifies bearer tokens and enforces scopes.
type Authenticator struct {
	Verifier  *auth.Verifier
	RecordSub SubRecorder
	// Limiter, when set, charges every request to its caller's budget: a verified caller's sub, or the client
	// address of a request without a valid token. It runs before the scope check and the handler.
	Limiter *RateLimiter
}

// Require returns middleware that lets through only a verified caller holding scope.
func (a *Authenticator) Require(scope string) mux.MiddlewareFunc {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			caller, err := a.authenticate(r)
			if err != nil {
				if a.Limiter == nil || a.Limiter.admit(w, r, clientKey(r)) {
					WriteProblem(w, r, err)
				}
				return
			}
			if a.RecordSub != nil {
				a.RecordSub(r.Context(), caller.Sub)
			}
			if a.Limiter != nil && !a.Limiter.admit(w, r, subKey(caller.Sub)) {
				return
			}
			if !caller.Has(scope) {
				w.Header().Set("WWW-Authenticate", `Bearer realm="wallet-ledger", error="insufficient_scope", scope="`+scope+`"`)
				WriteProblem(w, r, Errorf("insufficient_scope", "this operation requires the %s scope", scope))
				return
			}
			next.ServeHTTP(w, r.WithContext(auth.WithCaller(r.Context(), caller)))
		})
	}
}

func (a *Authenticator) authenticate(r *http.Request) (auth.Caller, error) {
	if len(r.Header.Values("Authorization")) > 1 {
		return auth.Caller{}, Errorf("unauthorized", "send exactly one Authorization header")
	}
	header := r.Header.Get("Authorization")
	scheme, token, ok := strings.Cut(header, " ")
	if header == "" || !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
		return auth.Caller{}, Errorf("unauthorized", "a Bearer token is required in the Authorization header")
	}
	caller, err := a.Verifier.Verify(strings.TrimSpace(token))
	if err != nil {
		slog.DebugContext(r.Context(), "token rejected", "reason", err)
		return auth.Caller{}, Errorf("unauthorized", "the bearer token is invalid or expired")
	}
	return caller, nil
}

// NotFound answers unknown routes with a problem body.
func NotFound() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		WriteProblem(w, r, Errorf("not_found", "no route matches %s %s", r.Method, r.URL.Path))
	})
}

// MethodNotAllowed answers a known path with the wrong method, naming in Allow (RFC 9110 15.5.6) the methods
// router serves on that path.
func MethodNotAllowed(router *mux.Router) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var allowed []string
		for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
			probe := r.Clone(r.Context())
			probe.Method = m
			var match mux.RouteMatch
			if router.Match(probe, &match) && match.MatchErr == nil {
				allowed = append(allowed, m)
			}
		}
		w.Header().Set("Allow", strings.Join(allowed, ", "))
		WriteProblem(w, r, Errorf("method_not_allowed", "%s is not allowed on %s", r.Method, r.URL.Path))
	})
}

// NewRouter returns a mux router whose misses answer with problem bodies. It routes the path as sent: no redirect
// to a cleaned path (//v1/transfers or /v1/./wallets are not routes, and a redirected POST would come back as a
// GET), and an encoded slash stays part of its segment instead of splitting it (/v1/wallets/{id}%2Fbalance is not
// the balance route).
func NewRouter() *mux.Router {
	r := mux.NewRouter().SkipClean(true).UseEncodedPath()
	r.NotFoundHandler = NotFound()
	r.MethodNotAllowedHandler = MethodNotAllowed(r)
	return r
}
