package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
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
	if err := requireJSON(r); err != nil {
		return nil, err
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return nil, Errorf("body_too_large", "the body must be at most %d bytes", MaxBodyBytes)
		}
		return nil, Errorf("invalid_json", "the body could not be read")
	}
	return DecodeBody(body, dst)
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
	// checkStructure already proved there is exactly one value, so only the canonical form remains.
	var generic any
	gdec := json.NewDecoder(bytes.NewReader(body))
	gdec.UseNumber()
	if err := gdec.Decode(&generic); err != nil {
		return nil, decodeProblem(err)
	}
	canonical, err := json.Marshal(generic)
	if err != nil {
		return nil, Errorf("invalid_json", "the body could not be canonicalised")
	}
	return canonical, nil
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

// checkStructure walks the tokens once: well-formed, a single value, no duplicate keys in any object (compared
// case-insensitively, as encoding/json matches fields) and no NUL characters, which PostgreSQL cannot store.
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
				k := strings.ToLower(t)
				if _, dup := top.keys[k]; dup {
					return Errorf("invalid_json", "field %q appears more than once", t)
				}
				top.keys[k] = struct{}{}
				top.isKey = false
				continue
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
