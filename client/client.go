// Package client is a Go client of the wallet-api. Every write carries an Idempotency-Key (generated per call
// unless the caller gives one) that is reported back, and a write is retried with the SAME key after a 503, a 429
// or a network error, with exponential backoff and full jitter and never sooner than the server's Retry-After, so
// a retry can never move money twice. Refusals come back as *Error carrying the problem code. Every answer's
// Request-Id is reported (Response.RequestID, Error.RequestID): quote it to the service's operator.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
)

// Retry says how a call is retried after a 503, a 429 rate_limited, a 409 idempotency_key_in_use or a network
// error.
type Retry struct {
	// Attempts is the total number of tries, the first included (1: no retry).
	Attempts int
	// BaseDelay is the backoff before the second try; it doubles with each try, up to MaxDelay.
	BaseDelay time.Duration
	// MaxDelay caps a single wait, including one asked for by Retry-After.
	MaxDelay time.Duration
}

// DefaultRetry tries 4 times over about 3 seconds at most.
var DefaultRetry = Retry{Attempts: 4, BaseDelay: 200 * time.Millisecond, MaxDelay: 2 * time.Second}

// Client calls one wallet-api as one identity. It is safe for concurrent use.
type Client struct {
	base   *url.URL
	token  string
	http   *http.Client
	retry  Retry
	newKey func() string
}

// Option configures a Client.
type Option func(*Client)

// WithToken sets the bearer token sent with every call.
func WithToken(token string) Option { return func(c *Client) { c.token = token } }

// WithHTTPClient replaces http.DefaultClient (for timeouts, proxies, or a test transport).
func WithHTTPClient(h *http.Client) Option { return func(c *Client) { c.http = h } }

// WithRetry replaces DefaultRetry.
func WithRetry(r Retry) Option { return func(c *Client) { c.retry = r } }

// New returns a client of the wallet-api at baseURL, such as http://localhost:8080.
func New(baseURL string, opts ...Option) (*Client, error) {
	u, err := url.Parse(strings.TrimRight(baseURL, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("client: base URL %q must be http(s)://host[:port]", baseURL)
	}
	c := &Client{base: u, http: http.DefaultClient, retry: DefaultRetry, newKey: uuid.NewString}
	for _, o := range opts {
		o(c)
	}
	if c.retry.Attempts < 1 {
		c.retry.Attempts = 1
	}
	return c, nil
}

// WithToken returns a copy of c that calls as another identity; the copy shares c's HTTP client.
func (c *Client) WithToken(token string) *Client {
	cp := *c
	cp.token = token
	return &cp
}

// CallOption configures one call.
type CallOption func(*call)

type call struct {
	key         string
	ifMatch     string // the If-Match header of a conditional write, "" for none
	minPosition string // the Min-Position header of a read, "" for none
}

// ErrInvalidIdempotencyKey is returned, before anything is sent, for a key the API would refuse: it must be 1 to
// 255 printable ASCII characters.
var ErrInvalidIdempotencyKey = errors.New("client: an Idempotency-Key must be 1 to 255 printable ASCII characters")

func validKey(k string) bool {
	if len(k) == 0 || len(k) > 255 {
		return false
	}
	for i := 0; i < len(k); i++ {
		if k[i] < 0x20 || k[i] > 0x7e {
			return false
		}
	}
	return true
}

// WithIdempotencyKey makes a write use key instead of a fresh one: pass the key a failed or uncertain call
// reported to retry it without risk of doing it twice.
func WithIdempotencyKey(key string) CallOption { return func(c *call) { c.key = key } }

// WithMinPosition makes a read see every write up to position, the LedgerPosition of a write's Response: with a
// read replica in front of it, the server answers from a server that has replayed at least that far.
func WithMinPosition(position string) CallOption { return func(c *call) { c.minPosition = position } }

// Response describes how a call went, also when it failed.
type Response struct {
	// RequestID is the Request-Id of the last answer (empty when none came): the id the service logged it under.
	RequestID string
	// RateLimit is the caller's request budget as the last answer reported it (nil when it did not).
	RateLimit *RateLimit
	// IdempotencyKey is the key the write was sent with (empty for reads). Keep it to retry the write safely.
	IdempotencyKey string
	// LedgerPosition is the position a write's answer is committed by (the Ledger-Position header; empty for reads).
	// Pass it to a later read with WithMinPosition to read your own write wherever the read is served.
	LedgerPosition string
	// Replayed is true when the server answered from the key's stored first answer.
	Replayed bool
	// StatusCode of the last attempt (0 when none got an answer).
	StatusCode int
	// Location of a created resource.
	Location string
	// ETag of a read resource that has versions (a mandate): "<version>".
	ETag string
	// Attempts is how many times the call was sent.
	Attempts int
}

// write sends a POST with an idempotency key and decodes a 2xx body into out.
func (c *Client) write(ctx context.Context, path string, body, out any, opts []CallOption) (*Response, error) {
	var cfg call
	for _, o := range opts {
		o(&cfg)
	}
	cfg.minPosition = "" // a position means something to reads only
	if cfg.key == "" {
		cfg.key = c.newKey()
	}
	if !validKey(cfg.key) {
		// Refused here, not sent: the server would refuse it too (or the HTTP client could not even send it), and a
		// retry under the same key could never succeed.
		return &Response{IdempotencyKey: cfg.key}, fmt.Errorf("%w: %q", ErrInvalidIdempotencyKey, cfg.key)
	}
	enc, err := json.Marshal(body)
	if err != nil {
		return &Response{IdempotencyKey: cfg.key}, fmt.Errorf("client: encode request: %w", err)
	}
	return c.send(ctx, http.MethodPost, path, enc, cfg, out)
}

// read sends a GET and decodes a 2xx body into out.
func (c *Client) read(ctx context.Context, path string, out any, opts ...CallOption) (*Response, error) {
	var cfg call
	for _, o := range opts {
		o(&cfg)
	}
	// A read carries no Idempotency-Key and is not conditional: only its Min-Position is kept.
	return c.send(ctx, http.MethodGet, path, nil, call{minPosition: cfg.minPosition}, out)
}

func (c *Client) send(ctx context.Context, method, path string, body []byte, cfg call, out any) (*Response, error) {
	resp := &Response{IdempotencyKey: cfg.key}
	var lastErr error
	for attempt := 1; ; attempt++ {
		resp.Attempts = attempt
		wait, err := c.once(ctx, method, path, body, cfg, resp, out)
		if err == nil {
			return resp, nil
		}
		lastErr = err
		if wait < 0 || attempt >= c.retry.Attempts {
			return resp, lastErr
		}
		delay := c.backoff(attempt, wait)
		select {
		case <-ctx.Done():
			return resp, fmt.Errorf("%w (gave up waiting to retry: %v)", lastErr, ctx.Err())
		case <-time.After(delay):
		}
	}
}

// once makes one attempt. wait < 0 means the outcome is final; otherwise the call may be retried after at least
// wait (the server's Retry-After, or zero).
func (c *Client) once(ctx context.Context, method, path string, body []byte, cfg call, resp *Response, out any) (time.Duration, error) {
	key := cfg.key
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base.String()+path, rd)
	if err != nil {
		return -1, fmt.Errorf("client: build request: %w", err)
	}
	req.Header.Set("Accept", "application/json, application/problem+json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	if cfg.ifMatch != "" {
		req.Header.Set("If-Match", cfg.ifMatch)
	}
	if cfg.minPosition != "" {
		req.Header.Set("Min-Position", cfg.minPosition)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	hr, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return -1, fmt.Errorf("client: %s %s: %w", method, path, err)
		}
		// The request may or may not have reached the server: only the same key makes a retry safe.
		return 0, &NetworkError{Method: method, Path: path, IdempotencyKey: key, Err: err}
	}
	defer hr.Body.Close()
	data, err := io.ReadAll(io.LimitReader(hr.Body, 8<<20))
	if err != nil {
		return 0, &NetworkError{Method: method, Path: path, IdempotencyKey: key, Err: err}
	}
	resp.StatusCode = hr.StatusCode
	resp.Replayed = hr.Header.Get("Idempotent-Replayed") == "true"
	resp.Location = hr.Header.Get("Location")
	resp.RequestID = hr.Header.Get("Request-Id")
	resp.RateLimit = rateLimitOf(hr.Header)
	resp.ETag = hr.Header.Get("ETag")
	resp.LedgerPosition = hr.Header.Get("Ledger-Position")
	if hr.StatusCode >= 200 && hr.StatusCode < 300 {
		if out != nil {
			if err := json.Unmarshal(data, out); err != nil {
				return -1, fmt.Errorf("client: decode %s %s response: %w", method, path, err)
			}
		}
		return -1, nil
	}
	e := newError(hr, data, key)
	if e.Retryable() {
		return e.RetryAfter, e
	}
	return -1, e
}

// backoff is exponential with full jitter, never shorter than the server asked for, never longer than MaxDelay.
func (c *Client) backoff(attempt int, atLeast time.Duration) time.Duration {
	ceiling := c.retry.BaseDelay << min(attempt-1, 20)
	if ceiling <= 0 || ceiling > c.retry.MaxDelay {
		ceiling = c.retry.MaxDelay
	}
	d := time.Duration(0)
	if ceiling > 0 {
		d = rand.N(ceiling) + 1
	}
	if d < atLeast {
		d = atLeast
	}
	if c.retry.MaxDelay > 0 && d > c.retry.MaxDelay {
		d = c.retry.MaxDelay
	}
	return d
}

// RateLimit is the caller's budget as the server reported it in the RateLimit-* headers: the bucket's size, what
// is left of it, and how long until it is full again.
type RateLimit struct {
	Limit     int
	Remaining int
	Reset     time.Duration
}

func rateLimitOf(h http.Header) *RateLimit {
	limit, err1 := strconv.Atoi(h.Get("RateLimit-Limit"))
	remaining, err2 := strconv.Atoi(h.Get("RateLimit-Remaining"))
	reset, err3 := strconv.Atoi(h.Get("RateLimit-Reset"))
	if err1 != nil || err2 != nil || err3 != nil {
		return nil
	}
	return &RateLimit{Limit: limit, Remaining: remaining, Reset: time.Duration(reset) * time.Second}
}

// retryAfter parses a Retry-After of delay-seconds.
func retryAfter(v string) time.Duration {
	s, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || s < 0 {
		return 0
	}
	return time.Duration(s) * time.Second
}

// IsCode reports whether err is an *Error with the problem code.
func IsCode(err error, code string) bool {
	var e *Error
	return errors.As(err, &e) && e.Code == code
}
