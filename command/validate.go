package command

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/agentic-commerce/wallet-ledger/internal/auth"
	"github.com/agentic-commerce/wallet-ledger/internal/httpapi"
)

var assetPattern = regexp.MustCompile(`^[A-Z0-9]{3,12}$`)

const (
	maxTextLength    = 1000
	maxMetadataBytes = 16 << 10
	maxOwnerLength   = 255
)

// fields collects the invalid fields of one request, so a client learns every problem at once.
type fields []httpapi.FieldError

func (f *fields) add(field, format string, args ...any) {
	*f = append(*f, httpapi.FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
}

func (f fields) err() error {
	if len(f) == 0 {
		return nil
	}
	return httpapi.Invalid(f...)
}

// walletID parses a required UUID field in its canonical 36-character form.
func (f *fields) walletID(field, v string) uuid.UUID {
	if v == "" {
		f.add(field, "is required")
		return uuid.Nil
	}
	id, err := httpapi.ParseID(v)
	if err != nil {
		f.add(field, "must be a UUID such as 3f2c1a9e-8b7d-4c6e-9f01-23456789abcd")
		return uuid.Nil
	}
	return id
}

func (f *fields) asset(field, v string) string {
	if !assetPattern.MatchString(v) {
		f.add(field, "must be 3 to 12 characters of A-Z and 0-9, such as USD")
	}
	return v
}

// positiveAmount checks a required amount of minor units between 1 and 2^53-1.
func (f *fields) positiveAmount(field string, v *int64) int64 {
	if v == nil {
		f.add(field, "is required")
		return 0
	}
	if *v < 1 || *v > maxAmount {
		f.add(field, "must be an integer from 1 to %d minor units", int64(maxAmount))
	}
	return *v
}

func (f *fields) text(field string, v *string, required bool) string {
	if v == nil || *v == "" {
		if required {
			f.add(field, "is required")
		}
		return ""
	}
	if utf8.RuneCountInString(*v) > maxTextLength {
		f.add(field, "must be at most %d characters", maxTextLength)
	}
	return *v
}

func (f *fields) metadata(field string, v json.RawMessage) json.RawMessage {
	trimmed := bytes.TrimSpace(v)
	if len(trimmed) == 0 || string(trimmed) == "null" {
		return nil
	}
	if trimmed[0] != '{' {
		f.add(field, "must be a JSON object")
		return nil
	}
	if len(trimmed) > maxMetadataBytes {
		f.add(field, "must be at most %d bytes", maxMetadataBytes)
		return nil
	}
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(trimmed, &keys); err == nil {
		if _, taken := keys[requestIDKey]; taken {
			f.add(field, "must not set %q: the ledger records the request's id there", requestIDKey)
			return nil
		}
	}
	return trimmed
}

func (f *fields) owner(field, v string) string {
	if v == auth.SystemSub {
		// No token carries it, so a wallet or mandate given to it would belong to nobody who can use it.
		f.add(field, "must not be %q, the ledger's own identity", v)
		return v
	}
	if len(v) > maxOwnerLength {
		f.add(field, "must be at most %d bytes", maxOwnerLength)
		return v
	}
	for _, r := range v {
		if r == unicode.ReplacementChar || !unicode.IsPrint(r) {
			f.add(field, "must be printable text")
			break
		}
	}
	return v
}
