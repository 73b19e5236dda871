package auth

import (
	"fmt"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	secret   = "test-secret-0123456789abcdef"
	audience = "agentic-commerce"
)

func sign(t *testing.T, method jwt.SigningMethod, key any, claims jwt.MapClaims) string {
	t.Helper()
	tok, err := jwt.NewWithClaims(method, claims).SignedString(key)
	require.NoError(t, err)
	return tok
}

// signWithHeader signs validClaims with HS256 and one more header parameter.
func signWithHeader(t *testing.T, name string, value any) string {
	t.Helper()
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, validClaims())
	tok.Header[name] = value
	s, err := tok.SignedString([]byte(secret))
	require.NoError(t, err)
	return s
}

func validClaims() jwt.MapClaims {
	now := time.Now()
	return jwt.MapClaims{
		"sub": "agent-7", "aud": audience, "scope": "wallet:read wallet:write",
		"exp": now.Add(time.Hour).Unix(), "iat": now.Unix(),
	}
}

func TestVerifyAcceptsAValidToken(t *testing.T) {
	v := NewVerifier(secret, audience)
	c, err := v.Verify(sign(t, jwt.SigningMethodHS256, []byte(secret), validClaims()))
	require.NoError(t, err)
	assert.Equal(t, "agent-7", c.Sub)
	assert.Equal(t, []string{"wallet:read", "wallet:write"}, c.Scopes)
}

func TestVerifyAcceptsAnAudienceList(t *testing.T) {
	claims := validClaims()
	claims["aud"] = []string{"other", audience}
	_, err := NewVerifier(secret, audience).Verify(sign(t, jwt.SigningMethodHS256, []byte(secret), claims))
	require.NoError(t, err)
}

func TestVerifyRefuses(t *testing.T) {
	now := time.Now()
	with := func(k string, v any) jwt.MapClaims {
		c := validClaims()
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
		return c
	}
	cases := map[string]string{
		"missing sub":          sign(t, jwt.SigningMethodHS256, []byte(secret), with("sub", nil)),
		"empty sub":            sign(t, jwt.SigningMethodHS256, []byte(secret), with("sub", "")),
		"sub with NUL":         sign(t, jwt.SigningMethodHS256, []byte(secret), with("sub", "a\x00b")),
		"missing aud":          sign(t, jwt.SigningMethodHS256, []byte(secret), with("aud", nil)),
		"wrong aud":            sign(t, jwt.SigningMethodHS256, []byte(secret), with("aud", "someone-else")),
		"missing exp":          sign(t, jwt.SigningMethodHS256, []byte(secret), with("exp", nil)),
		"expired":              sign(t, jwt.SigningMethodHS256, []byte(secret), with("exp", now.Add(-time.Hour).Unix())),
		"not yet valid":        sign(t, jwt.SigningMethodHS256, []byte(secret), with("nbf", now.Add(time.Hour).Unix())),
		"issued in future":     sign(t, jwt.SigningMethodHS256, []byte(secret), with("iat", now.Add(time.Hour).Unix())),
		"missing scope":        sign(t, jwt.SigningMethodHS256, []byte(secret), with("scope", nil)),
		"blank scope":          sign(t, jwt.SigningMethodHS256, []byte(secret), with("scope", "   ")),
		"scope not a string":   sign(t, jwt.SigningMethodHS256, []byte(secret), with("scope", 42)),
		"wrong secret":         sign(t, jwt.SigningMethodHS256, []byte("another-secret-0123456789"), validClaims()),
		"other HMAC alg":       sign(t, jwt.SigningMethodHS512, []byte(secret), validClaims()),
		"alg none":             sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, validClaims()),
		"garbage":              "not.a.jwt",
		"empty":                "",
		"truncated signature":  sign(t, jwt.SigningMethodHS256, []byte(secret), validClaims())[:60],
		"the ledger's own sub": sign(t, jwt.SigningMethodHS256, []byte(secret), with("sub", SystemSub)),
		"exp as a string":      sign(t, jwt.SigningMethodHS256, []byte(secret), with("exp", fmt.Sprint(now.Add(time.Hour).Unix()))),
		"nbf as a string":      sign(t, jwt.SigningMethodHS256, []byte(secret), with("nbf", fmt.Sprint(now.Unix()))),
		"iat as a string":      sign(t, jwt.SigningMethodHS256, []byte(secret), with("iat", fmt.Sprint(now.Unix()))),
		"crit header":          signWithHeader(t, "crit", []string{"exp"}),
	}
	v := NewVerifier(secret, audience)
	for name, tok := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := v.Verify(tok)
			require.ErrorIs(t, err, ErrInvalidToken)
		})
	}
}

func TestVerifyHonoursLeewayForSmallSkew(t *testing.T) {
	claims := validClaims()
	claims["nbf"] = time.Now().Add(2 * time.Second).Unix()
	claims["exp"] = time.Now().Add(-2 * time.Second).Unix()
	_, err := NewVerifier(secret, audience).Verify(sign(t, jwt.SigningMethodHS256, []byte(secret), claims))
	require.NoError(t, err)
}

// The leeway is a few seconds of clock skew, no more: a token ten seconds past its exp is refused.
func TestVerifyRefusesTokenPastTheLeeway(t *testing.T) {
	require.LessOrEqual(t, leeway, 5*time.Second)
	claims := validClaims()
	claims["exp"] = time.Now().Add(-leeway - 3*time.Second).Unix()
	_, err := NewVerifier(secret, audience).Verify(sign(t, jwt.SigningMethodHS256, []byte(secret), claims))
	require.ErrorIs(t, err, ErrInvalidToken)
}

func TestScopes(t *testing.T) {
	admin := Caller{Sub: "a", Scopes: []string{ScopeAdmin}}
	assert.True(t, admin.Has(ScopeRead))
	assert.True(t, admin.Has(ScopeWrite))
	assert.True(t, admin.Has(ScopeAdmin))
	reader := Caller{Sub: "r", Scopes: []string{ScopeRead}}
	assert.True(t, reader.Has(ScopeRead))
	assert.False(t, reader.Has(ScopeWrite))
	assert.False(t, reader.Has(ScopeAdmin))
	assert.False(t, reader.IsAdmin())
}

func TestMintRoundTrips(t *testing.T) {
	tok, err := Mint(secret, audience, "demo", []string{ScopeRead, ScopeAdmin}, time.Minute)
	require.NoError(t, err)
	c, err := NewVerifier(secret, audience).Verify(tok)
	require.NoError(t, err)
	assert.Equal(t, Caller{Sub: "demo", Scopes: []string{ScopeRead, ScopeAdmin}}, c)
}

// FuzzVerify: no token, however malformed, may panic or be accepted without the secret.
func FuzzVerify(f *testing.F) {
	good, err := Mint(secret, audience, "demo", []string{ScopeRead}, time.Hour)
	require.NoError(f, err)
	f.Add(good)
	f.Add("")
	f.Add("a.b.c")
	f.Add("eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.")
	v := NewVerifier(secret, audience)
	f.Fuzz(func(t *testing.T, tok string) {
		c, err := v.Verify(tok)
		if err != nil {
			return
		}
		// Anything accepted must be a token this secret signed: re-verification agrees and sub is usable.
		require.NotEmpty(t, c.Sub)
		require.NotEmpty(t, c.Scopes)
	})
}

// The cache of accepted tokens must never outlive a token: past exp + leeway it is refused, as a first check
// would refuse it.
func TestAcceptedTokenStillExpires(t *testing.T) {
	now := time.Now()
	clock := now
	v := newVerifier(secret, audience, func() time.Time { return clock })
	claims := validClaims()
	claims["exp"] = now.Add(time.Minute).Unix()
	tok := sign(t, jwt.SigningMethodHS256, []byte(secret), claims)

	c, err := v.Verify(tok)
	require.NoError(t, err)
	assert.Equal(t, "agent-7", c.Sub)
	clock = now.Add(time.Minute + leeway - time.Second)
	_, err = v.Verify(tok)
	require.NoError(t, err, "still inside exp + leeway")
	clock = now.Add(time.Minute + leeway + time.Second)
	_, err = v.Verify(tok)
	require.ErrorIs(t, err, ErrInvalidToken)
	_, err = v.Verify(tok)
	require.ErrorIs(t, err, ErrInvalidToken, "refused again, not re-admitted")
}

// Only the byte-identical token is answered from the cache: another signature over the same claims is checked in
// full and refused.
func TestCacheAnswersOnlyTheSameToken(t *testing.T) {
	v := NewVerifier(secret, audience)
	claims := validClaims()
	good := sign(t, jwt.SigningMethodHS256, []byte(secret), claims)
	_, err := v.Verify(good)
	require.NoError(t, err)
	forged := sign(t, jwt.SigningMethodHS256, []byte("another-secret-0123456789abcdef"), claims)
	_, err = v.Verify(forged)
	require.ErrorIs(t, err, ErrInvalidToken)
	// Same header and payload, signature cut short.
	_, err = v.Verify(good[:len(good)-2])
	require.ErrorIs(t, err, ErrInvalidToken)
}

// A full cache starts again empty and keeps accepting and refusing correctly.
func TestCacheStaysBounded(t *testing.T) {
	v := NewVerifier(secret, audience)
	for i := 0; i < maxAccepted+10; i++ {
		claims := validClaims()
		claims["sub"] = fmt.Sprintf("agent-%d", i)
		c, err := v.Verify(sign(t, jwt.SigningMethodHS256, []byte(secret), claims))
		require.NoError(t, err)
		require.Equal(t, fmt.Sprintf("agent-%d", i), c.Sub)
	}
	v.mu.Lock()
	n := len(v.accepted)
	v.mu.Unlock()
	assert.LessOrEqual(t, n, maxAccepted)
}
