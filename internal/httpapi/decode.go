package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"unicode/utf8"
)

// MaxBodyBytes bounds every request body.
const MaxBodyBytes = 64 << 10

// DecodeJSON reads a JSON object from r into dst, strictly: the content type must be JSON, the body at most
// MaxBodyBytes, the value one object with no unknown, duplicate or NUL-bearing fields and nothing after it. It
// returns the body in canonical form (sorted keys, no white space) for idempotency hashing.
func DecodeJSON(w http.ResponseWriter, r *http.Request, dst any) ([]byte, error) {
	if err := identityEncoding(r); err != nil {
		return nil, err
	}
	if err := requireJSON(r); err != nil {
		return nil, err
	}
	body, err := readBody(w, r)
	if err != nil {
		return nil, err
	}
	return DecodeBody(body, dst)
}

// DecodeOptionalJSON is DecodeJSON for a write whose body may be left out (an action on one resource, such as a
// void): no body stands for the empty object, whatever the Content-Type; a body that is sent, white space
// included, is decoded as strictly as DecodeJSON's. A Content-Encoding is refused either way.
func DecodeOptionalJSON(w http.ResponseWriter, r *http.Request, dst any) ([]byte, error) {
	if err := identityEncoding(r); err != nil {
		return nil, err
	}
	body, err := readBody(w, r)
	if err != nil {
		return nil, err
	}
	if len(body) == 0 {
		return []byte("{}"), nil
	}
	if err := requireJSON(r); err != nil {
		return nil, err
	}
	return DecodeBody(body, dst)
}

func readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return nil, Errorf("body_too_large", "the body must be at most %d bytes", MaxBodyBytes)
		}
		return nil, Errorf("invalid_json", "the body could not be read")
	}
	return body, nil
}

// DecodeBody is the strict decoding of DecodeJSON on a body already read; the fuzz target drives it.
func DecodeBody(body []byte, dst any) ([]byte, error) {
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	if len(trimmed) == 0 {
		return nil, Errorf("invalid_json", "the body is empty, a JSON object is required")
	}
	if trimmed[0] != '{' {
		return nil, Errorf("invalid_json", "the body must be a JSON object")
	}
	if !utf8.Valid(body) {
		return nil, Errorf("invalid_json", "the body is not valid UTF-8")
	}
	if err := checkStructure(body); err != nil {
		return nil, err
	}
	if err := checkSurrogates(body); err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return nil, decodeProblem(err)
	}
	// checkStructure already proved there is exactly one value, so only the names and the canonical form remain.
	var generic any
	gdec := json.NewDecoder(bytes.NewReader(body))
	gdec.UseNumber()
	if err := gdec.Decode(&generic); err != nil {
		return nil, decodeProblem(err)
	}
	if err := exactNames(generic, reflect.TypeOf(dst)); err != nil {
		return nil, err
	}
	canonical, err := json.Marshal(generic)
	if err != nil {
		return nil, Errorf("invalid_json", "the body could not be canonicalised")
	}
	return canonical, nil
}

// identityEncoding refuses a content coding the server does not apply (gzip, ...) with 415, as RFC 9110 8.4 has
// it, rather than reading the coded bytes as JSON.
func identityEncoding(r *http.Request) error {
	for _, enc := range r.Header.Values("Content-Encoding") {
		if !strings.EqualFold(strings.TrimSpace(enc), "identity") {
			return Errorf("unsupported_media_type", "Content-Encoding %q is not supported: send the body uncompressed", enc)
		}
	}
	return nil
}

func requireJSON(r *http.Request) error {
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		return Errorf("unsupported_media_type", "Content-Type application/json is required")
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil || mt != "application/json" {
		return Errorf("unsupported_media_type", "Content-Type must be application/json, got %q", ct)
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return Errorf("unsupported_media_type", "only the utf-8 charset is accepted")
	}
	return nil
}

// exactNames refuses a field that encoding/json matched to a struct field case-insensitively ("Amount" for
// "amount"): the document names each field exactly, and a request spelled two ways must not be two requests under
// one Idempotency-Key. It refuses an explicit null too, as a field or a list element, unless the field is tagged
// `nullable:"true"` (as the document says of descriptions and metadata): encoding/json reads null as an absent
// field, so a mandate's `"limit": null` would become "no limit" and a capture's `"amount": null` "the whole hold";
// omitting a field is how a client says none or all. It walks
// v, the decoded body, alongside t, the type it was decoded into; free-form values (metadata: json.RawMessage,
// maps) are not walked, their keys and values are the client's own.
func exactNames(v any, t reflect.Type) error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Struct:
		obj, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		for key, val := range obj {
			f, ok := fieldNamed(t, key)
			if !ok {
				return Errorf("invalid_json", "%q is not a field of this request (names are case-sensitive)", key)
			}
			if val == nil {
				if f.Tag.Get("nullable") == "true" {
					continue
				}
				return Errorf("invalid_json", "%q must not be null: leave the field out to mean none or all", key)
			}
			if err := exactNames(val, f.Type); err != nil {
				return err
			}
		}
	case reflect.Slice, reflect.Array:
		arr, ok := v.([]any)
		if !ok || t.Elem() == reflect.TypeOf(byte(0)) {
			return nil
		}
		for _, el := range arr {
			if el == nil {
				return Errorf("invalid_json", "a list must not contain null")
			}
			if err := exactNames(el, t.Elem()); err != nil {
				return err
			}
		}
	}
	return nil
}

// fieldNamed finds the exported field of struct t whose JSON name is exactly name.
func fieldNamed(t reflect.Type, name string) (reflect.StructField, bool) {
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if tag == "-" {
			continue
		}
		if tag == "" {
			tag = f.Name
		}
		if tag == name {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

// checkStructure walks the tokens once: well-formed, a single value, no duplicate keys in any object, no NUL
// characters (PostgreSQL cannot store them) and no number that PostgreSQL's numeric type could not hold.
func checkStructure(body []byte) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	type frame struct {
		object bool
		keys   map[string]struct{}
		isKey  bool // the next string token in this object is a key
	}
	var stack []*frame
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return decodeProblem(err)
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		switch t := tok.(type) {
		case json.Delim:
			switch t {
			case '{':
				if top != nil && top.object {
					top.isKey = true
				}
				stack = append(stack, &frame{object: true, keys: map[string]struct{}{}, isKey: true})
			case '[':
				if top != nil && top.object {
					top.isKey = true
				}
				stack = append(stack, &frame{})
			default:
				stack = stack[:len(stack)-1]
			}
			if len(stack) == 0 && dec.More() {
				return Errorf("invalid_json", "unexpected data after the JSON object")
			}
			continue
		case string:
			if strings.ContainsRune(t, 0) {
				return Errorf("invalid_json", "strings must not contain NUL characters")
			}
			if top != nil && top.object && top.isKey {
				if _, dup := top.keys[t]; dup {
					return Errorf("invalid_json", "field %q appears more than once", t)
				}
				top.keys[t] = struct{}{}
				top.isKey = false
				continue
			}
		case json.Number:
			if err := storableNumber(string(t)); err != nil {
				return err
			}
		}
		if top != nil && top.object {
			top.isKey = true
		}
	}
	if len(stack) != 0 {
		return Errorf("invalid_json", "the JSON object is not closed")
	}
	return nil
}

// maxScale is the most decimal places PostgreSQL's numeric type (and so jsonb) holds.
const maxScale = 16383

// storableNumber refuses a JSON number outside the range of an IEEE 754 double (RFC 8259's interoperable range),
// or with more decimal places than PostgreSQL holds: metadata reaches jsonb as written, and such a number would
// fail inside the write ("value overflows numeric format") instead of at the door.
func storableNumber(lit string) error {
	f, err := strconv.ParseFloat(lit, 64)
	mantissa, exp, _ := strings.Cut(strings.ToLower(strings.TrimPrefix(lit, "-")), "e")
	intPart, frac, _ := strings.Cut(mantissa, ".")
	zero := strings.Trim(intPart+frac, "0") == ""
	if err != nil || (f == 0 && !zero) { // overflow to ±Inf, or a non-zero value that underflows to 0
		return Errorf("invalid_json", "number %.40s is outside the range of a 64-bit floating-point number", lit)
	}
	// The decimal places PostgreSQL keeps: the fraction's digits less the exponent. Only a zero can carry an
	// exponent past int32 here (any other value over- or underflowed above), and it keeps places only if negative.
	if exp == "" {
		exp = "0"
	}
	e, err := strconv.ParseInt(exp, 10, 32)
	if err != nil {
		e = 0
		if strings.HasPrefix(exp, "-") {
			e = -maxScale - 1
		}
	}
	if int64(len(frac))-e > maxScale {
		return Errorf("invalid_json", "number %.40s has more than %d decimal places", lit, maxScale)
	}
	return nil
}

// checkSurrogates refuses \u escapes of unpaired UTF-16 surrogates. encoding/json quietly turns them into U+FFFD,
// but raw JSON fields (metadata) reach PostgreSQL as written, and jsonb refuses them: without this check such a body
// would fail inside the write instead of at the door. It runs after checkStructure, so the JSON is well formed and
// every backslash starts an escape inside a string.
func checkSurrogates(body []byte) error {
	pendingHigh := false
	for i := 0; i < len(body); i++ {
		if body[i] != '\\' {
			if pendingHigh {
				return Errorf("invalid_json", "a \\u escape of a high surrogate must be followed by a low surrogate")
			}
			continue
		}
		if i+1 < len(body) && body[i+1] != 'u' {
			if pendingHigh {
				return Errorf("invalid_json", "a \\u escape of a high surrogate must be followed by a low surrogate")
			}
			i++ // a two-character escape such as \n or \\
			continue
		}
		if i+6 > len(body) {
			return Errorf("invalid_json", "truncated \\u escape")
		}
		code, err := strconv.ParseUint(string(body[i+2:i+6]), 16, 16)
		if err != nil {
			return Errorf("invalid_json", "invalid \\u escape")
		}
		switch {
		case code >= 0xD800 && code <= 0xDBFF:
			if pendingHigh {
				return Errorf("invalid_json", "a \\u escape of a high surrogate must be followed by a low surrogate")
			}
			pendingHigh = true
		case code >= 0xDC00 && code <= 0xDFFF:
			if !pendingHigh {
				return Errorf("invalid_json", "a \\u escape of a low surrogate must follow a high surrogate")
			}
			pendingHigh = false
		default:
			if pendingHigh {
				return Errorf("invalid_json", "a \\u escape of a high surrogate must be followed by a low surrogate")
			}
		}
		i += 5
	}
	if pendingHigh {
		return Errorf("invalid_json", "a \\u escape of a high surrogate must be followed by a low surrogate")
	}
	return nil
}

func decodeProblem(err error) error {
	var syntax *json.SyntaxError
	var typeErr *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syntax):
		return Errorf("invalid_json", "malformed JSON at byte %d", syntax.Offset)
	case errors.As(err, &typeErr):
		field := typeErr.Field
		if field == "" {
			field = "body"
		}
		return Errorf("invalid_json", "field %q must be a JSON %s", field, jsonKind(typeErr.Type.Kind().String()))
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return Errorf("invalid_json", "the JSON object is not complete")
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return Errorf("invalid_json", "%s is not a field of this request", strings.TrimPrefix(err.Error(), "json: unknown field "))
	default:
		return Errorf("invalid_json", "the body is not valid JSON: %s", strings.TrimPrefix(err.Error(), "json: "))
	}
}

func jsonKind(goKind string) string {
	switch goKind {
	case "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64":
		return "integer"
	case "float32", "float64":
		return "number"
	case "string":
		return "string"
	case "bool":
		return "boolean"
	case "slice", "array":
		return "array"
	case "map", "struct", "ptr":
		return "object"
	default:
		return fmt.Sprintf("value of another type (%s)", goKind)
	}
}

func sprintf(format string, args ...any) string {
	if len(args) == 0 {
		return format
	}
	return fmt.Sprintf(format, args...)
}
