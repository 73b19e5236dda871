// Package requestid carries the identifier of one HTTP request: accepted from the caller's X-Request-Id when it is
// safe to echo, generated otherwise, and kept in the request's context so that every response header, problem
// body, log line and span of the request names it.
package requestid

import (
	"context"

	"github.com/google/uuid"
)

// Header names: the caller may send X-Request-Id; every response carries Request-Id.
const (
	IncomingHeader = "X-Request-Id"
	Header         = "Request-Id"
)

// MaxLen is the longest identifier accepted from a caller.
const MaxLen = 128

type key struct{}

// With returns ctx carrying id.
func With(ctx context.Context, id string) context.Context { return context.WithValue(ctx, key{}, id) }

// From returns the request id in ctx, or "" outside a request.
func From(ctx context.Context) string {
	id, _ := ctx.Value(key{}).(string)
	return id
}

// Valid reports whether s may be used as a request id: 1 to MaxLen characters, each a letter, a digit or one of
// "-._~:+/=@". Nothing else reaches a header, a JSON body or a log line unescaped, so a caller's id can be echoed
// everywhere without quoting.
func Valid(s string) bool {
	if len(s) == 0 || len(s) > MaxLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '-' || c == '.' || c == '_' || c == '~' || c == ':' || c == '+' || c == '/' || c == '=' || c == '@':
		default:
			return false
		}
	}
	return true
}

// New generates an id: a version-7 UUID, so generated ids sort by the time they were made.
func New() string {
	id, err := uuid.NewV7()
	if err != nil {
		// Only a failing system random source gets here; a version-4 UUID panics on the same failure.
		return uuid.NewString()
	}
	return id.String()
}

// Choose returns the caller's id when exactly one valid one was sent, else a new one.
func Choose(sent []string) string {
	if len(sent) == 1 && Valid(sent[0]) {
		return sent[0]
	}
	return New()
}
