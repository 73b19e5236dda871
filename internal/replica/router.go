package replica

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/agentic-commerce/wallet-ledger/internal/telemetry"
)

// Consistency is what a read needs from the server that answers it.
type Consistency int

const (
	// Fresh reads must see every committed write (balances, mandates, holds: what an agent checks before it
	// spends). The primary answers them, unless the read sends a position the standby has replayed.
	Fresh Consistency = iota
	// Bounded reads tolerate a delay of at most REPLICA_MAX_LAG (history, transactions, audits): the standby
	// answers them while it is in use.
	Bounded
)

// Source names the server that answers a read.
type Source string

// The two servers.
const (
	Primary Source = "primary"
	Standby Source = "replica"
)

// Why a read went where it went; the reason label of the ledger.reads metric.
const (
	ReasonNoReplica      = "no_replica" // READ_DATABASE_URL is not set
	ReasonOutOfUse       = "replica_out_of_use"
	ReasonFresh          = "fresh_read"       // a Fresh read without a position
	ReasonBounded        = "bounded_read"     // a Bounded read without a position
	ReasonReached        = "position_reached" // the standby had replayed the read's position
	ReasonWaitExpired    = "position_wait_expired"
	ReasonReplicaFailed  = "replica_failed"     // the standby failed the read: asked again of the primary
	ReasonMissingReplica = "missing_on_replica" // the standby did not have it (yet): asked again of the primary
)

// Route is where one read goes, and why.
type Route struct {
	Source Source
	Reason string
}

// Config tunes the router. Zero values take the defaults.
type Config struct {
	MaxWait       time.Duration // REPLICA_MAX_WAIT: how long a read with a position waits for the standby
	MaxLag        time.Duration // REPLICA_MAX_LAG: a standby further behind is out of use
	CheckInterval time.Duration // REPLICA_CHECK_INTERVAL: how often the health check runs
	PollInterval  time.Duration // how often a waiting read asks the standby how far it has replayed
}

// Defaults.
const (
	DefaultMaxWait       = 300 * time.Millisecond
	DefaultMaxLag        = 5 * time.Second
	DefaultCheckInterval = time.Second
	DefaultPollInterval  = 5 * time.Millisecond
)

// Status is the standby as the last health check (or a failed read since) saw it.
type Status struct {
	InUse     bool
	Reason    string        // why it is out of use
	Lag       time.Duration // how long ago the primary was where the standby is now (a lower bound)
	Replayed  Position
	CheckedAt time.Time
}

// Router decides, per read, whether the primary or the standby answers. A nil standby sends everything to the
// primary. Its methods are safe for concurrent use.
type Router struct {
	primary, standby *pgxpool.Pool
	cfg              Config

	status   atomic.Pointer[Status]
	replayed atomic.Uint64 // the highest replay position seen: it only grows

	mu       sync.Mutex
	inflight *probe // the replay-position query waiting reads share
	samples  []sample

	served sync.Map // Route -> *atomic.Int64: how many reads went where, and why
}

type probe struct {
	done chan struct{}
	pos  Position
	err  error
}

// sample is where the primary's WAL stood at a time; the health check keeps the recent ones to turn the
// standby's replay position into a lag in seconds.
type sample struct {
	at  time.Time
	pos Position
}

// New returns a router over the primary and the standby (nil: no standby). The standby is out of use until the
// first health check (Check, or Run) finds it streaming and close enough.
func New(primary, standby *pgxpool.Pool, cfg Config) (*Router, error) {
	if primary == nil {
		return nil, errors.New("replica: nil primary pool")
	}
	if cfg.MaxWait < 0 || cfg.MaxLag < 0 || cfg.CheckInterval < 0 || cfg.PollInterval < 0 {
		return nil, errors.New("replica: negative durations")
	}
	if cfg.MaxLag == 0 {
		cfg.MaxLag = DefaultMaxLag
	}
	if cfg.CheckInterval == 0 {
		cfg.CheckInterval = DefaultCheckInterval
	}
	if cfg.PollInterval == 0 {
		cfg.PollInterval = DefaultPollInterval
	}
	r := &Router{primary: primary, standby: standby, cfg: cfg}
	r.status.Store(&Status{Reason: "not checked yet"})
	return r, nil
}

// Routes lists every (source, reason) a router may send a read to: the series of the ledger.reads metric.
func Routes() []Route {
	out := []Route{{Standby, ReasonBounded}, {Standby, ReasonReached}}
	for _, reason := range []string{ReasonNoReplica, ReasonOutOfUse, ReasonFresh, ReasonWaitExpired,
		ReasonReplicaFailed, ReasonMissingReplica} {
		out = append(out, Route{Primary, reason})
	}
	return out
}

// Configured reports whether there is a standby at all.
func (r *Router) Configured() bool { return r.standby != nil }

// Status returns the standby's state as last seen.
func (r *Router) Status() Status { return *r.status.Load() }

// Route decides where a read goes. atLeast is the position the read sent (nil: none). With a position, the standby
// answers only once it has replayed that far, waiting up to MaxWait; past that, the primary answers.
func (r *Router) Route(ctx context.Context, need Consistency, atLeast *Position) Route {
	route := r.route(ctx, need, atLeast)
	r.count(ctx, route)
	return route
}

func (r *Router) count(ctx context.Context, route Route) {
	n, _ := r.served.LoadOrStore(route, new(atomic.Int64))
	n.(*atomic.Int64).Add(1)
	telemetry.RecordRead(ctx, string(route.Source), route.Reason)
}

// Served returns how many reads went to source for reason since the router was made (the ledger.reads metric,
// readable in process).
func (r *Router) Served(source Source, reason string) int64 {
	if n, ok := r.served.Load(Route{source, reason}); ok {
		return n.(*atomic.Int64).Load()
	}
	return 0
}

func (r *Router) route(ctx context.Context, need Consistency, atLeast *Position) Route {
	switch {
	case r.standby == nil:
		return Route{Primary, ReasonNoReplica}
	case !r.status.Load().InUse:
		return Route{Primary, ReasonOutOfUse}
	case atLeast == nil && need == Fresh:
		return Route{Primary, ReasonFresh}
	case atLeast == nil:
		return Route{Standby, ReasonBounded}
	}
	reached, err := r.waitFor(ctx, *atLeast)
	switch {
	case reached:
		return Route{Standby, ReasonReached}
	case err != nil && ctx.Err() == nil:
		r.setStatus(Status{Reason: fmt.Sprintf("the replica did not say how far it has replayed: %v", err),
			CheckedAt: time.Now().UTC()})
		return Route{Primary, ReasonReplicaFailed}
	}
	return Route{Primary, ReasonWaitExpired}
}

// Fallback records that a read the standby was to answer is asked of the primary after all: the standby failed
// it (it is then out of use until the next health check) or did not have what was asked for.
func (r *Router) Fallback(ctx context.Context, reason string, cause error) {
	if reason == ReasonReplicaFailed {
		r.setStatus(Status{Reason: fmt.Sprintf("a read failed on the replica: %v", cause), CheckedAt: time.Now().UTC()})
	}
	r.count(ctx, Route{Primary, reason})
}

// waitFor reports whether the standby has replayed atLeast, asking it again every PollInterval for up to MaxWait (never
// longer, even while a question to the standby hangs). An error says the standby could not answer at all.
func (r *Router) waitFor(ctx context.Context, atLeast Position) (bool, error) {
	if Position(r.replayed.Load()) >= atLeast {
		return true, nil
	}
	if r.cfg.MaxWait == 0 {
		return false, nil // no wait: only what is already known to be replayed
	}
	ctx, cancel := context.WithTimeout(ctx, r.cfg.MaxWait)
	defer cancel()
	for {
		pos, err := r.probe(ctx)
		switch {
		case err == nil && pos >= atLeast:
			return true, nil
		case ctx.Err() != nil:
			return false, nil // MaxWait is up (or the request is gone): not a fault of the standby
		case err != nil:
			return false, err
		}
		t := time.NewTimer(r.cfg.PollInterval)
		select {
		case <-ctx.Done():
			t.Stop()
			return false, nil
		case <-t.C:
		}
	}
}

// probe asks the standby how far it has replayed. Concurrent waiting reads share one query in flight, so a burst
// of reads with positions costs the standby one query per poll, not one per read. The query runs on its own
// goroutine, bounded by the check timeout: a caller stops waiting for it when its own context ends (MaxWait), and
// the others still get its answer.
func (r *Router) probe(ctx context.Context) (Position, error) {
	r.mu.Lock()
	p := r.inflight
	if p == nil {
		p = &probe{done: make(chan struct{})}
		r.inflight = p
		go r.runProbe(p)
	}
	r.mu.Unlock()
	select {
	case <-p.done:
		return p.pos, p.err
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

func (r *Router) runProbe(p *probe) {
	ctx, cancel := context.WithTimeout(context.Background(), r.checkTimeout())
	defer cancel()
	p.pos, p.err = r.replayPosition(ctx)
	r.mu.Lock()
	r.inflight = nil
	r.mu.Unlock()
	close(p.done)
}

func (r *Router) checkTimeout() time.Duration {
	if r.cfg.CheckInterval < 2*time.Second {
		return 2 * time.Second
	}
	return r.cfg.CheckInterval
}

// replayPosition reads the standby's replay position and remembers the highest one seen.
func (r *Router) replayPosition(ctx context.Context) (Position, error) {
	var inRecovery bool
	var replayed *string
	if err := r.standby.QueryRow(ctx, `SELECT pg_is_in_recovery(), pg_last_wal_replay_lsn()::text`).
		Scan(&inRecovery, &replayed); err != nil {
		return 0, fmt.Errorf("read the replica's replay position: %w", err)
	}
	if !inRecovery {
		// A promoted standby is another primary: its data may diverge from ours. Never read from it.
		return 0, errors.New("the replica is not in recovery (pg_is_in_recovery() is false): it is not a standby")
	}
	if replayed == nil {
		return 0, errors.New("the replica has replayed no WAL yet")
	}
	pos, err := ParsePosition(*replayed)
	if err != nil {
		return 0, fmt.Errorf("the replica's replay position %q: %w", *replayed, err)
	}
	for {
		old := r.replayed.Load()
		if uint64(pos) <= old || r.replayed.CompareAndSwap(old, uint64(pos)) {
			break
		}
	}
	return pos, nil
}

func (r *Router) setStatus(s Status) {
	r.status.Store(&s)
	telemetry.SetReplicaStatus(s.InUse, s.Lag.Seconds())
}
