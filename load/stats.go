package load

import (
	"math"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// OpSummary is one operation's share of a report.
type OpSummary struct {
	Count    int            `json:"count"`
	OK       int            `json:"ok"`
	PerSec   float64        `json:"ok_per_second"`
	P50MS    float64        `json:"p50_ms"`
	P95MS    float64        `json:"p95_ms"`
	P99MS    float64        `json:"p99_ms"`
	MaxMS    float64        `json:"max_ms"`
	Statuses map[string]int `json:"statuses"`
	Errors   map[string]int `json:"errors,omitempty"`
}

// sample is the little a fault analysis needs from one result.
type sample struct {
	op    Op
	start time.Duration // since the attack began
	lat   time.Duration
	code  int
	err   string
}

func (s sample) end() time.Duration { return s.start + s.lat }

// collector accumulates results as they stream out of vegeta.
type collector struct {
	began   time.Time
	samples []sample
	byOp    map[Op][]time.Duration
	status  map[Op]map[string]int
	errs    map[Op]map[string]int
	allowed map[int]bool
}

func newCollector(began time.Time, allowed []int) *collector {
	c := &collector{began: began, byOp: map[Op][]time.Duration{}, status: map[Op]map[string]int{},
		errs: map[Op]map[string]int{}, allowed: map[int]bool{}}
	for _, s := range allowed {
		c.allowed[s] = true
	}
	return c
}

func statusLabel(code int) string {
	if code == 0 {
		return "transport_error"
	}
	return strconv.Itoa(code)
}

// add records one result and returns its operation and key.
func (c *collector) add(r *vegeta.Result) (Op, string) {
	op, key := parseFragment(r.URL)
	if op == "" {
		op = "unknown"
	}
	s := sample{op: op, start: r.Timestamp.Sub(c.began), lat: r.Latency, code: int(r.Code)}
	if r.Code == 0 {
		s.err = shortError(r.Error)
	}
	c.samples = append(c.samples, s)
	c.byOp[op] = append(c.byOp[op], r.Latency)
	if c.status[op] == nil {
		c.status[op] = map[string]int{}
		c.errs[op] = map[string]int{}
	}
	c.status[op][statusLabel(s.code)]++
	if s.err != "" {
		c.errs[op][s.err]++
	}
	return op, key
}

// shortError keeps an error message groupable: the transport error without
// the per-request URL and port numbers.
func shortError(e string) string {
	if i := strings.LastIndex(e, ": "); i >= 0 {
		e = e[i+2:]
	}
	if len(e) > 120 {
		e = e[:120]
	}
	return e
}

func (c *collector) summaries(elapsed time.Duration) map[Op]OpSummary {
	out := map[Op]OpSummary{}
	ok := map[Op]int{}
	for _, s := range c.samples {
		if c.allowed[s.code] {
			ok[s.op]++
		}
	}
	for op, lats := range c.byOp {
		p := percentiles(lats)
		sum := OpSummary{Count: len(lats), OK: ok[op], P50MS: p[0], P95MS: p[1], P99MS: p[2], MaxMS: p[3],
			Statuses: c.status[op], Errors: c.errs[op]}
		if len(sum.Errors) == 0 {
			sum.Errors = nil
		}
		if elapsed > 0 {
			sum.PerSec = float64(ok[op]) / elapsed.Seconds()
		}
		out[op] = sum
	}
	return out
}

// writeLatencies pools the write operations' latencies, leaving out the
// samples skip picks (nil: none).
func (c *collector) writeLatencies(skip func(sample) bool) []time.Duration {
	var all []time.Duration
	for _, s := range c.samples {
		if s.op.IsWrite() && (skip == nil || !skip(s)) {
			all = append(all, s.lat)
		}
	}
	return all
}

// percentiles returns p50, p95, p99 and max in milliseconds (nearest rank).
func percentiles(lats []time.Duration) [4]float64 {
	if len(lats) == 0 {
		return [4]float64{}
	}
	s := append([]time.Duration(nil), lats...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	rank := func(q float64) float64 {
		i := int(math.Ceil(q*float64(len(s)))) - 1
		if i < 0 {
			i = 0
		}
		return ms(s[i])
	}
	return [4]float64{rank(0.50), rank(0.95), rank(0.99), ms(s[len(s)-1])}
}

func ms(d time.Duration) float64 { return math.Round(float64(d)/float64(time.Microsecond)) / 1000 }

// isReplay reports whether a response says it replayed a stored answer.
func isReplay(h http.Header) bool { return strings.EqualFold(h.Get("Idempotent-Replayed"), "true") }
