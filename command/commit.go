package command

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/agentic-commerce/wallet-ledger/eventstore"
	"github.com/agentic-commerce/wallet-ledger/internal/httpapi"
	"github.com/agentic-commerce/wallet-ledger/internal/telemetry"
	"github.com/agentic-commerce/wallet-ledger/projector"
)

// batch is one group commit: its jobs, the rows they read and locked as the decided ones left them, and the
// writes of the accepted ones.
type batch struct {
	jobs []*job
	now  time.Time

	// Idempotency: the keys this transaction claimed (its own new rows, invisible to others until COMMIT), and the
	// responses already stored under the others.
	claimed map[idemKey]bool
	stored  map[idemKey]storedResponse

	wallets   map[uuid.UUID]eventstore.Wallet
	balances  map[uuid.UUID]projector.Balance
	deltas    map[uuid.UUID]projector.Delta
	mandates  map[uuid.UUID]eventstore.Mandate
	holds     map[uuid.UUID]eventstore.Hold
	refunded  map[uuid.UUID]int64
	positions []int64

	txs           []eventstore.Transaction
	newWallets    []eventstore.Wallet
	newMandates   []eventstore.Mandate
	savedMandates map[uuid.UUID]bool
	savedWallets  map[uuid.UUID]bool // wallets frozen or unfrozen
	newHolds      []eventstore.Hold
	finishedHolds []eventstore.Hold
	events        []eventstore.Outgoing
	custom        []func(*pgx.Batch) // the plans' own writes (decision.queue)

	// The answer of every job decided in this batch, and what is stored under its key.
	answers  map[*job]answer
	position string // the WAL position the batch committed by: every answer's Ledger-Position
	records  []keyRecord
	released []Idempotency // claims to give back: answers that are not stored (a 5xx, an unkept refusal)
}

func newBatch(jobs []*job, now time.Time) *batch {
	return &batch{
		jobs: jobs, now: now, claimed: map[idemKey]bool{}, stored: map[idemKey]storedResponse{},
		wallets: map[uuid.UUID]eventstore.Wallet{}, balances: map[uuid.UUID]projector.Balance{},
		deltas: map[uuid.UUID]projector.Delta{}, mandates: map[uuid.UUID]eventstore.Mandate{},
		holds: map[uuid.UUID]eventstore.Hold{}, refunded: map[uuid.UUID]int64{}, savedMandates: map[uuid.UUID]bool{},
		savedWallets: map[uuid.UUID]bool{}, answers: map[*job]answer{},
	}
}

// commitBatch runs jobs as one database transaction and answers each. If the transaction fails as a whole (a lost
// connection, a lock or statement timeout, a check at COMMIT), no job is told it committed: each is run again on
// its own, so one bad request cannot sink the others, and a failure that persists answers 503.
func (c *Commands) commitBatch(jobs []*job) {
	for {
		jobs = slices.DeleteFunc(jobs, func(j *job) bool { return j.state.Load() == jobAbandoned })
		if len(jobs) == 0 {
			return
		}
		started := time.Now()
		b, err := c.tryBatch(jobs)
		switch {
		case err == nil:
			position := c.positionOf(b)
			for _, j := range jobs {
				a := b.answers[j]
				if a.err == nil {
					a.out.Position = position
				}
				j.done <- a
			}
			c.recordBatch(b, len(jobs), time.Since(started))
			return
		case errors.Is(err, errAbandoned):
			// A caller gave up while its write was being decided: run the batch again without it.
			unseal(jobs)
			continue
		case len(jobs) == 1:
			jobs[0].done <- answer{err: err}
			return
		}
		telemetry.RecordBatchRetry(context.Background())
		for _, j := range jobs {
			if j.ctx.Err() != nil {
				// Its caller waited for this answer (sealed) or has gone; either way nothing of it committed.
				j.done <- answer{err: eventstore.Classify(j.ctx.Err())}
				continue
			}
			unseal([]*job{j})
			c.commitBatch([]*job{j})
		}
		return
	}
}

// positionOf returns the position b committed by. Should it not have been read after COMMIT, the primary's current
// position stands in: it is later, which is always safe for read-your-writes (a replica read may only wait a little
// longer). Should even that fail, the answers go without Ledger-Position, and reads without one go to the primary.
// Every answer of the batch gets it, replays and refusals too: each was decided on what had committed before it.
func (c *Commands) positionOf(b *batch) string {
	if b.position != "" {
		return b.position
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.batch.Timeout)
	defer cancel()
	pos, err := c.store.CurrentLSN(ctx)
	if err != nil {
		return ""
	}
	return pos
}

// errAbandoned says a job of the batch was abandoned by its caller before the batch could seal it.
var errAbandoned = errors.New("a write of the batch was abandoned by its caller")

// unseal returns sealed jobs to pending, for another attempt.
func unseal(jobs []*job) {
	for _, j := range jobs {
		j.state.CompareAndSwap(jobSealed, jobPending)
	}
}

// tryBatch is one attempt: two round trips (reads and locks; writes and COMMIT), whatever the number of jobs.
func (c *Commands) tryBatch(jobs []*job) (*batch, error) {
	ctxs := make([]context.Context, len(jobs))
	for i, j := range jobs {
		ctxs[i] = j.ctx
	}
	spanCtx, end := telemetry.StartWriteBatch(ctxs)
	ctx, cancel := context.WithTimeout(spanCtx, c.batch.Timeout)
	defer cancel()
	b := newBatch(jobs, c.now())
	err := c.store.InWriteTx(ctx, func(tx *eventstore.WriteTx) error {
		reads := &pgx.Batch{}
		if err := b.queueReads(reads, c.keyTTL); err != nil {
			return err
		}
		if err := tx.Send(ctx, reads); err != nil {
			return fmt.Errorf("read for batch: %w", err)
		}
		for _, j := range jobs {
			b.decide(j)
		}
		if c.beforeCommit != nil {
			c.beforeCommit(ctx)
		}
		// From here on a caller that gives up waits for this answer: what is sealed commits or fails as a whole.
		for _, j := range jobs {
			if !j.state.CompareAndSwap(jobPending, jobSealed) {
				return errAbandoned
			}
		}
		writes := &pgx.Batch{}
		if err := b.queueWrites(writes); err != nil {
			return err
		}
		if err := tx.SendAndCommit(ctx, writes); err != nil {
			return err
		}
		b.position = tx.CommitLSN()
		return nil
	})
	end(err)
	if err != nil {
		return nil, err
	}
	return b, nil
}

// queueReads queues, in the order every batch takes its locks (so two batches never deadlock): the idempotency
// claims in key order, the system wallets to create, the holds, the projections and the mandates in ID order;
// then the wallets, the refunded sums and the journal positions. The wallets are read after the locks: a wallet's
// freeze is written under its projection's lock, so a spend that waited for a freeze reads it committed.
func (b *batch) queueReads(q *pgx.Batch, keyTTL time.Duration) error {
	var n needs
	keys := make([]Idempotency, 0, len(b.jobs))
	for _, j := range b.jobs {
		j.plan.need(&n)
		keys = append(keys, j.idem)
	}
	queueClaims(q, keys, b.now.Add(keyTTL), b.claimed)
	queueLookups(q, keys, b.stored)
	for _, id := range sortedIDs(mapKeys(n.system)) {
		s := n.system[id]
		eventstore.QueueEnsureSystemWallet(q, id, s.asset, s.credited, b.now)
		projector.QueueInit(q, id, s.asset, eventstore.KindSystem, b.now)
	}
	if len(n.holds) > 0 {
		eventstore.QueueLockHolds(q, sortedIDs(n.holds), b.holds)
	}
	if len(n.locks) > 0 {
		projector.QueueLock(q, sortedIDs(n.locks), b.balances)
	}
	if len(n.mandates) > 0 || len(n.agents) > 0 {
		wallets, agents := make([]uuid.UUID, len(n.agents)), make([]string, len(n.agents))
		for i, wa := range n.agents {
			wallets[i], agents[i] = wa.wallet, wa.agent
		}
		eventstore.QueueLockMandates(q, sortedIDs(n.mandates), wallets, agents, b.mandates)
	}
	if len(n.wallets) > 0 {
		eventstore.QueueLoadWallets(q, sortedIDs(n.wallets), b.wallets)
	}
	if len(n.refunds) > 0 {
		eventstore.QueueRefundedSums(q, sortedIDs(n.refunds), b.refunded)
	}
	eventstore.QueueNextPositions(q, len(b.jobs), &b.positions)
	for _, read := range n.queries {
		read(q)
	}
	return nil
}

// decide answers j: from the response stored under its key, or by deciding it against the batch so far.
func (b *batch) decide(j *job) {
	k := j.idem.key()
	if !b.claimed[k] {
		prior, ok := b.stored[k]
		if !ok {
			// The key was taken and its row is gone again (purged, or its request rolled back): retry.
			b.answers[j] = answer{err: eventstore.ErrUnavailable.Withf("this Idempotency-Key is settling; nothing was committed, retry with the same key")}
			return
		}
		out, err := replay(j.ctx, j.idem, prior)
		b.answers[j] = answer{out: out, err: err}
		return
	}
	d := &decision{b: b, job: j, now: b.now}
	m := b.mark()
	res, err := j.plan.decide(d)
	var body []byte
	if err == nil {
		body, err = json.Marshal(res.Body)
	}
	if err != nil {
		d.rollback(m)
		b.refuse(j, err)
		return
	}
	out := Outcome{Status: j.reply.status, Body: body, Location: j.reply.location(res.ID)}
	b.answers[j] = answer{out: out}
	b.records = append(b.records, keyRecord{idem: j.idem, status: out.Status, body: body, location: out.Location})
}

// refuse answers j with err: a domain refusal is stored under its key (unless the job keeps none), anything else
// (a bug) answers 500 and gives the key back.
func (b *batch) refuse(j *job, err error) {
	var coded httpapi.Coded
	if !storable(err) || !j.keepRefusal {
		b.answers[j] = answer{err: err}
		b.released = append(b.released, j.idem)
		return
	}
	if errors.As(err, &coded) {
		telemetry.RecordRejection(j.ctx, coded.ProblemCode())
	}
	status, body := httpapi.ProblemFor(err, j.reply.instance)
	b.answers[j] = answer{out: Outcome{Status: status, Body: body, Problem: true}}
	b.records = append(b.records, keyRecord{idem: j.idem, status: status, body: body})
}

// queueWrites queues every accepted write with set-based statements, in foreign-key order, and the responses
// under the keys.
func (b *batch) queueWrites(q *pgx.Batch) error {
	for _, w := range b.newWallets {
		eventstore.QueueInsertWallet(q, w)
		projector.QueueInit(q, w.ID, w.Asset, w.Kind, w.CreatedAt)
	}
	for _, m := range b.newMandates {
		eventstore.QueueInsertMandate(q, m)
	}
	saved := make([]eventstore.Mandate, 0, len(b.savedMandates))
	for _, id := range sortedIDs(mapKeys(b.savedMandates)) {
		saved = append(saved, b.mandates[id])
	}
	eventstore.QueueSaveMandates(q, saved)
	frozen := make([]eventstore.Wallet, 0, len(b.savedWallets))
	for _, id := range sortedIDs(mapKeys(b.savedWallets)) {
		frozen = append(frozen, b.wallets[id])
	}
	eventstore.QueueSaveFreezes(q, frozen)
	eventstore.QueueAppendAll(q, b.txs)
	eventstore.QueueInsertHolds(q, b.newHolds)
	eventstore.QueueFinishHolds(q, b.finishedHolds)
	projector.QueueApply(q, b.deltas, b.now)
	for _, write := range b.custom {
		write(q)
	}
	if err := eventstore.QueueOutbox(q, b.events); err != nil {
		return err
	}
	queueRecords(q, b.records)
	queueReleases(q, b.released)
	return nil
}

// recordBatch counts what the batch committed, once for every write of every use case.
func (c *Commands) recordBatch(b *batch, size int, took time.Duration) {
	ctx := context.Background()
	for _, t := range b.txs {
		telemetry.RecordCommit(ctx, t.Kind)
	}
	telemetry.RecordWriteBatch(ctx, size, took)
}

func sortedIDs(ids []uuid.UUID) []uuid.UUID {
	out := slices.Clone(ids)
	slices.SortFunc(out, compareUUID)
	return slices.Compact(out)
}

func mapKeys[V any](m map[uuid.UUID]V) []uuid.UUID {
	out := make([]uuid.UUID, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
