package relay

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Leader-election timings: how often a standby tries the lock and how often the holder checks it still has it.
const (
	campaignInterval = time.Second
	lockCheck        = time.Second
	lockCheckTimeout = 2 * time.Second
)

// campaign competes for the advisory lock until ctx ends, and leads while it holds it.
func (r *Relay) campaign(ctx context.Context) error {
	for ctx.Err() == nil {
		conn, err := r.acquire(ctx)
		if err != nil {
			r.log.WarnContext(ctx, "relay cannot campaign for leadership", "error", err)
		}
		if conn == nil {
			sleep(ctx, campaignInterval)
			continue
		}
		r.holdAndLead(ctx, conn)
	}
	return nil
}

// acquire returns a connection holding the lock, or nil when another replica holds it.
func (r *Relay) acquire(ctx context.Context) (*pgx.Conn, error) {
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	// A dedicated connection, not one of the pool's: the lock lives exactly as long as this session.
	conn, err := pgx.ConnectConfig(cctx, r.pool.Config().ConnConfig.Copy())
	if err != nil {
		return nil, fmt.Errorf("connect for the leader lock: %w", err)
	}
	var got bool
	if err := conn.QueryRow(cctx, `SELECT pg_try_advisory_lock($1)`, r.cfg.LockKey).Scan(&got); err != nil {
		_ = conn.Close(context.Background())
		return nil, fmt.Errorf("try leader lock: %w", err)
	}
	if !got {
		_ = conn.Close(context.Background())
		return nil, nil
	}
	return conn, nil
}

// holdAndLead runs the leader's work while the lock connection answers; it returns when ctx ends, the connection
// fails (the lock may be gone: stop publishing at once) or the leader's work fails.
func (r *Relay) holdAndLead(ctx context.Context, conn *pgx.Conn) {
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = conn.Close(cctx) // ends the session, which releases the lock
	}()
	r.leader.Store(true)
	defer r.leader.Store(false)
	r.log.InfoContext(ctx, "relay is the active leader", "lock_key", r.cfg.LockKey)

	leadCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- r.lead(leadCtx) }()

	t := time.NewTicker(lockCheck)
	defer t.Stop()
	for {
		select {
		case err := <-done:
			if err != nil && ctx.Err() == nil {
				r.log.ErrorContext(ctx, "relay leader work stopped; stepping down", "error", err)
				sleep(ctx, campaignInterval)
			}
			return
		case <-t.C:
			pctx, pcancel := context.WithTimeout(ctx, lockCheckTimeout)
			err := conn.Ping(pctx)
			pcancel()
			if err != nil && ctx.Err() == nil {
				r.log.ErrorContext(ctx, "relay lost its leader-lock connection; stepping down", "error", err)
				cancel()
				<-done
				return
			}
		case <-ctx.Done():
			cancel()
			<-done
			r.log.InfoContext(ctx, "relay stepped down")
			return
		}
	}
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}
