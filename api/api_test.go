package api_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sort"
	"testing"

	"github.com/gorilla/mux"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"

	"github.com/agentic-commerce/wallet-ledger/api"
	"github.com/agentic-commerce/wallet-ledger/api/apitest"
	"github.com/agentic-commerce/wallet-ledger/internal/httpapi"
)

func TestDocumentIsValidOpenAPI31(t *testing.T) {
	v, err := apitest.New(api.YAML())
	require.NoError(t, err)
	assert.Equal(t, "3.1.0", v.Document().OpenAPI)
	assert.NotEmpty(t, v.Operations())
}

// Every object schema that lists its properties must refuse others: that is what makes an undocumented response
// field fail the contract tests (and the server refuses unknown request fields, so requests say the same).
func TestObjectSchemasForbidUndocumentedFields(t *testing.T) {
	var doc any
	require.NoError(t, yaml.Unmarshal(api.YAML(), &doc))
	var loose []string
	var walk func(path string, node any)
	walk = func(path string, node any) {
		switch n := node.(type) {
		case map[string]any:
			if _, ok := n["properties"]; ok && n["additionalProperties"] != false && n["unevaluatedProperties"] != false {
				loose = append(loose, path)
			}
			for k, child := range n {
				walk(path+"/"+k, child)
			}
		case []any:
			for i, child := range n {
				walk(fmt.Sprintf("%s/%d", path, i), child)
			}
		}
	}
	walk("#", doc)
	sort.Strings(loose)
	assert.Empty(t, loose, "these schemas need additionalProperties: false")
}

// Every documented problem code is one the server knows, with a status (an unknown code would render as 500).
func TestProblemCodesAreKnownToTheServer(t *testing.T) {
	v, err := apitest.New(api.YAML())
	require.NoError(t, err)
	codes := v.Document().Components.Schemas["ProblemCode"].Value.Enum
	require.NotEmpty(t, codes)
	for _, c := range codes {
		code := c.(string)
		status, body := httpapi.ProblemFor(httpapi.Errorf(code, "x"), "/")
		var p httpapi.Problem
		require.NoError(t, json.Unmarshal(body, &p))
		assert.Equal(t, code, p.Code, "code %s is not registered in internal/httpapi", code)
		assert.GreaterOrEqual(t, status, 400, code)
	}
}

func TestServedJSONIsTheDocument(t *testing.T) {
	r := mux.NewRouter()
	api.Register(r)
	srv := httptest.NewServer(httpapi.RequestID(r))
	defer srv.Close()
	client := &http.Client{Transport: apitest.NewTransport(t, nil)}
	resp, err := client.Get(srv.URL + api.Path)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	var served, written map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&served))
	require.NoError(t, yaml.Unmarshal(api.YAML(), &written))
	assert.Equal(t, written, served)
	assert.Equal(t, "3.1.0", served["openapi"])
}

// The validator itself must fail on drift, or every contract test passes vacuously.
func TestValidatorCatchesDrift(t *testing.T) {
	v, err := apitest.New(api.YAML())
	require.NoError(t, err)
	id := "3f2c1a9e-8b7d-4c6e-9f01-23456789abcd"
	balance := `{"wallet_id":"` + id + `","asset":"USD","balance":5,"available":5,"held":0,"version":1,"updated_at":"2026-01-01T00:00:00Z"}`
	jsonH := http.Header{"Content-Type": {"application/json"}, "Request-Id": {"req-1"}}
	auth := http.Header{"Authorization": {"Bearer x"}}
	ok := apitest.Exchange{Method: "GET", URL: "http://h/v1/wallets/" + id + "/balance", Header: auth,
		Status: 200, RespHeader: jsonH, RespBody: []byte(balance)}
	require.NoError(t, v.Check(ok))

	cases := map[string]func(e *apitest.Exchange){
		"undocumented field": func(e *apitest.Exchange) {
			e.RespBody = []byte(balance[:len(balance)-1] + `,"extra":1}`)
		},
		"missing field":       func(e *apitest.Exchange) { e.RespBody = []byte(`{"wallet_id":"` + id + `"}`) },
		"undocumented status": func(e *apitest.Exchange) { e.Status = 418 },
		"undocumented header": func(e *apitest.Exchange) {
			e.RespHeader = http.Header{"Content-Type": {"application/json"}, "Request-Id": {"req-1"}, "X-Secret": {"1"}}
		},
		"no request id":        func(e *apitest.Exchange) { e.RespHeader = http.Header{"Content-Type": {"application/json"}} },
		"undocumented route":   func(e *apitest.Exchange) { e.URL = "http://h/v1/nothing" },
		"undocumented method":  func(e *apitest.Exchange) { e.Method = "DELETE" },
		"wrong field type":     func(e *apitest.Exchange) { e.RespBody = []byte(balance[:len(balance)-1] + `,"balance":"5"}`) },
		"invalid but accepted": func(e *apitest.Exchange) { e.Header = http.Header{} },
		"problem without request id": func(e *apitest.Exchange) {
			e.Status = 404
			e.RespHeader = http.Header{"Content-Type": {"application/problem+json"}, "Request-Id": {"req-1"}}
			e.RespBody = []byte(`{"type":"urn:wallet-ledger:problem:wallet_not_found","title":"t","status":404,"code":"wallet_not_found"}`)
		},
		"unknown problem code": func(e *apitest.Exchange) {
			e.Status = 404
			e.RespHeader = http.Header{"Content-Type": {"application/problem+json"}, "Request-Id": {"req-1"}}
			e.RespBody = []byte(`{"type":"urn:wallet-ledger:problem:gone","title":"t","status":404,"code":"gone","request_id":"req-1"}`)
		},
		"problem status differs": func(e *apitest.Exchange) {
			e.Status = 404
			e.RespHeader = http.Header{"Content-Type": {"application/problem+json"}, "Request-Id": {"req-1"}}
			e.RespBody = []byte(`{"type":"urn:wallet-ledger:problem:not_found","title":"t","status":400,"code":"not_found","request_id":"req-1"}`)
		},
	}
	for name, mutate := range cases {
		t.Run(name, func(t *testing.T) {
			e := ok
			mutate(&e)
			err := v.Check(e)
			require.Error(t, err)
			t.Log(err)
		})
	}
	var joined interface{ Unwrap() []error }
	assert.False(t, errors.As(v.Check(ok), &joined))
}

// Every response of every operation promises Request-Id; every operation but health and readiness is rate limited,
// so it documents 429 and the RateLimit headers on each of its responses.
func TestEveryResponseDocumentsRequestIDAndRateLimits(t *testing.T) {
	v, err := apitest.New(api.YAML())
	require.NoError(t, err)
	unlimited := map[string]bool{"/v1/health": true, "/v1/ready": true}
	for path, item := range v.Document().Paths.Map() {
		for method, op := range item.Operations() {
			where := method + " " + path
			limited := !unlimited[path]
			assert.Equal(t, limited, op.Responses.Status(http.StatusTooManyRequests) != nil, "%s: 429", where)
			for status, ref := range op.Responses.Map() {
				h := ref.Value.Headers
				require.Contains(t, h, "Request-Id", "%s %s", where, status)
				assert.True(t, h["Request-Id"].Value.Required, "%s %s", where, status)
				for _, name := range []string{"RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"} {
					if limited {
						assert.Contains(t, h, name, "%s %s", where, status)
					} else if status[0] == '2' {
						assert.NotContains(t, h, name, "%s %s is never rate limited", where, status)
					}
				}
			}
		}
	}
}
