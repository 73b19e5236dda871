// Package httpapi holds what every HTTP route shares: RFC 9457 problem responses and the one table that maps
// problem codes to statuses, strict JSON decoding, authentication and the common middleware.
package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/agentic-commerce/wallet-ledger/internal/requestid"
)

// ProblemContentType is the media type of every error body.
const ProblemContentType = "application/problem+json"

// retryAfterSeconds is what a 503 tells clients to wait before retrying with the same idempotency key.
const retryAfterSeconds = 1

// statusByCode is the single place where problem codes become HTTP statuses. Packages below HTTP (eventstore,
// projector, command) return errors carrying only a code; an unknown code is a bug and answers 500.
var statusByCode = map[string]int{
	"invalid_json":             http.StatusBadRequest,
	"idempotency_key_required": http.StatusBadRequest,
	"invalid_idempotency_key":  http.StatusBadRequest,
	"invalid_id":               http.StatusBadRequest,
	"invalid_query":            http.StatusBadRequest,
	"invalid_position":         http.StatusBadRequest,
	"unauthorized":             http.StatusUnauthorized,
	"insufficient_scope":       http.StatusForbidden,
	"forbidden":                http.StatusForbidden,
	"not_found":                http.StatusNotFound,
	"wallet_not_found":         http.StatusNotFound,
	"transaction_not_found":    http.StatusNotFound,
	"method_not_allowed":       http.StatusMethodNotAllowed,
	"wallet_exists":            http.StatusConflict,
	"idempotency_key_in_use":   http.StatusConflict,
	"body_too_large":           http.StatusRequestEntityTooLarge,
	"unsupported_media_type":   http.StatusUnsupportedMediaType,
	"validation_error":         http.StatusUnprocessableEntity,
	"insufficient_funds":       http.StatusUnprocessableEntity,
	"asset_mismatch":           http.StatusUnprocessableEntity,
	"same_wallet":              http.StatusUnprocessableEntity,
	"idempotency_key_reuse":    http.StatusUnprocessableEntity,
	"system_wallet":            http.StatusUnprocessableEntity,
	"reserved_wallet_id":       http.StatusUnprocessableEntity,
	"balance_out_of_range":     http.StatusUnprocessableEntity,
	"mandate_limit_exceeded":   http.StatusForbidden,
	"mandate_inactive":         http.StatusForbidden,
	"destination_not_allowed":  http.StatusForbidden,
	"mandate_not_found":        http.StatusNotFound,
	"hold_not_found":           http.StatusNotFound,
	"mandate_ambiguous":        http.StatusUnprocessableEntity,
	"hold_not_active":          http.StatusUnprocessableEntity,
	"hold_expired":             http.StatusUnprocessableEntity,
	"capture_exceeds_hold":     http.StatusUnprocessableEntity,
	"refund_exceeds_original":  http.StatusUnprocessableEntity,
	"not_refundable":           http.StatusUnprocessableEntity,
	"rate_limited":             http.StatusTooManyRequests,
	"wallet_frozen":            http.StatusLocked,
	"version_mismatch":         http.StatusPreconditionFailed,
	"precondition_required":    http.StatusPreconditionRequired,
	"internal_error":           http.StatusInternalServerError,
	"service_unavailable":      http.StatusServiceUnavailable,

	// Webhooks (issue 19).
	"webhook_url_not_allowed":    http.StatusUnprocessableEntity,
	"webhook_endpoint_limit":     http.StatusUnprocessableEntity,
	"webhook_endpoint_not_found": http.StatusNotFound,
	"webhook_delivery_not_found": http.StatusNotFound,
	"webhooks_not_configured":    http.StatusServiceUnavailable,
}

var titleByCode = map[string]string{
	"invalid_json":             "Request body is not valid JSON for this operation",
	"idempotency_key_required": "Idempotency-Key header is required",
	"invalid_idempotency_key":  "Idempotency-Key header is invalid",
	"invalid_id":               "Identifier is not a valid UUID",
	"invalid_query":            "Query parameter is invalid",
	"invalid_position":         "Min-Position header is invalid",
	"unauthorized":             "Authentication required",
	"insufficient_scope":       "Token lacks the required scope",
	"forbidden":                "Not allowed",
	"not_found":                "Not found",
	"wallet_not_found":         "Wallet not found",
	"transaction_not_found":    "Transaction not found",
	"method_not_allowed":       "Method not allowed",
	"wallet_exists":            "Wallet already exists",
	"idempotency_key_in_use":   "Idempotency key is in use by a request still running",
	"body_too_large":           "Request body is too large",
	"unsupported_media_type":   "Content-Type must be application/json",
	"validation_error":         "Request is invalid",
	"insufficient_funds":       "Insufficient funds",
	"asset_mismatch":           "Asset does not match the wallet",
	"same_wallet":              "Source and destination are the same wallet",
	"idempotency_key_reuse":    "Idempotency key was used for a different request",
	"system_wallet":            "System wallets cannot be used here",
	"reserved_wallet_id":       "Wallet ID is reserved",
	"balance_out_of_range":     "Balance would leave the representable range",
	"mandate_limit_exceeded":   "The mandate's limit does not cover this amount",
	"mandate_inactive":         "The mandate is not active (suspended, revoked, consumed or expired)",
	"destination_not_allowed":  "The mandate does not allow this destination",
	"mandate_not_found":        "Mandate not found",
	"hold_not_found":           "Hold not found",
	"mandate_ambiguous":        "Several mandates apply; name one with mandate_id",
	"hold_not_active":          "The hold is no longer active",
	"hold_expired":             "The hold has expired and cannot be captured",
	"capture_exceeds_hold":     "The capture exceeds the held amount",
	"refund_exceeds_original":  "The refunds would exceed the original amount",
	"not_refundable":           "Only transfers and captures can be refunded",
	"rate_limited":             "Too many requests; retry after the time Retry-After gives",
	"wallet_frozen":            "The wallet is frozen: no money may leave it",
	"version_mismatch":         "The resource changed since the version If-Match names",
	"precondition_required":    "If-Match naming the version read is required",
	"internal_error":           "Internal error",
	"service_unavailable":      "Service unavailable, retry with the same Idempotency-Key",

	// Webhooks (issue 19).
	"webhook_url_not_allowed":    "The webhook URL is not allowed",
	"webhook_endpoint_limit":     "Too many webhook endpoints",
	"webhook_endpoint_not_found": "Webhook endpoint not found",
	"webhook_delivery_not_found": "Webhook delivery not found",
	"webhooks_not_configured":    "Webhooks are not configured on this server",
}

// Codes returns every registered problem code with its status, for checking them against the API document.
func Codes() map[string]int {
	out := make(map[string]int, len(statusByCode))
	for code, status := range statusByCode {
		out[code] = status
	}
	return out
}

// RegisterCode adds a problem code and its status; packages that add routes (holds, mandates) call it from init.
// It panics on a conflicting registration, which the tests catch at start-up.
func RegisterCode(code string, status int, title string) {
	if s, ok := statusByCode[code]; ok && s != status {
		panic("httpapi: problem code " + code + " registered twice with different statuses")
	}
	statusByCode[code] = status
	titleByCode[code] = title
}

// Coded is implemented by errors that carry a problem code, such as eventstore.Error.
type Coded interface {
	error
	ProblemCode() string
	ProblemDetail() string
}

// FieldError names one invalid field of a request.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// Problem is an RFC 9457 problem detail; as an error it carries its own code. The request_id member is added when
// the body is written (WriteProblemBody), so a body stored under an idempotency key names the request that reads it.
type Problem struct {
	Type     string       `json:"type"`
	Title    string       `json:"title"`
	Status   int          `json:"status"`
	Detail   string       `json:"detail,omitempty"`
	Instance string       `json:"instance,omitempty"`
	Code     string       `json:"code"`
	Errors   []FieldError `json:"errors,omitempty"`
}

func (p *Problem) Error() string { return p.Code + ": " + p.Detail }

// ProblemCode returns the stable machine code.
func (p *Problem) ProblemCode() string { return p.Code }

// ProblemDetail returns the human explanation.
func (p *Problem) ProblemDetail() string { return p.Detail }

// Errorf returns a problem error with code and a formatted detail.
func Errorf(code, format string, args ...any) *Problem {
	return &Problem{Code: code, Detail: sprintf(format, args...)}
}

// Invalid returns a 422 validation_error listing the invalid fields.
func Invalid(fields ...FieldError) *Problem {
	detail := "the request has invalid fields"
	if len(fields) == 1 {
		detail = fields[0].Field + ": " + fields[0].Message
	}
	return &Problem{Code: "validation_error", Detail: detail, Errors: fields}
}

// ProblemFor renders err as a problem body. Errors without a known code become 500 internal_error with no detail,
// so nothing internal leaks.
func ProblemFor(err error, instance string) (int, []byte) {
	p := toProblem(err)
	p.Instance = instance
	body, merr := json.Marshal(p)
	if merr != nil {
		body = []byte(`{"type":"urn:wallet-ledger:problem:internal_error","title":"Internal error","status":500,"code":"internal_error"}`)
		return http.StatusInternalServerError, body
	}
	return p.Status, body
}

func toProblem(err error) Problem {
	var p Problem
	var prob *Problem
	var coded Coded
	switch {
	case errors.As(err, &prob):
		p = *prob
	case errors.As(err, &coded):
		p = Problem{Code: coded.ProblemCode(), Detail: coded.ProblemDetail()}
	case errors.Is(err, context.DeadlineExceeded):
		p = Problem{Code: "service_unavailable", Detail: "the request did not finish in time; nothing was committed unless a retry with the same Idempotency-Key replays it"}
	default:
		p = Problem{Code: "internal_error"}
	}
	status, ok := statusByCode[p.Code]
	if !ok {
		p = Problem{Code: "internal_error"}
		status = http.StatusInternalServerError
	}
	p.Status = status
	p.Title = titleByCode[p.Code]
	p.Type = "urn:wallet-ledger:problem:" + p.Code
	return p
}

// WriteProblem writes err as problem+json, with the headers its status calls for.
func WriteProblem(w http.ResponseWriter, r *http.Request, err error) {
	status, body := ProblemFor(err, r.URL.Path)
	if status >= 500 {
		slog.ErrorContext(r.Context(), "request failed", "route", r.URL.Path, "status", status, "error", err)
	}
	WriteProblemBody(w, status, body)
}

// WriteProblemBody writes an already rendered problem, such as one replayed for an idempotency key. It adds the
// request's id (the Request-Id header RequestID set on w) as the body's request_id member.
func WriteProblemBody(w http.ResponseWriter, status int, body []byte) {
	h := w.Header()
	body = withRequestID(body, h.Get(requestid.Header))
	h.Set("Content-Type", ProblemContentType)
	h.Set("Cache-Control", "no-store")
	switch status {
	case http.StatusServiceUnavailable:
		h.Set("Retry-After", strconv.Itoa(retryAfterSeconds))
	case http.StatusUnauthorized:
		h.Set("WWW-Authenticate", `Bearer realm="wallet-ledger"`)
	}
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// WriteJSON writes v as a JSON response.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		WriteProblemBody(w, http.StatusInternalServerError, []byte(`{"type":"urn:wallet-ledger:problem:internal_error","title":"Internal error","status":500,"code":"internal_error"}`))
		return
	}
	WriteJSONBody(w, status, body)
}

// WriteJSONBody writes an already encoded JSON body.
func WriteJSONBody(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// withRequestID sets the top-level request_id member of a problem body to id, replacing one a stored body may
// carry from the request that first answered it. A body that is not a JSON object is left as it is.
func withRequestID(body []byte, id string) []byte {
	if id == "" {
		return body
	}
	var members map[string]json.RawMessage
	if err := json.Unmarshal(body, &members); err != nil || members == nil {
		return body
	}
	quoted, err := json.Marshal(id)
	if err != nil {
		return body
	}
	members["request_id"] = quoted
	out, err := json.Marshal(members)
	if err != nil {
		return body
	}
	return out
}
