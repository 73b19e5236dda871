package command

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/agentic-commerce/wallet-ledger/eventstore"
	"github.com/agentic-commerce/wallet-ledger/internal/auth"
)

// Group commit. Every write is a job handed to a batcher; a few workers each take what has queued up (at most
// BatchConfig.Max jobs, waiting at most BatchConfig.Wait for more) and commit it in ONE database transaction:
// the requests are decided one after another against the rows as the earlier ones left them, the accepted ones
// are written with set-based statements, and every caller hears its answer only after that COMMIT. On an idle
// server a job finds a worker waiting and runs alone at once; under load, jobs queue while the workers are busy,
// so batches grow with the load and each costs one COMMIT, a few round trips and one update of a hot wallet's row.

// BatchConfig tunes group commit (WRITE_BATCH_MAX, WRITE_BATCH_WAIT, WRITE_BATCH_WORKERS).
type BatchConfig struct {
	// Max is the most writes one database transaction commits; 1 turns group commit off.
	Max int
	// Wait is how long a worker holds a batch open for more writes after its first. 0: it takes only what already
	// queued while it was busy, so a write on an idle server is never delayed.
	Wait time.Duration
	// Workers is how many batches may be in flight at once (each on its own connection).
	Workers int
	// Timeout bounds one batch's database work; past it the batch rolls back and its writes answer 503.
	Timeout time.Duration
}

// DefaultBatchConfig is the configuration the processes start with.
var DefaultBatchConfig = BatchConfig{Max: 256, Wait: 0, Workers: 2, Timeout: 8 * time.Second}

func (bc BatchConfig) validate() error {
	switch {
	case bc.Max < 1 || bc.Max > 4096:
		return errors.New("command: WRITE_BATCH_MAX must be between 1 and 4096")
	case bc.Wait < 0 || bc.Wait > time.Second:
		return errors.New("command: WRITE_BATCH_WAIT must be between 0 and 1s")
	case bc.Workers < 1 || bc.Workers > 64:
		return errors.New("command: WRITE_BATCH_WORKERS must be between 1 and 64")
	case bc.Timeout <= 0:
		return errors.New("command: the batch timeout must be positive")
	}
	return nil
}

// job is one write waiting for, or in, a batch.
type job struct {
	ctx    context.Context
	caller auth.Caller
	idem   Idempotency
	reply  reply
	plan   plan
	// keepRefusal stores a domain refusal under the key (a retry gets the same answer); the hold sweeper's
	// refusals are not kept, so that a later sweep may still release the hold.
	keepRefusal bool
	trace       map[string]string // the request's trace context, carried by the events it causes
	requestID   string            // the id a caller quotes to an operator, recorded in the journal's metadata
	done        chan answer       // buffered: a worker never blocks on a caller that has gone
	// state settles a race between the caller giving up (its context ended) and its batch committing: the first to
	// move it from pending wins. An abandoned job is dropped from its batch, so its 503 is true; a sealed one is
	// about to commit or fail, and its caller waits for the answer instead of guessing.
	state atomic.Int32
}

const (
	jobPending int32 = iota
	jobAbandoned
	jobSealed
)

type answer struct {
	out Outcome
	err error
}

// batcher feeds jobs to the workers.
type batcher struct {
	cfg   BatchConfig
	run   func(jobs []*job)
	queue chan *job
	stop  chan struct{}
	wg    sync.WaitGroup
	once  sync.Once
}

func newBatcher(cfg BatchConfig, run func(jobs []*job)) *batcher {
	bt := &batcher{cfg: cfg, run: run, queue: make(chan *job, 4*cfg.Max*cfg.Workers), stop: make(chan struct{})}
	for range cfg.Workers {
		bt.wg.Add(1)
		go bt.work()
	}
	return bt
}

// close stops the workers once the queue is empty; jobs submitted after it answer 503.
func (bt *batcher) close() {
	bt.once.Do(func() { close(bt.stop) })
	bt.wg.Wait()
}

// submit hands j to the workers and waits for its answer. A full queue (the machine past its capacity) waits at
// most admit before answering 503: shedding keeps the latency of what is accepted bounded, and clients retry
// with the same key.
func (bt *batcher) submit(j *job, admit time.Duration) (Outcome, error) {
	timer := time.NewTimer(admit)
	defer timer.Stop()
	select {
	case <-bt.stop:
		return Outcome{}, eventstore.ErrUnavailable.Withf("the service is shutting down; nothing was committed, retry with the same Idempotency-Key")
	default:
	}
	select {
	case bt.queue <- j:
	case <-timer.C:
		return Outcome{}, eventstore.ErrUnavailable.Withf("the ledger is at capacity; nothing was committed, retry with the same Idempotency-Key")
	case <-j.ctx.Done():
		return Outcome{}, eventstore.Classify(j.ctx.Err())
	case <-bt.stop:
		return Outcome{}, eventstore.ErrUnavailable.Withf("the service is shutting down; nothing was committed, retry with the same Idempotency-Key")
	}
	select {
	case a := <-j.done:
		return a.out, a.err
	case <-j.ctx.Done():
		if j.state.CompareAndSwap(jobPending, jobAbandoned) {
			return Outcome{}, eventstore.Classify(j.ctx.Err())
		}
		// Sealed: its batch is committing it. The answer comes within the batch's timeout, and it is the truth.
		a := <-j.done
		return a.out, a.err
	}
}

// work gathers batches until stop, then drains what is queued.
func (bt *batcher) work() {
	defer bt.wg.Done()
	var carried []*job // jobs whose key was already in the previous batch
	for {
		var first *job
		if len(carried) > 0 {
			first, carried = carried[0], carried[1:]
		} else {
			select {
			case first = <-bt.queue:
			case <-bt.stop:
				select {
				case first = <-bt.queue:
				default:
					return
				}
			}
		}
		if first.state.Load() == jobAbandoned {
			continue
		}
		if runsAlone(first.plan) {
			bt.run([]*job{first})
			continue
		}
		jobs, rest := bt.gather(first, carried)
		carried = rest
		bt.run(jobs)
	}
}

// gather builds a batch from first, the carried jobs and what is queued, up to Max. A second job with a key
// already in the batch waits for the next one, where it replays the first's answer.
func (bt *batcher) gather(first *job, carried []*job) (jobs, later []*job) {
	jobs = append(make([]*job, 0, min(bt.cfg.Max, 64)), first)
	keys := map[idemKey]bool{first.idem.key(): true}
	add := func(j *job) {
		if j.state.Load() == jobAbandoned {
			return // its caller has its answer already
		}
		if keys[j.idem.key()] || runsAlone(j.plan) {
			later = append(later, j)
			return
		}
		keys[j.idem.key()] = true
		jobs = append(jobs, j)
	}
	for _, j := range carried {
		if len(jobs) < bt.cfg.Max {
			add(j)
		} else {
			later = append(later, j)
		}
	}
	var deadline <-chan time.Time
	if bt.cfg.Wait > 0 {
		t := time.NewTimer(bt.cfg.Wait)
		defer t.Stop()
		deadline = t.C
	}
	for len(jobs) < bt.cfg.Max {
		select {
		case j := <-bt.queue:
			add(j)
			continue
		default:
		}
		if deadline == nil {
			return jobs, later
		}
		select {
		case j := <-bt.queue:
			add(j)
		case <-deadline:
			return jobs, later
		}
	}
	return jobs, later
}
