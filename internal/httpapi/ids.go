package httpapi

import (
	"fmt"

	"github.com/google/uuid"
)

// ParseID accepts only the canonical hyphenated UUID form (36 characters, not the nil UUID), so one wallet or
// transaction has one spelling in paths and bodies.
func ParseID(v string) (uuid.UUID, error) {
	if len(v) != 36 {
		return uuid.Nil, fmt.Errorf("%q is not a canonical UUID", clip(v))
	}
	id, err := uuid.Parse(v)
	if err != nil || id == uuid.Nil {
		return uuid.Nil, fmt.Errorf("%q is not a UUID", clip(v))
	}
	return id, nil
}

// ParsePathID is ParseID for a path segment: a bad one answers 400 invalid_id.
func ParsePathID(v string) (uuid.UUID, error) {
	id, err := ParseID(v)
	if err != nil {
		return uuid.Nil, Errorf("invalid_id", "%s", err.Error())
	}
	return id, nil
}

func clip(s string) string {
	const n = 64
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
