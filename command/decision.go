package command

import (
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/agentic-commerce/wallet-ledger/eventstore"
	"github.com/agentic-commerce/wallet-ledger/projector"
)

// plan is one use case's part in a batch: need declares the rows its decision reads and locks (the batch reads
// every request's at once, in one round trip); decide checks the rules against them and records its writes.
type plan interface {
	need(n *needs)
	decide(d *decision) (Result, error)
}

// Result is what a use case decided: the resource it describes (the response body) and the ID from which the
// route builds the Location of what it created.
type Result struct {
	Body any
	ID   uuid.UUID
}

type walletAgent struct {
	wallet uuid.UUID
	agent  string
}

// needs is what the requests of one batch read: wallets, projections to lock, mandates, holds, refunded sums,
// system wallets to create on first use. Each set is read or locked with one statement, locks in a fixed order.
type needs struct {
	wallets  []uuid.UUID
	locks    []uuid.UUID
	mandates []uuid.UUID
	agents   []walletAgent
	holds    []uuid.UUID
	refunds  []uuid.UUID
	system   map[uuid.UUID]systemNeed
	// queries are reads of tables the batch does not model (webhook endpoints), queued after every lock above.
	queries []func(b *pgx.Batch)
}

// query asks for a read of the plan's own, queued after the batch's locks. A plan that locks rows this way must
// run alone (aloneInBatch), so that its locks never interleave with another plan's.
func (n *needs) query(q func(b *pgx.Batch)) { n.queries = append(n.queries, q) }

// aloneInBatch marks a plan the batcher never groups with others: rare writes to tables of their own (webhook
// endpoints), whose row locks and limits are simplest to reason about one transaction at a time.
type aloneInBatch interface{ alone() }

func runsAlone(p plan) bool {
	_, ok := p.(aloneInBatch)
	return ok
}

// read asks for the wallets ids (who owns them, their asset and kind).
func (n *needs) read(ids ...uuid.UUID) { n.wallets = append(n.wallets, ids...) }

// lock asks for the wallets ids and their projections, locked: the decision may move their money.
func (n *needs) lock(ids ...uuid.UUID) {
	n.wallets = append(n.wallets, ids...)
	n.locks = append(n.locks, ids...)
}

// mandate asks for mandate id, locked.
func (n *needs) mandate(id uuid.UUID) { n.mandates = append(n.mandates, id) }

// agentMandates asks for every mandate agent holds on wallet, locked.
func (n *needs) agentMandates(wallet uuid.UUID, agent string) {
	n.agents = append(n.agents, walletAgent{wallet, agent})
}

// hold asks for hold id, locked.
func (n *needs) hold(id uuid.UUID) { n.holds = append(n.holds, id) }

// refunded asks how much of transaction id is refunded so far; lock its payee first.
func (n *needs) refunded(id uuid.UUID) { n.refunds = append(n.refunds, id) }

// systemNeed is a system wallet a batch may create: its asset, and the wallets credited against it.
type systemNeed struct {
	asset    string
	credited []uuid.UUID
}

// systemWallet asks for asset's system wallet, locked, and created if this is its first use and credited is a user
// wallet of asset (eventstore.QueueEnsureSystemWallet): money enters an asset only by a credit against it.
func (n *needs) systemWallet(id uuid.UUID, asset string, credited uuid.UUID) {
	if n.system == nil {
		n.system = map[uuid.UUID]systemNeed{}
	}
	s := n.system[id]
	s.asset, s.credited = asset, append(s.credited, credited)
	n.system[id] = s
	n.lock(id)
}

// decision is one request's view of its batch: the rows the batch read and locked, as the requests decided before
// it left them, and the writes it records. Every change is undone if the request is refused, so a refusal leaves
// the batch exactly as it found it.
type decision struct {
	b    *batch
	job  *job
	now  time.Time
	undo []func()
}

// wallet returns wallet id if it exists (or was created earlier in the batch).
func (d *decision) wallet(id uuid.UUID) (eventstore.Wallet, bool) {
	w, ok := d.b.wallets[id]
	return w, ok
}

// balance returns the locked projection of wallet id, as the batch has left it so far.
func (d *decision) balance(id uuid.UUID) (projector.Balance, bool) {
	bal, ok := d.b.balances[id]
	return bal, ok
}

// isSystem reports whether id is a system wallet the batch knows.
func (d *decision) isSystem(id uuid.UUID) bool { return d.b.wallets[id].Kind == eventstore.KindSystem }

// mandate returns the locked mandate id.
func (d *decision) mandate(id uuid.UUID) (eventstore.Mandate, bool) {
	m, ok := d.b.mandates[id]
	return m, ok
}

// mandatesOf returns every locked mandate agent holds on wallet, in mandate_id order.
func (d *decision) mandatesOf(wallet uuid.UUID, agent string) []eventstore.Mandate {
	var out []eventstore.Mandate
	for _, m := range d.b.mandates {
		if m.WalletID == wallet && m.Agent == agent {
			out = append(out, m)
		}
	}
	slices.SortFunc(out, func(a, b eventstore.Mandate) int { return compareUUID(a.ID, b.ID) })
	return out
}

// hold returns the locked hold id.
func (d *decision) hold(id uuid.UUID) (eventstore.Hold, bool) {
	h, ok := d.b.holds[id]
	return h, ok
}

// refundedSoFar is how much of transaction id has been refunded, earlier requests of the batch included.
func (d *decision) refundedSoFar(id uuid.UUID) int64 { return d.b.refunded[id] }

// newTransaction starts the journal transaction of this request: a new ID, the caller's sub, actor and key, the
// batch's time, and the request's id in its metadata (request_id), so an operator can go from the id a customer
// quotes to the transaction. post gives it its position.
func (d *decision) newTransaction(kind, asset string, amount int64, description string, metadata json.RawMessage, entries ...eventstore.Entry) eventstore.Transaction {
	return eventstore.Transaction{
		ID: uuid.New(), Kind: kind, Asset: asset, Amount: amount, Sub: d.job.caller.Sub, Actor: d.job.caller.Actor,
		IdempotencyKey: d.job.idem.Key, RequestHash: d.job.idem.Hash, Description: description,
		Metadata:  withRequestID(metadata, d.job.requestID),
		CreatedAt: d.now, Entries: entries,
	}
}

// requestIDKey is the metadata key the server writes; a client's metadata may not use it (fields.metadata).
const requestIDKey = "request_id"

// withRequestID adds request_id to a metadata object (validated: an object, without that key).
func withRequestID(metadata json.RawMessage, id string) json.RawMessage {
	if id == "" {
		return metadata
	}
	fields := map[string]json.RawMessage{}
	if len(metadata) > 0 {
		if err := json.Unmarshal(metadata, &fields); err != nil {
			return metadata // cannot happen: validated as an object; leave it as sent rather than lose it
		}
	}
	encoded, _ := json.Marshal(id)
	fields[requestIDKey] = encoded
	out, err := json.Marshal(fields)
	if err != nil {
		return metadata
	}
	return out
}

// post checks t's entries against the locked balances (every user wallet stays non-negative, in total and in what
// is available, and every sum in range), gives t its journal position, and records the journal rows, the
// projection change and the transaction's event.
func (d *decision) post(t *eventstore.Transaction) error {
	deltas, err := projector.Deltas(t.Entries)
	if err != nil {
		return err
	}
	if err := projector.Check(d.b.balances, deltas); err != nil {
		return err
	}
	if len(d.b.positions) == 0 {
		return fmt.Errorf("no journal position left in the batch")
	}
	t.Position = d.b.positions[0]
	d.b.positions = d.b.positions[1:]
	d.onUndo(func() { d.b.positions = append([]int64{t.Position}, d.b.positions...) })
	for id, delta := range deltas {
		prevBal, prevDelta := d.b.balances[id], d.b.deltas[id]
		bal := prevBal
		bal.Balance += delta.Balance
		bal.Held += delta.Held
		bal.Version++
		bal.UpdatedAt = d.now
		d.b.balances[id] = bal
		sum := prevDelta
		sum.Balance += delta.Balance
		sum.Held += delta.Held
		sum.Transactions++
		d.b.deltas[id] = sum
		d.onUndo(func() { d.b.balances[id], d.b.deltas[id] = prevBal, prevDelta })
	}
	if t.RefundOf != nil {
		orig, prev := *t.RefundOf, d.b.refunded[*t.RefundOf]
		d.b.refunded[orig] = prev + t.Amount
		d.onUndo(func() { d.b.refunded[orig] = prev })
	}
	d.b.txs = append(d.b.txs, *t)
	d.emit(eventstore.NewTransactionEvent(*t))
	return nil
}

// saveMandate records a locked mandate's new state (spending counters, status) as its next version.
func (d *decision) saveMandate(m eventstore.Mandate) {
	m.UpdatedAt = d.now
	m.Version = d.b.mandates[m.ID].Version + 1
	prev, wasSaved := d.b.mandates[m.ID], d.b.savedMandates[m.ID]
	d.b.mandates[m.ID], d.b.savedMandates[m.ID] = m, true
	d.onUndo(func() {
		d.b.mandates[m.ID] = prev
		if !wasSaved {
			delete(d.b.savedMandates, m.ID)
		}
	})
}

// saveFreeze records the new freeze status of wallet w, whose projection the batch locked: later requests of the
// batch see it.
func (d *decision) saveFreeze(w eventstore.Wallet) {
	prev, wasSaved := d.b.wallets[w.ID], d.b.savedWallets[w.ID]
	d.b.wallets[w.ID], d.b.savedWallets[w.ID] = w, true
	d.onUndo(func() {
		d.b.wallets[w.ID] = prev
		if !wasSaved {
			delete(d.b.savedWallets, w.ID)
		}
	})
}

// grantMandate records a new mandate; later requests of the batch may spend under it.
func (d *decision) grantMandate(m eventstore.Mandate) {
	d.b.mandates[m.ID] = m
	d.onUndo(func() { delete(d.b.mandates, m.ID) })
	d.b.newMandates = append(d.b.newMandates, m)
}

// createWallet records a new wallet and its zero projection; later requests of the batch may use it.
func (d *decision) createWallet(w eventstore.Wallet) {
	d.b.wallets[w.ID] = w
	d.b.balances[w.ID] = projector.Balance{WalletID: w.ID, Asset: w.Asset, Kind: w.Kind, UpdatedAt: w.CreatedAt}
	d.onUndo(func() { delete(d.b.wallets, w.ID); delete(d.b.balances, w.ID) })
	d.b.newWallets = append(d.b.newWallets, w)
}

// insertHold records a new hold.
func (d *decision) insertHold(h eventstore.Hold) { d.b.newHolds = append(d.b.newHolds, h) }

// finishHold records the end of a locked hold.
func (d *decision) finishHold(h eventstore.Hold) {
	prev := d.b.holds[h.ID]
	d.b.holds[h.ID] = h
	d.onUndo(func() { d.b.holds[h.ID] = prev })
	d.b.finishedHolds = append(d.b.finishedHolds, h)
}

// queue records a write of the plan's own (a table the batch does not model), sent after the batch's writes.
func (d *decision) queue(w func(b *pgx.Batch)) { d.b.custom = append(d.b.custom, w) }

// emit records an event for the outbox, carrying the trace context of the request that caused it.
func (d *decision) emit(ev eventstore.Event) {
	d.b.events = append(d.b.events, eventstore.Outgoing{Event: ev, Metadata: d.job.trace})
}

func (d *decision) onUndo(f func()) { d.undo = append(d.undo, f) }

// mark is how far the batch's write lists reached before a request was decided.
type mark struct{ txs, wallets, mandates, holds, finished, events, custom int }

func (b *batch) mark() mark {
	return mark{len(b.txs), len(b.newWallets), len(b.newMandates), len(b.newHolds), len(b.finishedHolds), len(b.events), len(b.custom)}
}

// rollback undoes what d recorded after m: the request was refused.
func (d *decision) rollback(m mark) {
	for i := len(d.undo) - 1; i >= 0; i-- {
		d.undo[i]()
	}
	d.undo = nil
	b := d.b
	b.txs, b.newWallets, b.newMandates = b.txs[:m.txs], b.newWallets[:m.wallets], b.newMandates[:m.mandates]
	b.newHolds, b.finishedHolds, b.events = b.newHolds[:m.holds], b.finishedHolds[:m.finished], b.events[:m.events]
	b.custom = b.custom[:m.custom]
}

func compareUUID(a, b uuid.UUID) int {
	for i := range a {
		if a[i] != b[i] {
			return int(a[i]) - int(b[i])
		}
	}
	return 0
}
