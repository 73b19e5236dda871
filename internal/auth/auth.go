// Package auth verifies bearer JWTs and yields the caller: its subject and scopes.
package auth

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/golang-jwt/jwt/v5"
)

// Scopes the API knows.
const (
	ScopeRead  = "wallet:read"
	ScopeWrite = "wallet:write"
	ScopeAdmin = "wallet:admin"
)

// leeway absorbs clock skew between the token issuer and this service for exp, nbf and iat.
const leeway = 30 * time.Second

// maxSubLength matches the owner column: a sub that could not be stored is refused at the door.
const maxSubLength = 255

// ErrInvalidToken is returned for every token that is not accepted; the reason is wrapped for logs, never sent back.
var ErrInvalidToken = errors.New("invalid token")

// Caller is the verified identity behind a request.
type Caller struct {
	Sub    string
	Scopes []string
}

// Has reports whether the caller holds scope; wallet:admin implies read and write.
func (c Caller) Has(scope string) bool {
	if slices.Contains(c.Scopes, scope) {
		return true
	}
	return (scope == ScopeRead || scope == ScopeWrite) && slices.Contains(c.Scopes, ScopeAdmin)
}

// IsAdmin reports whether the caller may act on every wallet.
func (c Caller) IsAdmin() bool { return slices.Contains(c.Scopes, ScopeAdmin) }

// Claims is the token's payload.
type Claims struct {
	Scope string `json:"scope"`
	jwt.RegisteredClaims
}

// Verifier checks HS256 tokens against one secret and audience.
type Verifier struct {
	secret   []byte
	audience string
	parser   *jwt.Parser
}

// NewVerifier returns a Verifier for HS256 tokens signed with secret and addressed to audience.
func NewVerifier(secret, audience string) *Verifier {
	return &Verifier{
		secret:   []byte(secret),
		audience: audience,
		parser: jwt.NewParser(
			jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
			jwt.WithAudience(audience),
			jwt.WithExpirationRequired(),
			jwt.WithIssuedAt(),
			jwt.WithLeeway(leeway),
		),
	}
}

// Verify parses and checks a compact JWT. Only the configured algorithm is accepted, so "none" and key-confusion
// tokens fail before the signature is looked at.
func (v *Verifier) Verify(token string) (Caller, error) {
	var claims Claims
	_, err := v.parser.ParseWithClaims(token, &claims, func(*jwt.Token) (any, error) { return v.secret, nil })
	if err != nil {
		return Caller{}, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	if err := validSub(claims.Subject); err != nil {
		return Caller{}, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	scopes := strings.Fields(claims.Scope)
	if len(scopes) == 0 {
		return Caller{}, fmt.Errorf("%w: scope claim is missing or empty", ErrInvalidToken)
	}
	return Caller{Sub: claims.Subject, Scopes: scopes}, nil
}

func validSub(sub string) error {
	if sub == "" {
		return errors.New("sub claim is missing")
	}
	if len(sub) > maxSubLength {
		return errors.New("sub claim is too long")
	}
	for _, r := range sub {
		if r == unicode.ReplacementChar || !unicode.IsPrint(r) {
			return errors.New("sub claim has a character that is not printable")
		}
	}
	return nil
}

// Mint signs a token for sub with the given scopes; walletctl and the tests use it to make dev tokens.
func Mint(secret, audience, sub string, scopes []string, ttl time.Duration) (string, error) {
	now := time.Now()
	claims := Claims{
		Scope: strings.Join(scopes, " "),
		RegisteredClaims: jwt.RegisteredClaims{
			Subject:   sub,
			Audience:  jwt.ClaimStrings{audience},
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
		},
	}
	signed, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(secret))
	if err != nil {
		return "", fmt.Errorf("sign token: %w", err)
	}
	return signed, nil
}

type callerKey struct{}

// WithCaller returns a context carrying the verified caller.
func WithCaller(ctx context.Context, c Caller) context.Context {
	return context.WithValue(ctx, callerKey{}, c)
}

// CallerFrom returns the caller the auth middleware stored, if any.
func CallerFrom(ctx context.Context) (Caller, bool) {
	c, ok := ctx.Value(callerKey{}).(Caller)
	return c, ok
}
