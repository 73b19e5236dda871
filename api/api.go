// Package api carries the OpenAPI 3.1 document of the wallet-api (openapi.yaml, embedded in the binaries) and
// serves it as JSON at GET /v1/openapi.json, so agents and code generators discover the API from the service itself.
package api

import (
	_ "embed"
	"fmt"
	"net/http"
	"sync"

	"github.com/gorilla/mux"
	"sigs.k8s.io/yaml"

	"github.com/agentic-commerce/wallet-ledger/internal/httpapi"
)

// Path is where the document is served.
const Path = "/v1/openapi.json"

//go:embed openapi.yaml
var document []byte

// YAML returns the document as written.
func YAML() []byte { return append([]byte(nil), document...) }

// jsonDocument converts once: the document is fixed at build time.
var jsonDocument = sync.OnceValues(func() ([]byte, error) {
	b, err := yaml.YAMLToJSON(document)
	if err != nil {
		return nil, fmt.Errorf("convert openapi.yaml to JSON: %w", err)
	}
	return b, nil
})

// JSON returns the document as JSON.
func JSON() ([]byte, error) {
	b, err := jsonDocument()
	if err != nil {
		return nil, err
	}
	return append([]byte(nil), b...), nil
}

// Register adds GET /v1/openapi.json, without authentication: the description of an API is public. wrap (such as
// the per-client rate limit) is applied around it, first outermost.
func Register(r *mux.Router, wrap ...func(http.Handler) http.Handler) {
	var h http.Handler = http.HandlerFunc(serve)
	for i := len(wrap) - 1; i >= 0; i-- {
		h = wrap[i](h)
	}
	r.Handle(Path, h).Methods(http.MethodGet)
}

func serve(w http.ResponseWriter, r *http.Request) {
	b, err := jsonDocument()
	if err != nil {
		httpapi.WriteProblem(w, r, err)
		return
	}
	httpapi.WriteJSONBody(w, http.StatusOK, b)
}
