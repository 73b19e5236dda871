package query

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/agentic-commerce/wallet-ledger/internal/httpapi"
)

// A cursor says where the next page of a list starts: the order key of the last item served. It is opaque to
// clients and bound to its query: its MAC (HMAC-SHA256 under the server's cursor secret) covers the key and the
// query's scope (the route, the caller, and every filter), so a cursor that was altered, forged, or taken from
// another query or another caller is refused with 400 invalid_query rather than silently serving another list.
// Every replica that shares the secret accepts the cursors of the others.

const (
	cursorVersion = 1
	cursorMACLen  = 16
	cursorLen     = 1 + 8 + 8 + 16 + cursorMACLen
)

// position is the order key of a list item: some lists use At and ID (created_at, id), others N (a sequence).
type position struct {
	N  int64
	At time.Time
	ID uuid.UUID
}

// cursors signs and checks cursors.
type cursors struct {
	key []byte
}

func newCursors(key []byte) (cursors, error) {
	if len(key) < 16 {
		return cursors{}, errors.New("query: the cursor secret must be at least 16 bytes")
	}
	return cursors{key: append([]byte(nil), key...)}, nil
}

func (c cursors) mac(scope string, payload []byte) []byte {
	m := hmac.New(sha256.New, c.key)
	m.Write([]byte("wallet-ledger list cursor\x00"))
	m.Write([]byte(scope))
	m.Write([]byte{0})
	m.Write(payload)
	return m.Sum(nil)[:cursorMACLen]
}

// encode returns the cursor of p within scope.
func (c cursors) encode(scope string, p position) string {
	b := make([]byte, 0, cursorLen)
	b = append(b, cursorVersion)
	b = binary.BigEndian.AppendUint64(b, uint64(p.N))
	b = binary.BigEndian.AppendUint64(b, uint64(p.At.UnixMicro()))
	b = append(b, p.ID[:]...)
	b = append(b, c.mac(scope, b)...)
	return base64.RawURLEncoding.EncodeToString(b)
}

// errBadCursor is the answer to any cursor this API did not issue for this very query.
var errBadCursor = httpapi.Errorf("invalid_query",
	"cursor is not one this API returned for this query; pass next_cursor as it came, with the same filters")

// decode checks s against scope and returns its position.
func (c cursors) decode(scope, s string) (position, error) {
	if len(s) > 2*cursorLen {
		return position{}, errBadCursor
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) != cursorLen || b[0] != cursorVersion {
		return position{}, errBadCursor
	}
	payload, sum := b[:cursorLen-cursorMACLen], b[cursorLen-cursorMACLen:]
	if !hmac.Equal(sum, c.mac(scope, payload)) {
		return position{}, errBadCursor
	}
	var p position
	p.N = int64(binary.BigEndian.Uint64(payload[1:9]))
	p.At = time.UnixMicro(int64(binary.BigEndian.Uint64(payload[9:17]))).UTC()
	copy(p.ID[:], payload[17:33])
	return p, nil
}

// scope names one query: the route, who asks (and whether as an admin, which changes what a list holds), and
// its filters in a fixed order.
func scope(route string, sub string, admin bool, filters ...string) string {
	parts := append([]string{route, sub, boolString(admin)}, filters...)
	for i, p := range parts {
		parts[i] = strconv.Quote(p) // quoted, so no value can imitate a separator
	}
	return strings.Join(parts, ",")
}

func boolString(b bool) string {
	if b {
		return "admin"
	}
	return "caller"
}
