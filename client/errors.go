package client

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"
)

// Problem codes a caller is likely to act on; the full list is the ProblemCode schema of api/openapi.yaml.
const (
	CodeInsufficientFunds   = "insufficient_funds"
	CodeWalletNotFound      = "wallet_not_found"
	CodeTransactionNotFound = "transaction_not_found"
	CodeWalletExists        = "wallet_exists"
	CodeValidation          = "validation_error"
	CodeIdempotencyKeyReuse = "idempotency_key_reuse"
	CodeIdempotencyKeyInUse = "idempotency_key_in_use"
	CodeUnavailable         = "service_unavailable"
	CodeUnauthorized        = "unauthorized"
	CodeInsufficientScope   = "insufficient_scope"
	// CodeWebhookURLNotAllowed: the endpoint URL is not https, or leads to a private, loopback or metadata address.
	CodeWebhookURLNotAllowed    = "webhook_url_not_allowed"
	CodeWebhookEndpointNotFound = "webhook_endpoint_not_found"
	CodeRateLimited             = "rate_limited"
	CodeInvalidQuery            = "invalid_query"
	CodeForbidden               = "forbidden"
	CodeWalletFrozen            = "wallet_frozen"
	CodeMandateInactive         = "mandate_inactive"
	CodeMandateLimit            = "mandate_limit_exceeded"
	CodeVersionMismatch         = "version_mismatch"
	CodePreconditionNeeded      = "precondition_required"
)

// FieldError names one invalid field of a validation_error.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// Error is an RFC 9457 problem the server answered with. Switch on Code.
type Error struct {
	StatusCode int          `json:"status"`
	Code       string       `json:"code"`
	Type       string       `json:"type"`
	Title      string       `json:"title"`
	Detail     string       `json:"detail,omitempty"`
	Instance   string       `json:"instance,omitempty"`
	Errors     []FieldError `json:"errors,omitempty"`
	// RequestID is the id the service answered under (the body's request_id, else the Request-Id header).
	RequestID string `json:"request_id,omitempty"`
	// IdempotencyKey the refused write was sent with.
	IdempotencyKey string `json:"-"`
	// Replayed: this refusal was stored under the key by an earlier attempt.
	Replayed bool `json:"-"`
	// RetryAfter is the wait the server asked for (503, 429).
	RetryAfter time.Duration `json:"-"`
}

func newError(hr *http.Response, body []byte, key string) *Error {
	e := &Error{}
	if err := json.Unmarshal(body, e); err != nil || e.Code == "" {
		// Not a problem body (a proxy's error page, say): keep the status, name the code after it.
		e = &Error{Code: fallbackCode(hr.StatusCode), Title: http.StatusText(hr.StatusCode)}
	}
	e.StatusCode = hr.StatusCode
	if e.RequestID == "" {
		e.RequestID = hr.Header.Get("Request-Id")
	}
	e.IdempotencyKey = key
	e.Replayed = hr.Header.Get("Idempotent-Replayed") == "true"
	e.RetryAfter = retryAfter(hr.Header.Get("Retry-After"))
	return e
}

func fallbackCode(status int) string {
	switch {
	case status == http.StatusServiceUnavailable, status == http.StatusBadGateway, status == http.StatusGatewayTimeout:
		return CodeUnavailable
	case status == http.StatusTooManyRequests:
		return CodeRateLimited
	case status >= 500:
		return "internal_error"
	default:
		return fmt.Sprintf("http_%d", status)
	}
}

func (e *Error) Error() string {
	msg := fmt.Sprintf("wallet-api %d %s", e.StatusCode, e.Code)
	if e.Detail != "" {
		msg += ": " + e.Detail
	} else if e.Title != "" {
		msg += ": " + e.Title
	}
	if e.RequestID != "" {
		msg += " (request " + e.RequestID + ")"
	}
	return msg
}

// Retryable reports whether sending the same request again with the same key may succeed: the service was
// unavailable, the caller's rate limit was reached (nothing was done; RetryAfter says when to come back), or the
// key's first request is still running.
func (e *Error) Retryable() bool {
	return e.StatusCode == http.StatusServiceUnavailable || e.StatusCode == http.StatusBadGateway ||
		e.StatusCode == http.StatusGatewayTimeout || e.StatusCode == http.StatusTooManyRequests ||
		e.Code == CodeIdempotencyKeyInUse
}

// NetworkError is a call that got no HTTP answer: it may or may not have reached the server. Retry with the same
// IdempotencyKey to be sure it happens exactly once.
type NetworkError struct {
	Method, Path   string
	IdempotencyKey string
	Err            error
}

func (e *NetworkError) Error() string {
	if e.IdempotencyKey != "" {
		return fmt.Sprintf("wallet-api %s %s: no answer (retry with Idempotency-Key %q): %v", e.Method, e.Path, e.IdempotencyKey, e.Err)
	}
	return fmt.Sprintf("wallet-api %s %s: no answer: %v", e.Method, e.Path, e.Err)
}

// Unwrap returns the transport error.
func (e *NetworkError) Unwrap() error { return e.Err }
