package query

import (
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestHistoryCursorRoundTrips(t *testing.T) {
	for _, n := range []int64{1, 42, 1 << 53, 9223372036854775807} {
		got, ok := decodeCursor(encodeCursor(n))
		require.True(t, ok, "%d", n)
		assert.Equal(t, n, got)
	}
}

func TestHistoryQueryValidation(t *testing.T) {
	good := map[string]int{"": DefaultHistoryLimit, "?limit=1": 1, "?limit=200": 200, "?limit=50&cursor=" + encodeCursor(9): 50}
	for qs, want := range good {
		limit, _, err := parseHistoryQuery(httptest.NewRequest("GET", "/x"+qs, nil))
		require.NoError(t, err, qs)
		assert.Equal(t, want, limit, qs)
	}
	for _, qs := range []string{"?limit=0", "?limit=201", "?limit=-1", "?limit=1.5", "?limit=", "?limit=1&limit=2",
		"?cursor=", "?cursor=%%%", "?cursor=aDE6MDA3", "?cursor=aDE6MA", "?cursor=" + encodeCursor(5) + "&cursor=x",
		"?cursor=eDE6NQ"} {
		_, _, err := parseHistoryQuery(httptest.NewRequest("GET", "/x"+qs, nil))
		assert.Error(t, err, qs)
	}
}
