package httpapi

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentic-commerce/wallet-ledger/internal/config"
)

// clock is a settable time for the limiter.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

func newTestLimiter(t *testing.T, limits config.RateLimit, maxKeys int) (*RateLimiter, *clock) {
	t.Helper()
	c := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	l, err := NewRateLimiter(limits, maxKeys, c.now)
	require.NoError(t, err)
	return l, c
}

func shared(rate float64, burst int) config.RateLimit {
	b := config.Budget{Rate: rate, Burst: burst}
	return config.RateLimit{Read: b, Write: b}
}

func TestBucketHeadersCountDownAndRefill(t *testing.T) {
	l, c := newTestLimiter(t, shared(2, 3), 0)
	for i, want := range []struct{ remaining, reset int }{{2, 1}, {1, 1}, {0, 2}} {
		d := l.take("write", "sub:alice")
		require.True(t, d.allowed, "request %d", i)
		assert.Equal(t, 3, d.limit)
		assert.Equal(t, want.remaining, d.remaining)
		assert.Equal(t, want.reset, d.reset, "%d missing tokens at 2/s: full again within so many whole seconds", 3-want.remaining)
	}
	d := l.take("write", "sub:alice")
	assert.False(t, d.allowed)
	assert.Equal(t, 0, d.remaining)
	assert.Equal(t, 1, d.retryAfter, "one token comes back in 0.5 s: retry after 1 s (whole seconds, rounded up)")
	assert.True(t, l.take("write", "sub:bob").allowed, "another caller has its own bucket")

	c.add(500 * time.Millisecond)
	assert.True(t, l.take("read", "sub:alice").allowed, "a token came back")
	c.add(10 * time.Second)
	d = l.take("read", "sub:alice")
	assert.Equal(t, 2, d.remaining, "a bucket refills to its burst, no further")
}

func TestSplitBudgetsKeepReadsAndWritesApart(t *testing.T) {
	l, _ := newTestLimiter(t, config.RateLimit{Read: config.Budget{Rate: 1, Burst: 5},
		Write: config.Budget{Rate: 1, Burst: 1}, Split: true}, 0)
	assert.True(t, l.take("write", "sub:alice").allowed)
	assert.False(t, l.take("write", "sub:alice").allowed)
	d := l.take("read", "sub:alice")
	assert.True(t, d.allowed, "reads have their own bucket")
	assert.Equal(t, 5, d.limit)

	one, _ := newTestLimiter(t, shared(1, 1), 0)
	assert.True(t, one.take("write", "sub:alice").allowed)
	assert.False(t, one.take("read", "sub:alice").allowed, "without split budgets, reads and writes share one")
}

// The table of buckets stays bounded: full buckets are forgotten (a new one is the same), and past MaxKeys new
// callers share one overflow bucket instead of growing the table.
func TestLimiterMemoryIsBounded(t *testing.T) {
	l, c := newTestLimiter(t, shared(10, 10), 100)
	for i := range 100 {
		l.take("read", fmt.Sprintf("ip:10.0.0.%d", i))
	}
	assert.Equal(t, 100, l.Keys())

	// All 100 are mid-burst: a newcomer goes to the overflow bucket, the table does not grow.
	for i := range 20 {
		assert.True(t, l.take("read", fmt.Sprintf("ip:10.1.0.%d", i)).allowed || i >= 10, "newcomer %d", i)
	}
	assert.Equal(t, 100, l.Keys())
	assert.False(t, l.take("read", "ip:10.2.0.1").allowed, "the overflow bucket (10) is spent: the limiter errs towards refusing")

	// A second later every bucket is full again: the next sweep forgets them all.
	c.add(time.Second)
	assert.True(t, l.take("read", "ip:10.3.0.1").allowed)
	assert.Equal(t, 1, l.Keys(), "idle callers were forgotten; only the new one is held")

	// Idle keys are swept once a minute even when the table is far from full.
	l2, c2 := newTestLimiter(t, shared(10, 10), 0)
	for i := range 50 {
		l2.take("read", fmt.Sprintf("sub:%d", i))
	}
	c2.add(sweepEvery)
	l2.take("read", "sub:new")
	assert.Equal(t, 1, l2.Keys())
}

func TestClientKeyGroupsIPv6By64(t *testing.T) {
	for addr, want := range map[string]string{
		"192.0.2.7:5555":            "ip:192.0.2.7",
		"[2001:db8:1:2:3:4:5:6]:80": "ip:2001:db8:1:2::/64",
		"[2001:db8:1:2:ffff::1]:80": "ip:2001:db8:1:2::/64",
		"[::ffff:192.0.2.7]:80":     "ip:192.0.2.7",
		"not-an-address":            "ip:not-an-address",
	} {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.RemoteAddr = addr
		assert.Equal(t, want, clientKey(r), addr)
	}
}

func TestAdmitAnswers429WithTheHeaders(t *testing.T) {
	l, _ := newTestLimiter(t, shared(0.5, 1), 0)
	reached := 0
	h := l.ByClient(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { reached++ }))
	serve := func() *httptest.ResponseRecorder {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/v1/openapi.json", nil))
		return w
	}
	first := serve()
	assert.Equal(t, http.StatusOK, first.Code)
	assert.Equal(t, "1", first.Header().Get("RateLimit-Limit"))
	assert.Equal(t, "0", first.Header().Get("RateLimit-Remaining"))
	assert.Equal(t, "2", first.Header().Get("RateLimit-Reset"))
	second := serve()
	assert.Equal(t, http.StatusTooManyRequests, second.Code)
	assert.Equal(t, ProblemContentType, second.Header().Get("Content-Type"))
	assert.Equal(t, "2", second.Header().Get("Retry-After"))
	assert.Contains(t, second.Body.String(), `"code":"rate_limited"`)
	assert.Equal(t, 1, reached, "a refused request reaches no handler")
	_, err := strconv.Atoi(second.Header().Get("RateLimit-Reset"))
	assert.NoError(t, err)
}

func TestNewRateLimiterRefusesNonsense(t *testing.T) {
	for _, rl := range []config.RateLimit{shared(0, 1), shared(1, 0), shared(-1, 5)} {
		_, err := NewRateLimiter(rl, 0, nil)
		assert.Error(t, err, "%+v", rl)
	}
}
