package httpapi

import (
	"errors"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/agentic-commerce/wallet-ledger/internal/config"
)

// Rate limit headers: the bucket's size, what is left of it, and the seconds until it is full again (the fields
// of the IETF httpapi draft "RateLimit header fields for HTTP", in their separate-header form).
const (
	headerRateLimitLimit     = "RateLimit-Limit"
	headerRateLimitRemaining = "RateLimit-Remaining"
	headerRateLimitReset     = "RateLimit-Reset"
)

// DefaultMaxRateKeys bounds how many callers' buckets a RateLimiter remembers at once (about 100 bytes each).
const DefaultMaxRateKeys = 100_000

// sweepEvery is how often idle buckets are forgotten.
const sweepEvery = time.Minute

// RateLimiter is a token bucket per caller (golang.org/x/time/rate), per process: an authenticated caller is
// limited by its sub, anything else by its client address (IPv6 by its /64, which one host usually holds whole).
//
// Its memory is bounded. A bucket left alone refills; once full it is indistinguishable from a new one, so the
// sweep that runs every minute (and at most once a second while the table is full) forgets full buckets without
// changing any caller's budget. If MaxKeys callers are all mid-burst at once, new callers share one overflow bucket per class
// until room frees: the limiter stays bounded and errs towards refusing.
type RateLimiter struct {
	limits  config.RateLimit
	maxKeys int
	now     func() time.Time

	mu        sync.Mutex
	buckets   map[bucketKey]*rate.Limiter
	overflow  map[string]*rate.Limiter
	lastSweep time.Time
	warned    time.Time
}

type bucketKey struct {
	class  string // "" when reads and writes share a bucket
	caller string
}

// NewRateLimiter returns a limiter with limits. maxKeys <= 0 uses DefaultMaxRateKeys; now nil uses time.Now.
func NewRateLimiter(limits config.RateLimit, maxKeys int, now func() time.Time) (*RateLimiter, error) {
	for _, b := range []config.Budget{limits.Read, limits.Write} {
		if !(b.Rate > 0) || math.IsInf(b.Rate, 0) || b.Burst < 1 {
			return nil, errors.New("rate limit: want a positive rate and burst")
		}
	}
	if maxKeys <= 0 {
		maxKeys = DefaultMaxRateKeys
	}
	if now == nil {
		now = time.Now
	}
	return &RateLimiter{limits: limits, maxKeys: maxKeys, now: now, buckets: map[bucketKey]*rate.Limiter{},
		overflow: map[string]*rate.Limiter{}}, nil
}

// Keys reports how many callers' buckets the limiter holds now.
func (l *RateLimiter) Keys() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}

// decision is the outcome of one request against its bucket.
type decision struct {
	allowed    bool
	limit      int
	remaining  int
	reset      int // seconds until the bucket is full
	retryAfter int // seconds until the next request may pass (refusals only)
}

// take charges one request of class to caller's bucket.
func (l *RateLimiter) take(class, caller string) decision {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	budget := l.limits.Read
	if class == "write" {
		budget = l.limits.Write
	}
	if !l.limits.Split {
		class = ""
	}
	lim := l.bucket(bucketKey{class: class, caller: caller}, budget, now)
	allowed := lim.AllowN(now, 1)
	tokens := lim.TokensAt(now)
	d := decision{allowed: allowed, limit: budget.Burst, remaining: max(int(math.Floor(tokens)), 0),
		reset: ceilSeconds((float64(budget.Burst) - tokens) / budget.Rate)}
	if !allowed {
		d.retryAfter = max(ceilSeconds((1-tokens)/budget.Rate), 1)
	}
	return d
}

// bucket returns the caller's bucket, creating it (full) if the table has room. l.mu is held.
func (l *RateLimiter) bucket(k bucketKey, b config.Budget, now time.Time) *rate.Limiter {
	if lim, ok := l.buckets[k]; ok {
		return lim
	}
	// A full table is swept at most once a second: a flood of new callers must not make every request pay for a
	// pass over the table.
	if since := now.Sub(l.lastSweep); since >= sweepEvery || (len(l.buckets) >= l.maxKeys && since >= time.Second) {
		l.sweep(now)
	}
	if len(l.buckets) >= l.maxKeys {
		if now.Sub(l.warned) >= sweepEvery {
			l.warned = now
			slog.Warn("rate limiter table full: new callers share an overflow bucket", "max_keys", l.maxKeys)
		}
		lim, ok := l.overflow[k.class]
		if !ok {
			lim = rate.NewLimiter(rate.Limit(b.Rate), b.Burst)
			l.overflow[k.class] = lim
		}
		return lim
	}
	lim := rate.NewLimiter(rate.Limit(b.Rate), b.Burst)
	l.buckets[k] = lim
	return lim
}

// sweep forgets every full bucket: a caller coming back gets a new full one, which is the same budget.
func (l *RateLimiter) sweep(now time.Time) {
	l.lastSweep = now
	for k, lim := range l.buckets {
		if lim.TokensAt(now) >= float64(lim.Burst()) {
			delete(l.buckets, k)
		}
	}
}

func ceilSeconds(s float64) int {
	if s <= 0 {
		return 0
	}
	return int(math.Ceil(s))
}

// admit charges r to caller and writes the RateLimit headers; over the limit it answers 429 rate_limited with
// Retry-After and returns false. A refused request reaches no handler: it changes nothing and is stored under no
// idempotency key.
func (l *RateLimiter) admit(w http.ResponseWriter, r *http.Request, caller string) bool {
	d := l.take(requestClass(r), caller)
	h := w.Header()
	h.Set(headerRateLimitLimit, strconv.Itoa(d.limit))
	h.Set(headerRateLimitRemaining, strconv.Itoa(d.remaining))
	h.Set(headerRateLimitReset, strconv.Itoa(d.reset))
	if d.allowed {
		return true
	}
	h.Set("Retry-After", strconv.Itoa(d.retryAfter))
	WriteProblem(w, r, Errorf("rate_limited", "this caller's request budget is spent; retry after %d s (a write with the same Idempotency-Key)", d.retryAfter))
	return false
}

// ByClient limits next per client address: for routes that need no token.
func (l *RateLimiter) ByClient(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if l.admit(w, r, clientKey(r)) {
			next.ServeHTTP(w, r)
		}
	})
}

// requestClass: reads (GET, HEAD) and writes (everything else) may have separate budgets.
func requestClass(r *http.Request) string {
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		return "read"
	}
	return "write"
}

func subKey(sub string) string { return "sub:" + sub }

// clientKey names the client address of r: the peer's IP, or for IPv6 its /64.
func clientKey(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return "ip:" + host
	}
	addr = addr.Unmap()
	if addr.Is6() {
		if p, err := addr.Prefix(64); err == nil {
			return "ip:" + p.String()
		}
	}
	return "ip:" + addr.String()
}
