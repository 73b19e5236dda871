package load

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// stagedPacer holds each stage's constant rate for its duration. Constant
// pacing is the point: requests leave on schedule whether or not earlier
// ones have answered, so a slow server shows up as latency instead of
// quietly lowering the offered load (coordinated omission).
type stagedPacer struct{ stages []Stage }

func (p stagedPacer) expected(elapsed time.Duration) float64 {
	var n float64
	for _, st := range p.stages {
		d := time.Duration(st.Duration)
		if elapsed <= d {
			return n + float64(st.Rate)*elapsed.Seconds()
		}
		n += float64(st.Rate) * d.Seconds()
		elapsed -= d
	}
	return n
}

// Pace implements vegeta.Pacer.
func (p stagedPacer) Pace(elapsed time.Duration, hits uint64) (time.Duration, bool) {
	var total time.Duration
	for _, st := range p.stages {
		total += time.Duration(st.Duration)
	}
	if elapsed >= total {
		return 0, true
	}
	if float64(hits) < p.expected(elapsed) {
		return 0, false
	}
	// Walk forward to the moment the schedule owes hit number hits+1.
	target := float64(hits + 1)
	var start time.Duration
	var n float64
	for _, st := range p.stages {
		d := time.Duration(st.Duration)
		stageHits := float64(st.Rate) * d.Seconds()
		if n+stageHits >= target {
			at := start + time.Duration((target-n)/float64(st.Rate)*float64(time.Second))
			return at - elapsed, false
		}
		n += stageHits
		start += d
	}
	return 0, true
}

// Rate implements vegeta.Pacer.
func (p stagedPacer) Rate(elapsed time.Duration) float64 {
	for _, st := range p.stages {
		d := time.Duration(st.Duration)
		if elapsed < d {
			return float64(st.Rate)
		}
		elapsed -= d
	}
	return 0
}

// reqRecord remembers a write so it can be retried with the same key (during
// the run, and once more after it to settle outcomes a fault left unknown).
type reqRecord struct {
	op    Op
	path  string
	body  []byte
	admin bool
}

// targeter builds each request from the mix. The operation and the
// Idempotency-Key travel in the URL fragment, which HTTP clients never send,
// so every vegeta Result can be attributed even when no response arrived.
// Requests are built raw, not through the client package: vegeta paces,
// sends and times each request itself, so it needs the finished request, and
// a client's own retries would hide the very answers the run measures.
type targeter struct {
	sc      *Scenario
	base    string
	runID   string
	userTok string
	admTok  string

	mu      sync.Mutex
	rng     *rand.Rand
	seq     uint64
	records map[string]*reqRecord
	retryQ  []string // keys of finished transfers, eligible for one retry
}

func newTargeter(sc *Scenario, base, runID, userTok, admTok string, seed uint64) *targeter {
	return &targeter{
		sc: sc, base: strings.TrimRight(base, "/"), runID: runID, userTok: userTok, admTok: admTok,
		rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), records: map[string]*reqRecord{},
	}
}

// offerRetry makes a finished transfer's key eligible for an idempotent retry.
func (t *targeter) offerRetry(key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.retryQ) < 100000 {
		t.retryQ = append(t.retryQ, key)
	}
}

func (t *targeter) record(key string) *reqRecord {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.records[key]
}

func (t *targeter) wallet() uuid.UUID {
	p := t.sc.Population
	if p.HotWallets > 0 && t.rng.Float64() < p.HotShare {
		return WalletID(t.rng.IntN(p.HotWallets))
	}
	return WalletID(t.rng.IntN(p.Wallets))
}

// transferPair picks a transfer's two wallets: a payer and one of the merchants when the population has
// merchants, else two distinct wallets (hot ones at their share).
func (t *targeter) transferPair() (from, to uuid.UUID) {
	p := t.sc.Population
	if p.Merchants > 0 {
		return WalletID(p.Merchants + t.rng.IntN(p.Wallets-p.Merchants)), WalletID(t.rng.IntN(p.Merchants))
	}
	from, to = t.wallet(), t.wallet()
	for to == from {
		to = WalletID(t.rng.IntN(p.Wallets))
	}
	return from, to
}

func (t *targeter) amount() int64 {
	a := t.sc.Amount
	return a.Min + t.rng.Int64N(a.Max-a.Min+1)
}

// Target implements vegeta.Targeter.
func (t *targeter) Target(tgt *vegeta.Target) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.seq++
	op := t.sc.PickOp(t.rng.Float64())
	if op == OpIdempotentRetry && len(t.retryQ) == 0 {
		op = OpTransfer // nothing finished yet to retry
	}
	key := fmt.Sprintf("lg-%s-%d", t.runID, t.seq)
	var rec *reqRecord
	switch op {
	case OpIdempotentRetry:
		i := t.rng.IntN(len(t.retryQ))
		key = t.retryQ[i]
		t.retryQ[i] = t.retryQ[len(t.retryQ)-1]
		t.retryQ = t.retryQ[:len(t.retryQ)-1]
		rec = t.records[key]
	case OpTransfer:
		from, to := t.transferPair()
		rec = &reqRecord{op: op, path: "/v1/transfers", body: mustJSON(map[string]any{
			"from_wallet_id": from, "to_wallet_id": to, "amount": t.amount(),
			"asset": t.sc.Population.Asset, "description": "loadgen",
		})}
	case OpCreateWallet:
		rec = &reqRecord{op: op, path: "/v1/wallets", body: mustJSON(map[string]any{
			"wallet_id": uuid.New(), "asset": t.sc.Population.Asset,
			"metadata": map[string]any{"source": "loadgen"},
		})}
	case OpAdjustment:
		amt := t.amount()
		if t.rng.IntN(2) == 0 {
			amt = -amt
		}
		rec = &reqRecord{op: op, path: "/v1/adjustments", admin: true, body: mustJSON(map[string]any{
			"wallet_id": t.wallet(), "amount": amt, "asset": t.sc.Population.Asset, "reason": "loadgen adjustment",
		})}
	case OpBalanceRead, OpAudit:
		path := "/v1/wallets/" + t.wallet().String() + "/balance"
		if op == OpAudit {
			path += "/audit"
		}
		*tgt = vegeta.Target{Method: http.MethodGet, URL: t.url(path, op, ""), Header: t.header(false, "")}
		return nil
	}
	if op != OpIdempotentRetry {
		t.records[key] = rec
	}
	*tgt = vegeta.Target{Method: http.MethodPost, URL: t.url(rec.path, op, key), Body: rec.body, Header: t.header(rec.admin, key)}
	return nil
}

func (t *targeter) url(path string, op Op, key string) string {
	frag := url.Values{"op": {string(op)}}
	if key != "" {
		frag.Set("key", key)
	}
	return t.base + path + "#" + frag.Encode()
}

func (t *targeter) header(admin bool, key string) http.Header {
	h := http.Header{}
	tok := t.userTok
	if admin {
		tok = t.admTok
	}
	h.Set("Authorization", "Bearer "+tok)
	if key != "" {
		h.Set("Content-Type", "application/json")
		h.Set("Idempotency-Key", key)
	}
	return h
}

// parseFragment recovers the operation and key a targeter put in a URL.
func parseFragment(raw string) (Op, string) {
	i := strings.IndexByte(raw, '#')
	if i < 0 {
		return "", ""
	}
	v, err := url.ParseQuery(raw[i+1:])
	if err != nil {
		return "", ""
	}
	return Op(v.Get("op")), v.Get("key")
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("marshal request body: %v", err)) // only plain maps: cannot fail
	}
	return b
}
