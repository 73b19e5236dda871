// Package apitest checks real HTTP exchanges against the OpenAPI document in package api, so a test suite that
// goes through it fails on any drift between the code and the document: an undocumented route, method, status,
// header or field, a response body that breaks its schema, or a request the document calls invalid that the
// server nevertheless accepted.
package apitest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/agentic-commerce/wallet-ledger/api"
)

// transportHeaders are set by net/http or by every handler and describe the transfer, not the API; any other
// response header must be documented on the response that carries it.
var transportHeaders = []string{
	"Cache-Control", "Connection", "Content-Length", "Content-Type", "Date", "Keep-Alive", "Transfer-Encoding", "Vary",
}

// Validator checks exchanges against one OpenAPI document.
type Validator struct {
	doc    *openapi3.T
	router routers.Router
	opts   *openapi3filter.Options
}

// New parses and validates an OpenAPI document (YAML or JSON) and prepares its router.
func New(document []byte) (*Validator, error) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(document)
	if err != nil {
		return nil, fmt.Errorf("load OpenAPI document: %w", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		return nil, fmt.Errorf("invalid OpenAPI document: %w", err)
	}
	// Match any host: tests run on random ports, and the document's servers describe deployments.
	routing := *doc
	routing.Servers = nil
	router, err := gorillamux.NewRouter(&routing)
	if err != nil {
		return nil, fmt.Errorf("route OpenAPI document: %w", err)
	}
	opts := &openapi3filter.Options{
		IncludeResponseStatus:             true,
		RejectWhenRequestBodyNotSpecified: true,
		MultiError:                        true,
		AuthenticationFunc:                requireBearer,
	}
	// The reason and where, without the schema dump that would bury it in test output.
	opts.WithCustomSchemaErrorFunc(func(err *openapi3.SchemaError) string {
		return fmt.Sprintf("at /%s: %s", strings.Join(err.JSONPointer(), "/"), err.Reason)
	})
	return &Validator{doc: doc, router: router, opts: opts}, nil
}

var shared = sync.OnceValues(func() (*Validator, error) { return New(api.YAML()) })

// Shared returns the validator of api/openapi.yaml, built once per process.
func Shared() (*Validator, error) { return shared() }

// Document returns the parsed document.
func (v *Validator) Document() *openapi3.T { return v.doc }

// requireBearer is the document's view of authentication: a request without a bearer token is invalid. Whether
// the token is good is the server's business, answered with a documented 401.
func requireBearer(_ context.Context, in *openapi3filter.AuthenticationInput) error {
	h := in.RequestValidationInput.Request.Header.Get("Authorization")
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
		return errors.New("no bearer token")
	}
	return nil
}

// Exchange is one request as sent and the response as received.
type Exchange struct {
	Method      string
	URL         string
	Header      http.Header // request headers
	RequestBody []byte
	Status      int
	RespHeader  http.Header
	RespBody    []byte
}

// Check validates ex and returns every violation found, or nil.
func (v *Validator) Check(ex Exchange) error {
	req, err := http.NewRequest(ex.Method, ex.URL, bytes.NewReader(ex.RequestBody))
	if err != nil {
		return fmt.Errorf("rebuild request: %w", err)
	}
	req.Header = ex.Header.Clone()
	if req.Header == nil {
		req.Header = http.Header{}
	}
	where := fmt.Sprintf("%s %s -> %d", ex.Method, req.URL.Path, ex.Status)
	route, params, err := v.router.FindRoute(req)
	switch {
	case errors.Is(err, routers.ErrPathNotFound):
		return wrap(where, v.checkMiss(ex, http.StatusNotFound, "not_found", "undocumented route"))
	case errors.Is(err, routers.ErrMethodNotAllowed):
		return wrap(where, v.checkMiss(ex, http.StatusMethodNotAllowed, "method_not_allowed", "undocumented method"))
	case err != nil:
		return wrap(where, fmt.Errorf("find route: %w", err))
	}
	var errs []error
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route, Options: v.opts}
	if reqErr := openapi3filter.ValidateRequest(context.Background(), in); reqErr != nil && ex.Status < 400 {
		errs = append(errs, fmt.Errorf("the document says the request is invalid, yet the server accepted it: %w", reqErr))
	}
	respIn := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in, Status: ex.Status, Header: ex.RespHeader,
		Body: io.NopCloser(bytes.NewReader(ex.RespBody)), Options: v.opts,
	}
	if err := openapi3filter.ValidateResponse(context.Background(), respIn); err != nil {
		errs = append(errs, fmt.Errorf("response: %w", err))
	}
	if resp := documentedResponse(route.Operation, ex.Status); resp != nil {
		errs = append(errs, undocumentedHeaders(resp, ex.RespHeader)...)
		if len(resp.Content) == 0 && len(ex.RespBody) > 0 {
			errs = append(errs, errors.New("response has a body but the document declares none"))
		}
	}
	errs = append(errs, checkProblem(ex)...)
	return wrap(where, errors.Join(errs...))
}

// checkMiss: a request outside the document must be refused the way the router refuses it, with a Problem.
func (v *Validator) checkMiss(ex Exchange, status int, code, what string) error {
	if ex.Status != status || problemCode(ex.RespBody) != code {
		return fmt.Errorf("%s: the server answered %d %s; document the route in api/openapi.yaml", what, ex.Status, ex.RespBody)
	}
	schema := v.doc.Components.Schemas["Problem"]
	if schema == nil || schema.Value == nil {
		return errors.New("the document has no Problem schema")
	}
	var body any
	if err := json.Unmarshal(ex.RespBody, &body); err != nil {
		return fmt.Errorf("problem body is not JSON: %w", err)
	}
	if err := schema.Value.VisitJSON(body, openapi3.EnableJSONSchema2020()); err != nil {
		return fmt.Errorf("problem body: %w", err)
	}
	return errors.Join(checkProblem(ex)...)
}

func documentedResponse(op *openapi3.Operation, status int) *openapi3.Response {
	if op == nil || op.Responses == nil {
		return nil
	}
	ref := op.Responses.Status(status)
	if ref == nil {
		ref = op.Responses.Default()
	}
	if ref == nil {
		return nil
	}
	return ref.Value
}

func undocumentedHeaders(resp *openapi3.Response, h http.Header) []error {
	var errs []error
	for name := range h {
		if slices.ContainsFunc(transportHeaders, func(t string) bool { return strings.EqualFold(t, name) }) {
			continue
		}
		documented := false
		for doc := range resp.Headers {
			if strings.EqualFold(doc, name) {
				documented = true
				break
			}
		}
		if !documented {
			errs = append(errs, fmt.Errorf("undocumented response header %s: %q", name, h.Get(name)))
		}
	}
	return errs
}

// checkProblem: a problem body agrees with its response (status) and names its type after its code.
func checkProblem(ex Exchange) []error {
	if !strings.HasPrefix(ex.RespHeader.Get("Content-Type"), "application/problem+json") {
		if ex.Status >= 400 {
			return []error{fmt.Errorf("error response with Content-Type %q, not application/problem+json", ex.RespHeader.Get("Content-Type"))}
		}
		return nil
	}
	var p struct {
		Type   string `json:"type"`
		Status int    `json:"status"`
		Code   string `json:"code"`
	}
	if err := json.Unmarshal(ex.RespBody, &p); err != nil {
		return []error{fmt.Errorf("problem body is not JSON: %w", err)}
	}
	var errs []error
	if p.Status != ex.Status {
		errs = append(errs, fmt.Errorf("problem status %d differs from the HTTP status", p.Status))
	}
	if p.Type != "urn:wallet-ledger:problem:"+p.Code {
		errs = append(errs, fmt.Errorf("problem type %q does not name its code %q", p.Type, p.Code))
	}
	return errs
}

func problemCode(body []byte) string {
	var p struct {
		Code string `json:"code"`
	}
	_ = json.Unmarshal(body, &p)
	return p.Code
}

func wrap(where string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("contract violation (api/openapi.yaml) %s:\n%w", where, err)
}
