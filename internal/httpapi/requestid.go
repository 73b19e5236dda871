package httpapi

import (
	"context"
	"net/http"

	"github.com/agentic-commerce/wallet-ledger/internal/requestid"
)

// RequestID gives every request an identifier a caller can quote to an operator: the caller's X-Request-Id when
// it sent exactly one of 1 to 128 safe characters (letters, digits, "-._~:+/=@"), otherwise a generated one. The
// id is answered in the Request-Id header of every response and kept in the request's context, where problem
// bodies, log lines (telemetry's slog handler) and the request's span read it.
//
// Install it outermost, outside telemetry's middleware, so the access log line and the span see the id too.
func RequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := requestid.Choose(r.Header.Values(requestid.IncomingHeader))
		w.Header().Set(requestid.Header, id)
		next.ServeHTTP(w, r.WithContext(requestid.With(r.Context(), id)))
	})
}

// RequestIDFrom returns the id of the request ctx belongs to ("" outside one). The write path stores it in the
// journal transaction's metadata, so an operator can go from the id a customer quotes to the transaction.
func RequestIDFrom(ctx context.Context) string { return requestid.From(ctx) }
