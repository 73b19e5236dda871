// Package replica sends the query side's reads to a PostgreSQL streaming standby (READ_DATABASE_URL) when that is
// safe, and to the primary otherwise.
//
// Every write response carries the WAL position it committed at (Ledger-Position, an LSN). A read may send such a
// position back (Min-Position): it is then answered by the standby only once the standby has replayed that far
// (pg_last_wal_replay_lsn), after a bounded wait (REPLICA_MAX_WAIT), and by the primary otherwise, so a client
// that sends the position of its own write never reads an older state. Reads that must see every committed write
// (balances, mandates, holds) go to the primary unless they send a position; reads that tolerate a bounded delay
// (history, transactions, audits) go to the standby while it is in use. A health check takes a standby that does not
// answer, is not in recovery or lags more than REPLICA_MAX_LAG out of use until it recovers.
package replica

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Position is a point in the primary's write-ahead log: a PostgreSQL LSN. Positions of one cluster are totally
// ordered, and a standby that has replayed up to a position sees every transaction committed before it.
type Position uint64

// ErrInvalidPosition is returned for a position that is not one this service hands out.
var ErrInvalidPosition = errors.New("not a ledger position: send back a Ledger-Position value exactly as received, such as 0/16B3748")

// ParsePosition reads a position in PostgreSQL's text form of an LSN, exactly as String writes it (and as
// PostgreSQL prints pg_lsn): two upper-case hexadecimal numbers of 1 to 8 digits without leading zeros, separated
// by a slash. Anything else is refused rather than guessed at: a position decides which server answers.
func ParsePosition(s string) (Position, error) {
	hi, lo, ok := strings.Cut(s, "/")
	if !ok {
		return 0, ErrInvalidPosition
	}
	h, okh := hexWord(hi)
	l, okl := hexWord(lo)
	if !okh || !okl {
		return 0, ErrInvalidPosition
	}
	return Position(h<<32 | l), nil
}

// hexWord parses 1 to 8 upper-case hex digits, with no leading zero unless the number is 0.
func hexWord(s string) (uint64, bool) {
	if len(s) == 0 || len(s) > 8 || (len(s) > 1 && s[0] == '0') {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'A' || c > 'F') {
			return 0, false
		}
	}
	n, err := strconv.ParseUint(s, 16, 32)
	return n, err == nil
}

// String writes the position as PostgreSQL writes an LSN, e.g. "16/B374D848".
func (p Position) String() string {
	return fmt.Sprintf("%X/%X", uint32(p>>32), uint32(p))
}
