package eventstore

import (
	"context"
	"fmt"
)

// currentLSN reads the primary's current WAL insert position. After a COMMIT returns, it is at or past the end of
// that commit's WAL record, so a standby that has replayed up to it sees the commit, whatever synchronous_commit
// says (the insert position, unlike the write or flush position, includes records not yet on disk).
const currentLSN = `SELECT pg_current_wal_insert_lsn()::text`

// CurrentLSN returns the primary's current WAL insert position. Every transaction already committed, as seen by
// the caller, lies before it: it stands in for the commit position of an answer that has none of its own (a
// replayed idempotent response, a stored refusal).
func (s *Store) CurrentLSN(ctx context.Context) (string, error) {
	var lsn string
	if err := s.pool.QueryRow(ctx, currentLSN).Scan(&lsn); err != nil {
		return "", classify(fmt.Errorf("read the WAL position: %w", err))
	}
	return lsn, nil
}
