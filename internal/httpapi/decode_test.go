package httpapi

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type sample struct {
	Name   string          `json:"name"`
	Amount *int64          `json:"amount"`
	Meta   json.RawMessage `json:"meta"`
	Limit  *sampleLimit    `json:"limit"`
	Tags   map[string]int  `json:"tags"`
}

type sampleLimit struct {
	Period string `json:"period"`
}

func codeOf(t *testing.T, err error) string {
	t.Helper()
	var p *Problem
	require.True(t, errors.As(err, &p), "want a *Problem, got %v", err)
	return p.Code
}

func TestDecodeBodyRefuses(t *testing.T) {
	cases := map[string]string{
		"empty":                    ``,
		"white space":              "  \n",
		"array":                    `[1]`,
		"string":                   `"x"`,
		"null":                     `null`,
		"malformed":                `{"name":`,
		"unknown field":            `{"nam":"x"}`,
		"trailing object":          `{"name":"x"}{"name":"y"}`,
		"trailing garbage":         `{"name":"x"} x`,
		"duplicate key":            `{"name":"x","name":"y"}`,
		"duplicate key other case": `{"amount":1,"Amount":100}`,
		"nested duplicate":         `{"meta":{"a":1,"a":2}}`,
		"NUL in value":             `{"name":"a\u0000b"}`,
		"NUL in nested key":        `{"meta":{"a\u0000":1}}`,
		"float amount":             `{"amount":1.5}`,
		"exponent amount":          `{"amount":1e3}`,
		"string amount":            `{"amount":"10"}`,
		"huge amount":              `{"amount":99999999999999999999}`,
		"invalid UTF-8":            "{\"name\":\"\xff\"}",
		"unclosed":                 `{"meta":{"a":1}`,
		"lone high surrogate":      `{"meta":{"a":"\ud800"}}`,
		"lone low surrogate":       `{"meta":{"a":"x\udc00"}}`,
		"high then other escape":   `{"meta":{"a":"\ud800\u0041"}}`,
		"surrogate in a key":       `{"meta":{"\udbff":1}}`,
		"field in another case":    `{"Amount":1}`,
		"nested field case":        `{"limit":{"Period":"day"}}`,
		"number overflows":         `{"meta":{"x":1e999999}}`,
		"number just overflows":    `{"meta":{"x":-1.8e308}}`,
		"number underflows":        `{"meta":{"x":1e-999999}}`,
		"zero with a huge scale":   `{"meta":{"x":0e-16384}}`,
		"zero past int32 exponent": `{"meta":{"x":0e-99999999999}}`,
		"too many decimal places":  `{"meta":{"x":1.5e-16383}}`,
	}
	for name, body := range cases {
		t.Run(name, func(t *testing.T) {
			var s sample
			_, err := DecodeBody([]byte(body), &s)
			require.Error(t, err)
			assert.Equal(t, "invalid_json", codeOf(t, err))
		})
	}
}

func TestDecodeBodyAccepts(t *testing.T) {
	for _, body := range []string{
		`{"meta":{"smile":"\ud83d\ude00"}}`,     // a surrogate pair is one character
		`{"meta":{"path":"C:\\udir"}}`,          // an escaped backslash followed by "udir" is no escape
		`{"meta":{"quote":"\"\\\/\b\f\n\r\t"}}`, // every two-character escape
		`{"name":"\u00e9t\u00E9"}`,
		`{"meta":{"a":1,"A":2}}`,                       // free-form keys are the client's own, case and all
		`{"tags":{"a":1,"A":2}}`,                       // a map too
		`{"meta":{"x":1.7e308,"y":-4.9e-324,"z":0}}`,   // the whole range of a double
		`{"meta":{"x":0e-16383,"y":0e99999999999}}`,    // as many places as PostgreSQL keeps, and a zero
		`{"meta":{"x":12345678901234567890123456789}}`, // big, inside the range
	} {
		var s sample
		_, err := DecodeBody([]byte(body), &s)
		assert.NoError(t, err, body)
	}
}

func TestDecodeBodyCanonicalises(t *testing.T) {
	var a, b sample
	ca, err := DecodeBody([]byte(`{"name":"x","amount":10,"meta":{"z":1,"a":12345678901234567890}}`), &a)
	require.NoError(t, err)
	cb, err := DecodeBody([]byte("{ \"meta\": {\"a\":12345678901234567890, \"z\":1},\n \"amount\": 10, \"name\": \"x\" }"), &b)
	require.NoError(t, err)
	assert.Equal(t, string(ca), string(cb), "key order and white space must not change the canonical form")
	assert.Contains(t, string(ca), "12345678901234567890", "large numbers keep every digit")
	require.NotNil(t, a.Amount)
	assert.Equal(t, int64(10), *a.Amount)
}

func TestDecodeJSONChecksTransport(t *testing.T) {
	decode := func(ct, body string) error {
		r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
		if ct != "" {
			r.Header.Set("Content-Type", ct)
		}
		var s sample
		_, err := DecodeJSON(httptest.NewRecorder(), r, &s)
		return err
	}
	assert.Equal(t, "unsupported_media_type", codeOf(t, decode("", `{}`)))
	assert.Equal(t, "unsupported_media_type", codeOf(t, decode("text/plain", `{}`)))
	assert.Equal(t, "unsupported_media_type", codeOf(t, decode("application/json; charset=latin1", `{}`)))
	assert.Equal(t, "body_too_large", codeOf(t, decode("application/json", `{"name":"`+strings.Repeat("a", MaxBodyBytes)+`"}`)))
	assert.NoError(t, decode("application/json; charset=UTF-8", `{"name":"ok"}`))
}

func TestProblemForMapsCodesOnce(t *testing.T) {
	status, body := ProblemFor(Errorf("insufficient_funds", "need %d", 5), "/v1/transfers")
	assert.Equal(t, http.StatusUnprocessableEntity, status)
	var p Problem
	require.NoError(t, json.Unmarshal(body, &p))
	assert.Equal(t, Problem{Type: "urn:wallet-ledger:problem:insufficient_funds", Title: "Insufficient funds",
		Status: 422, Detail: "need 5", Instance: "/v1/transfers", Code: "insufficient_funds"}, p)

	status, body = ProblemFor(errors.New("pq: secret internals"), "/x")
	assert.Equal(t, http.StatusInternalServerError, status)
	assert.NotContains(t, string(body), "secret internals", "unknown errors must not leak")

	status, _ = ProblemFor(Errorf("no_such_code", ""), "/x")
	assert.Equal(t, http.StatusInternalServerError, status)
}

func TestEveryCodeHasATitle(t *testing.T) {
	for code := range statusByCode {
		assert.NotEmpty(t, titleByCode[code], code)
	}
}

// FuzzDecodeBody: no body may panic the decoder; whatever it accepts is a single JSON object whose canonical form
// decodes again to the same value.
func FuzzDecodeBody(f *testing.F) {
	for _, seed := range []string{`{}`, `{"name":"x","amount":1}`, `{"meta":{"a":[1,{"b":null}]}}`, `{"name":"x"}{}`, `{"amount":1e400}`, "{\"a\":\"\\u0000\"}"} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var s sample
		canonical, err := DecodeBody(body, &s)
		if err != nil {
			var p *Problem
			require.True(t, errors.As(err, &p))
			return
		}
		var again sample
		_, err = DecodeBody(canonical, &again)
		require.NoError(t, err, "canonical form %s must decode", canonical)
	})
}
