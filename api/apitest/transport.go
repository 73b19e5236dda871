package apitest

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/gorilla/mux"
)

// Transport is an http.RoundTripper that checks every exchange through Base against the document and hands each
// violation to Report. Network errors pass through unchecked: there is no response to hold to the contract.
type Transport struct {
	Base      http.RoundTripper
	Validator *Validator
	Report    func(error)
}

// RoundTrip sends req, then validates the exchange.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	var reqBody []byte
	if req.Body != nil && req.Body != http.NoBody {
		b, err := io.ReadAll(req.Body)
		_ = req.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("apitest: read request body: %w", err)
		}
		reqBody = b
		req = req.Clone(req.Context())
		req.Body = io.NopCloser(bytes.NewReader(b))
		req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
	}
	base := t.Base
	if base == nil {
		base = http.DefaultTransport
	}
	resp, err := base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		return nil, fmt.Errorf("apitest: read response body: %w", err)
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	if verr := t.Validator.Check(Exchange{
		Method: req.Method, URL: req.URL.String(), Header: req.Header, RequestBody: reqBody,
		Status: resp.StatusCode, RespHeader: resp.Header, RespBody: body,
	}); verr != nil {
		t.Report(verr)
	}
	return resp, nil
}

// NewTransport returns a Transport over base (nil: http.DefaultTransport) that fails tb on every violation of
// api/openapi.yaml. Give it to any HTTP client a test drives the real API with.
func NewTransport(tb testing.TB, base http.RoundTripper) http.RoundTripper {
	tb.Helper()
	v, err := Shared()
	if err != nil {
		tb.Fatalf("apitest: %v", err)
	}
	return &Transport{Base: base, Validator: v, Report: func(err error) { tb.Errorf("%v", err) }}
}

// NewProxy starts a reverse proxy to the API at base whose every exchange is checked like NewTransport's, for a
// client the test cannot hand a transport (a subprocess, a script), and returns its URL. It stops when tb ends.
func NewProxy(tb testing.TB, base string) string {
	tb.Helper()
	target, err := url.Parse(base)
	if err != nil {
		tb.Fatalf("apitest: proxy target %q: %v", base, err)
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.Transport = NewTransport(tb, nil)
	srv := httptest.NewServer(proxy)
	tb.Cleanup(srv.Close)
	return srv.URL
}

// Operations lists the document's operations as "METHOD /path/{template}", sorted.
func (v *Validator) Operations() []string {
	var ops []string
	for path, item := range v.doc.Paths.Map() {
		for method := range item.Operations() {
			ops = append(ops, strings.ToUpper(method)+" "+path)
		}
	}
	sort.Strings(ops)
	return ops
}

// RouterOperations lists the routes registered on r as "METHOD /path/{template}", sorted. A route without a
// method matcher would answer every method, which no document can describe, so it is an error.
func RouterOperations(r *mux.Router) ([]string, error) {
	var ops []string
	err := r.Walk(func(route *mux.Route, _ *mux.Router, _ []*mux.Route) error {
		path, err := route.GetPathTemplate()
		if err != nil {
			return nil // a route without a path (a subrouter's matcher) registers nothing itself
		}
		methods, err := route.GetMethods()
		if err != nil {
			return fmt.Errorf("route %s has no method matcher", path)
		}
		for _, m := range methods {
			ops = append(ops, m+" "+path)
		}
		return nil
	})
	sort.Strings(ops)
	return slices.Compact(ops), err
}
