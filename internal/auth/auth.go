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

// Caller is the verified identity behind a request. Actor is set for a delegated token (RFC 8693 `act`): the
// agent acting on behalf of Sub. Such a caller never uses Sub's own authority: it is not an admin, owns nothing,
// and spends only under a mandate Sub's wallet holds for Actor.
type Caller struct {
	Sub    string
	Actor  string
	Scopes []string
}

// Delegated reports whether the caller is an agent acting on behalf of its Sub.
func (c Caller) Delegated() bool { return c.Actor != "" }

// Acting is the identity mandates name: the actor of a delegated token, otherwise the sub.
func (c Caller) Acting() string {
	if c.Delegated() {
		return c.Actor
	}
	return c.Sub
}

// Has reports whether the caller holds scope; wallet:admin implies read and write.
func (c Caller) Has(scope string) bool {
	if slices.Contains(c.Scopes, scope) {
		return true
	}
	return (scope == ScopeRead || scope == ScopeWrite) && slices.Contains(c.Scopes, ScopeAdmin)
}

// IsAdmin reports whether the caller may act on every wallet. A delegated caller never is, whatever its scopes:
// an agent must not borrow an operator's authority.
func (c Caller) IsAdmin() bool { return !c.Delegated() && slices.Contains(c.Scopes, ScopeAdmin) }

// Claims is the token's payload. Act is RFC 8693's actor claim, kept raw so that its shape is checked exactly.
type Claims struct {
	Scope string          `json:"scope"`
	Act   json.RawMessage `json:"act,omitempty"`
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
	actor, err := parseActor(claims.Act, claims.Subject)
	if err != nil {
		return Caller{}, time.Time{}, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	// exp is required, so it is set; the parser accepts a token up to exp + leeway, and so does the cache.
	return Caller{Sub: claims.Subject, Actor: actor, Scopes: scopes}, claims.ExpiresAt.Add(leeway), nil
}

// parseActor reads the act claim (RFC 8693 4.1): absent, or an object whose sub names the actor. A chain of
// delegation (act inside act) is refused rather than flattened: the ledger would have to decide which of the
// actors its mandates name. An actor that is the subject itself is refused as meaningless. Other members of the
// object (iss, ...) are ignored, as the RFC allows.
func parseActor(raw json.RawMessage, sub string) (string, error) {
	if len(raw) == 0 {
		return "", nil
	}
	var act map[string]json.RawMessage
	if err := json.Unmarshal(raw, &act); err != nil || act == nil {
		return "", errors.New("act claim is not a JSON object")
	}
	if _, nested := act["act"]; nested {
		return "", errors.New("act claim is nested: delegation chains are not accepted")
	}
	var actor string
	if err := json.Unmarshal(act["sub"], &actor); err != nil {
		return "", errors.New("act claim has no sub string")
	}
	if err := ValidSub(actor); err != nil {
		return "", fmt.Errorf("act.sub: %w", err)
	}
	if actor == sub {
		return "", errors.New("act.sub is the token's own sub")
	}
	return actor, nil
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
	return MintActing(secret, audience, sub, "", scopes, ttl)
}

// MintActing signs a delegated token: actor acting on behalf of sub (RFC 8693 `act`); actor "" mints a plain one.
func MintActing(secret, audience, sub, actor string, scopes []string, ttl time.Duration) (string, error) {
	now := time.Now()
	var act json.RawMessage
	if actor != "" {
		var err error
		if act, err = json.Marshal(map[string]string{"sub": actor}); err != nil {
			return "", fmt.Errorf("encode act claim: %w", err)
		}
	}
	claims := Claims{
		Act:   act,
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
