package auth

import (
	"testing"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A delegated token (RFC 8693 act) is an agent acting for its sub: the caller carries both, and never the sub's
// own authority, whatever scopes the token lists.
func TestDelegatedTokenNamesTheActor(t *testing.T) {
	claims := validClaims()
	claims["sub"] = "alice"
	claims["scope"] = "wallet:read wallet:write wallet:admin"
	claims["act"] = map[string]any{"sub": "shopping-agent", "iss": "https://issuer.example"}
	c, err := NewVerifier(secret, audience).Verify(sign(t, jwt.SigningMethodHS256, []byte(secret), claims))
	require.NoError(t, err)
	assert.Equal(t, "alice", c.Sub)
	assert.Equal(t, "shopping-agent", c.Actor)
	assert.True(t, c.Delegated())
	assert.Equal(t, "shopping-agent", c.Acting())
	assert.False(t, c.IsAdmin(), "an agent never borrows an operator's authority")

	plain := Caller{Sub: "alice", Scopes: []string{ScopeAdmin}}
	assert.False(t, plain.Delegated())
	assert.Equal(t, "alice", plain.Acting())
	assert.True(t, plain.IsAdmin())

	tok, err := MintActing(secret, audience, "alice", "shopping-agent", []string{ScopeWrite}, 60e9)
	require.NoError(t, err)
	c, err = NewVerifier(secret, audience).Verify(tok)
	require.NoError(t, err)
	assert.Equal(t, Caller{Sub: "alice", Actor: "shopping-agent", Scopes: []string{ScopeWrite}}, c)
}

// An act claim the ledger cannot read exactly is a refused token (401), never a token without an actor.
func TestDelegatedTokenShapesRefused(t *testing.T) {
	for name, act := range map[string]any{
		"nested act":         map[string]any{"sub": "agent", "act": map[string]any{"sub": "sub-agent"}},
		"nested null act":    map[string]any{"sub": "agent", "act": nil},
		"act without sub":    map[string]any{"iss": "x"},
		"act with empty sub": map[string]any{"sub": ""},
		"act with null sub":  map[string]any{"sub": nil},
		"act sub a number":   map[string]any{"sub": 7},
		"act not an object":  "agent",
		"act a list":         []any{map[string]any{"sub": "agent"}},
		"act null":           nil,
		"act is the sub":     map[string]any{"sub": "alice"},
		"act is the ledger":  map[string]any{"sub": SystemSub},
		"act unprintable":    map[string]any{"sub": "a\x1fb"},
	} {
		claims := validClaims()
		claims["sub"] = "alice"
		claims["act"] = act
		_, err := NewVerifier(secret, audience).Verify(sign(t, jwt.SigningMethodHS256, []byte(secret), claims))
		assert.ErrorIs(t, err, ErrInvalidToken, name)
	}
}
