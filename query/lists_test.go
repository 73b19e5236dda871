package query

import (
	"encoding/base64"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func testCursors(t *testing.T) cursors {
	t.Helper()
	c, err := newCursors([]byte("cursor-secret-0123456789"))
	require.NoError(t, err)
	return c
}

func TestCursorRoundTripsWithinItsScope(t *testing.T) {
	c := testCursors(t)
	at := time.Date(2026, 3, 4, 5, 6, 7, 123456000, time.UTC)
	for _, p := range []position{{N: 1}, {N: 1 << 53}, {N: 9223372036854775807}, {At: at, ID: uuid.New()},
		{At: time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC), ID: uuid.Max}} {
		s := scope("GET /v1/wallets", "alice", false, "", "USD")
		got, err := c.decode(s, c.encode(s, p))
		require.NoError(t, err)
		assert.Equal(t, p.N, got.N)
		assert.Equal(t, p.ID, got.ID)
		if !p.At.IsZero() {
			assert.True(t, p.At.Equal(got.At), "%v vs %v", p.At, got.At)
		}
	}
}

// A cursor is only good for the query it came from: another route, caller, role or filter, a changed byte, a
// cursor signed with another secret, or something that is not a cursor at all is refused.
func TestCursorIsRefusedOutsideItsQueryOrAltered(t *testing.T) {
	c := testCursors(t)
	s := scope("GET /v1/wallets", "alice", false, "", "USD")
	good := c.encode(s, position{At: time.Now().UTC(), ID: uuid.New()})
	_, err := c.decode(s, good)
	require.NoError(t, err)

	for name, other := range map[string]string{
		"route":    scope("GET /v1/transactions", "alice", false, "", "USD"),
		"caller":   scope("GET /v1/wallets", "bob", false, "", "USD"),
		"role":     scope("GET /v1/wallets", "alice", true, "", "USD"),
		"filter":   scope("GET /v1/wallets", "alice", false, "", "EUR"),
		"shifted":  scope("GET /v1/wallets", "alice", false, "USD", ""),
		"no scope": "",
	} {
		_, err := c.decode(other, good)
		assert.ErrorIs(t, err, errBadCursor, name)
	}
	raw, err := base64.RawURLEncoding.DecodeString(good)
	require.NoError(t, err)
	for i := range raw {
		for bit := range 8 {
			b := append([]byte(nil), raw...)
			b[i] ^= 1 << bit
			_, err := c.decode(s, base64.RawURLEncoding.EncodeToString(b))
			require.ErrorIs(t, err, errBadCursor, "byte %d bit %d", i, bit)
		}
	}
	foreign, err := newCursors([]byte("another-secret-0123456789"))
	require.NoError(t, err)
	_, err = c.decode(s, foreign.encode(s, position{N: 5}))
	assert.ErrorIs(t, err, errBadCursor, "signed with another secret")
	for _, junk := range []string{"", "x", "not-a-cursor", good + "A", good[:len(good)-1], "%%%",
		base64.RawURLEncoding.EncodeToString([]byte("h1:42"))} {
		_, err := c.decode(s, junk)
		assert.ErrorIs(t, err, errBadCursor, "%q", junk)
	}
	_, err = newCursors([]byte("short"))
	assert.Error(t, err, "a short secret is refused")
}

func TestListQueryValidation(t *testing.T) {
	good := map[string]int{"": DefaultLimit, "?limit=1": 1, "?limit=200": 200, "?limit=50&cursor=abc": 50,
		"?asset=USD": DefaultLimit}
	for qs, want := range good {
		l, err := parseListQuery(httptest.NewRequest("GET", "/x"+qs, nil), "asset")
		require.NoError(t, err, qs)
		assert.Equal(t, want, l.limit, qs)
	}
	for _, qs := range []string{"?limit=0", "?limit=201", "?limit=-1", "?limit=1.5", "?limit=", "?limit=1&limit=2",
		"?cursor=", "?cursor=a&cursor=b", "?asset=", "?asset=USD&asset=EUR", "?colour=red", "?%zz", "?Asset=USD"} {
		_, err := parseListQuery(httptest.NewRequest("GET", "/x"+qs, nil), "asset")
		assert.Error(t, err, qs)
	}
}

func TestNewPageCutsAndPointsAtTheLastItemKept(t *testing.T) {
	cursor := func(n int) string { return string(rune('a' + n)) }
	id := func(n int) int { return n }
	p := newPage([]int{1, 2, 3}, 2, id, cursor)
	assert.Equal(t, []int{1, 2}, p.Data)
	assert.True(t, p.HasMore)
	require.NotNil(t, p.NextCursor)
	assert.Equal(t, "c", *p.NextCursor)
	p = newPage([]int{1, 2}, 2, id, cursor)
	assert.False(t, p.HasMore)
	assert.Nil(t, p.NextCursor)
	p = newPage([]int(nil), 2, id, cursor)
	assert.NotNil(t, p.Data, "an empty page is [] in JSON, never null")
}
