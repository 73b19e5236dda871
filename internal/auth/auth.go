// Package auth verifies bearer JWTs and yields the caller: its subject and scopes.
package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
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

// SystemSub is the ledger's own identity: it owns the system wallets, and the hold sweeper writes as it. No token
// may carry it: its bearer could read the system wallets and the sweeper's transactions, and squat the sweeper's
// idempotency keys so that no hold ever expires. eventstore.SystemOwner has this value (package command's tests
// hold the two together).
const SystemSub = "system"

// leeway absorbs clock skew between the token issuer and this service for exp, nbf and iat. It is kept to a few
// seconds: every second of it is a second a token its issuer considers expired can still spend.
const leeway = 5 * time.Second

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

// Verifier checks HS256 tokens against one secret and audience. It remembers the tokens it accepted until they
// expire: an agent sends the same token with every request, and parsing and checking it again each time was
// about a twelfth of the API's CPU per transfer. The cache is keyed by the whole token, signature included, so
// only a byte-identical token is ever answered from it.
type Verifier struct {
	secret   []byte
	audience string
	parser   *jwt.Parser
	now      func() time.Time

	mu       sync.Mutex
	accepted map[string]acceptedToken
}

// acceptedToken is a verified token's caller and the instant past which it is no longer accepted.
type acceptedToken struct {
	caller Caller
	until  time.Time
}

// maxAccepted bounds the cache; when it is full it starts again empty, which costs one full check per token.
const maxAccepted = 4096

// NewVerifier returns a Verifier for HS256 tokens signed with secret and addressed to audience.
func NewVerifier(secret, audience string) *Verifier {
	return newVerifier(secret, audience, time.Now)
}

func newVerifier(secret, audience string, now func() time.Time) *Verifier {
	return &Verifier{
		secret:   []byte(secret),
		audience: audience,
		now:      now,
		accepted: map[string]acceptedToken{},
		parser: jwt.NewParser(
			jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
			jwt.WithAudience(audience),
			jwt.WithExpirationRequired(),
			jwt.WithIssuedAt(),
			jwt.WithLeeway(leeway),
			jwt.WithTimeFunc(now),
		),
	}
}

// Verify parses and checks a compact JWT. Only the configured algorithm is accepted, so "none" and key-confusion
// tokens fail before the signature is looked at. A token accepted before is accepted again without a new check
// until its exp (plus the leeway) has passed.
func (v *Verifier) Verify(token string) (Caller, error) {
	now := v.now()
	v.mu.Lock()
	hit, ok := v.accepted[token]
	if ok && !now.Before(hit.until) {
		delete(v.accepted, token)
		ok = false
	}
	v.mu.Unlock()
	if ok {
		return hit.caller, nil
	}
	caller, until, err := v.verify(token)
	if err != nil {
		return Caller{}, err
	}
	v.mu.Lock()
	if len(v.accepted) >= maxAccepted {
		clear(v.accepted)
	}
	v.accepted[token] = acceptedToken{caller: caller, until: until}
	v.mu.Unlock()
	return caller, nil
}

// verify checks token in full and returns its caller and the instant it stops being accepted.
func (v *Verifier) verify(token string) (Caller, time.Time, error) {
	var claims Claims
	_, err := v.parser.ParseWithClaims(token, &claims, func(t *jwt.Token) (any, error) {
		// RFC 7515 4.1.11: a token whose crit header names extensions the recipient does not understand (this
		// service understands none) must be refused.
		if _, ok := t.Header["crit"]; ok {
			return nil, errors.New("crit header names extensions this service does not implement")
		}
		return v.secret, nil
	})
	if err != nil {
		return Caller{}, time.Time{}, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	if err := numericDates(token); err != nil {
		return Caller{}, time.Time{}, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	if err := ValidSub(claims.Subject); err != nil {
		return Caller{}, time.Time{}, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	scopes := strings.Fields(claims.Scope)
	if len(scopes) == 0 {
		return Caller{}, time.Time{}, fmt.Errorf("%w: scope claim is missing or empty", ErrInvalidToken)
	}
	// exp is required, so it is set; the parser accepts a token up to exp + leeway, and so does the cache.
	return Caller{Sub: claims.Subject, Scopes: scopes}, claims.ExpiresAt.Add(leeway), nil
}

// numericDates refuses exp, nbf or iat given as anything but a JSON number (RFC 7519 NumericDate): the parser
// also reads a string such as "1790000000". It runs after the signature was checked, on the payload it covered.
func numericDates(token string) error {
	parts := strings.Split(token, ".")
	payload, err := jwt.NewParser().DecodeSegment(parts[1])
	if err != nil {
		return fmt.Errorf("decode payload: %w", err)
	}
	var dates struct {
		Exp, Nbf, Iat json.RawMessage
	}
	if err := json.Unmarshal(payload, &dates); err != nil {
		return fmt.Errorf("decode payload: %w", err)
	}
	for name, raw := range map[string]json.RawMessage{"exp": dates.Exp, "nbf": dates.Nbf, "iat": dates.Iat} {
		if len(raw) > 0 && (raw[0] == '"' || raw[0] == '{' || raw[0] == '[') {
			return fmt.Errorf("%s claim is not a JSON number", name)
		}
	}
	return nil
}

// ValidSub reports why no token may carry sub, or nil: it must be 1 to 255 bytes of printable text and not the
// ledger's own SystemSub.
func ValidSub(sub string) error {
	if sub == "" {
		return errors.New("sub claim is missing")
	}
	if sub == SystemSub {
		return fmt.Errorf("sub %q is reserved for the ledger itself", sub)
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

// Known reports whether scope is one of the scopes the API knows.
func Known(scope string) bool {
	return scope == ScopeRead || scope == ScopeWrite || scope == ScopeAdmin
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
