package eventstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// WriteTx is a transaction whose BEGIN rides at the head of its first batch and whose COMMIT rides at the tail of
// its last: a read-then-write transaction costs two round trips instead of four. On the hot write path that halves
// the syscalls and backend wake-ups per transfer, which is what bounds throughput on a small machine.
type WriteTx struct {
	conn      *pgx.Conn
	begun     bool
	committed bool
	commitLSN string // the WAL position after COMMIT (see SendAndCommit); empty when it could not be read
}

// Send sends b inside the transaction; the first batch also begins it.
func (w *WriteTx) Send(ctx context.Context, b *pgx.Batch) error {
	if w.committed {
		return errors.New("write transaction already committed")
	}
	w.begin(b)
	return w.conn.SendBatch(ctx, b).Close()
}

// SendAndCommit sends b followed by COMMIT in one round trip. A failed statement skips the rest of the pipeline,
// COMMIT included, so nothing commits unless every statement (and every deferred check at COMMIT) succeeded.
func (w *WriteTx) SendAndCommit(ctx context.Context, b *pgx.Batch) error {
	if w.committed {
		return errors.New("write transaction already committed")
	}
	w.begin(b)
	b.Queue("commit").Exec(func(ct pgconn.CommandTag) error {
		if ct.String() != "COMMIT" {
			// PostgreSQL answers ROLLBACK to a COMMIT of a failed transaction.
			return pgx.ErrTxCommitRollback
		}
		w.committed = true
		return nil
	})
	// The position a read may ask a replica to have replayed (Ledger-Position). Read after COMMIT, in the same round
	// trip: the commit record is written at COMMIT, so a position read before it would not cover this write.
	b.Queue(currentLSN).QueryRow(func(row pgx.Row) error { return row.Scan(&w.commitLSN) })
	if err := w.conn.SendBatch(ctx, b).Close(); err != nil {
		if w.committed {
			// Only the position was lost: the write is committed and must be reported so. The caller reads a later
			// position instead (Store.CurrentLSN), which covers the commit too.
			w.commitLSN = ""
			return nil
		}
		return fmt.Errorf("write and commit: %w", err)
	}
	return nil
}

// CommitLSN returns the WAL position read right after COMMIT (PostgreSQL's text form of an LSN), or "" when it
// could not be read.
func (w *WriteTx) CommitLSN() string { return w.commitLSN }

// genericPlans makes every statement of the write transaction run its cached generic plan. The write path looks
// rows up by key, mostly with "= ANY($1)" over a short array of wallet IDs; for such a parameter the planner
// guesses ten elements, so under the default (plan_cache_mode = auto) it judges a plan made for the actual two
// cheaper and re-plans the statement on every call. Measured at 1,000 transfers/s, that re-planning was about a
// sixth of PostgreSQL's CPU per transfer. SET LOCAL ends with the transaction, so reads elsewhere keep auto.
const genericPlans = "set local plan_cache_mode = force_generic_plan"

func (w *WriteTx) begin(b *pgx.Batch) {
	if w.begun {
		return
	}
	w.begun = true
	b.QueuedQueries = append([]*pgx.QueuedQuery{{SQL: "begin isolation level read committed"}, {SQL: genericPlans}},
		b.QueuedQueries...)
}

// InWriteTx runs fn with a WriteTx on a pooled connection; fn must finish with SendAndCommit to commit. Any error,
// or returning without committing, rolls back. Errors come back classified like InTx's: a connection lost around
// COMMIT is ErrUnavailable, never a success.
func (s *Store) InWriteTx(ctx context.Context, fn func(w *WriteTx) error) error {
	conn, err := s.acquire(ctx)
	if err != nil {
		return err
	}
	// Release destroys a connection left inside a transaction, so a failed rollback never poisons the pool.
	defer conn.Release()
	w := &WriteTx{conn: conn.Conn()}
	err = fn(w)
	if err == nil && !w.committed {
		err = errors.New("write transaction returned without committing")
	}
	if err != nil {
		if conn.Conn().PgConn().TxStatus() != 'I' {
			rbCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
			defer cancel()
			_, _ = conn.Exec(rbCtx, "rollback")
		}
		return classify(err)
	}
	return nil
}
