package load

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/agentic-commerce/wallet-ledger/client"
)

// FaultPlan injects the scenario's fault: Inject at fault.at, Heal after
// fault.duration. The run times both, and the analysis judges the answers
// around them.
type FaultPlan struct {
	Name   string
	Inject func(context.Context) error
	Heal   func(context.Context) error
	// AllowTransportErrors accepts refused or reset connections during the
	// fault window: true only when the fault is the API process itself dying.
	AllowTransportErrors bool
}

// RunConfig wires one run.
type RunConfig struct {
	BaseURL     string
	Scenario    *Scenario
	Tokens      TokenConfig
	DatabaseURL string // optional: enables the database-wide invariant checks
	SkipSeed    bool
	Fault       *FaultPlan
	Out         io.Writer
	Seed        uint64 // random seed of the operation mix; 0 = time-based
	// Wrap, when set, wraps the transport of every request the run sends: seeding, the attack, settling and the
	// checks. The tests use it to hold each exchange to the API's OpenAPI document.
	Wrap func(http.RoundTripper) http.RoundTripper
}

// outcome is what the run knows about one Idempotency-Key.
type outcome struct {
	op       Op
	status   int
	txID     string
	walletID string
	amount   int64 // signed adjustment amount, once committed
}

// Run seeds, attacks, settles, checks invariants and returns the report.
// An error means the run could not be carried out; a run that was carried
// out but missed a threshold returns a report whose Failures say why.
func Run(ctx context.Context, cfg RunConfig) (*Report, error) {
	sc := cfg.Scenario
	out := cfg.Out
	if out == nil {
		out = io.Discard
	}
	if sc.Fault != nil && cfg.Fault == nil {
		return nil, fmt.Errorf("scenario %s needs a fault plan (loadgen --fault ...)", sc.Name)
	}
	userTok, err := cfg.Tokens.Mint(LoadSub, "wallet:read wallet:write")
	if err != nil {
		return nil, err
	}
	admTok, err := cfg.Tokens.Mint(AdminSub, "wallet:read wallet:write wallet:admin")
	if err != nil {
		return nil, err
	}
	wrap := cfg.Wrap
	if wrap == nil {
		wrap = func(rt http.RoundTripper) http.RoundTripper { return rt }
	}
	apiHTTP := &http.Client{Timeout: 30 * time.Second, Transport: wrap(http.DefaultTransport)}
	// The checks read as admin; settling resends writes as whoever sent them.
	reader, err := newAPIClient(cfg.BaseURL, admTok, apiHTTP, readRetry)
	if err != nil {
		return nil, err
	}
	userWriter, err := newAPIClient(cfg.BaseURL, userTok, apiHTTP, writeRetry)
	if err != nil {
		return nil, err
	}
	adminWriter := userWriter.WithToken(admTok)

	pop := sc.Population
	if !cfg.SkipSeed {
		sr, err := Seed(ctx, SeedConfig{BaseURL: cfg.BaseURL, Tokens: cfg.Tokens, Count: pop.Wallets,
			Asset: pop.Asset, InitialBalance: pop.InitialBalance, HTTP: apiHTTP})
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(out, "seeded %d wallets (%d created, %d existing, %d funded, %d replayed) in %s\n",
			pop.Wallets, sr.Created, sr.Existing, sr.Funded, sr.Replayed, sr.Elapsed.Round(time.Millisecond))
	}
	seeded := make([]string, pop.Wallets)
	for i := range seeded {
		seeded[i] = WalletID(i).String()
	}
	before, err := Balances(ctx, reader, seeded)
	if err != nil {
		return nil, fmt.Errorf("read balances before the run: %w", err)
	}

	seed := cfg.Seed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	runID := strconv.FormatInt(time.Now().UnixNano(), 36)
	tr := newTargeter(sc, cfg.BaseURL, runID, userTok, admTok, seed)
	atk := vegeta.NewAttacker(
		vegeta.Client(attackClient(sc, wrap)),
		vegeta.MaxWorkers(uint64(sc.MaxVUs)),
		vegeta.Workers(uint64(min(sc.MaxVUs, 64))),
		vegeta.MaxBody(64<<10),
	)
	fmt.Fprintf(out, "running %s: %d stage(s), %s, ~%.0f requests against %s\n",
		sc.Name, len(sc.Stages), sc.TotalDuration(), sc.ExpectedRequests(), cfg.BaseURL)

	began := time.Now()
	var fts faultTimes
	var faultWG sync.WaitGroup
	faultCtx, stopFault := context.WithCancel(ctx)
	defer stopFault()
	if sc.Fault != nil {
		faultWG.Add(1)
		go func() {
			defer faultWG.Done()
			fts = driveFault(faultCtx, began, sc.Fault, cfg.Fault, out)
		}()
	}

	col := newCollector(began, allowedOverall(sc))
	outcomes := map[string]*outcome{}
	var retryIssues []string
	plot := newPlot(sc.Name)
	results := atk.Attack(tr.Target, stagedPacer{stages: sc.Stages}, sc.TotalDuration(), sc.Name)
	var lastEnd time.Time
	for r := range results {
		if ctx.Err() != nil {
			atk.Stop()
		}
		op, key := col.add(r)
		plot.add(r, op)
		if e := r.End(); e.After(lastEnd) {
			lastEnd = e
		}
		if key == "" {
			continue
		}
		if issue := track(tr, outcomes, op, key, r); issue != "" && len(retryIssues) < 100 {
			retryIssues = append(retryIssues, issue)
		}
	}
	elapsed := lastEnd.Sub(began)
	faultWG.Wait()
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("run interrupted: %w", err)
	}
	if fts.err != nil {
		return nil, fts.err
	}

	settled, unsettled := settle(ctx, tr, userWriter, adminWriter, outcomes)
	fmt.Fprintf(out, "settled %d write(s) whose outcome the run left unknown (%d still unknown)\n", settled, unsettled)

	var ft *faultTimes
	if sc.Fault != nil {
		ft = &fts
	}
	rep := buildReport(sc, cfg, col, elapsed, began, ft)
	rep.Retries = retryStats(outcomes, retryIssues)
	if sc.Fault != nil {
		rep.Fault = analyseFault(sc, cfg.Fault, col.samples, fts)
	}
	inv, err := checkAfter(ctx, cfg, reader, sc, seeded, before, outcomes, retryIssues)
	if err != nil {
		return nil, err
	}
	if unsettled > 0 {
		inv.Violations = append(inv.Violations, fmt.Sprintf("%d writes still had no definite outcome after settling", unsettled))
	}
	rep.Invariants = inv
	rep.evaluate(sc)
	rep.plot = plot
	return rep, nil
}

// attackClient is vegeta's own default client (keep-alive, a dialer with TCP keep-alives, proxies from the
// environment) with one idle connection kept per virtual user, built here so that wrap can see its exchanges.
// Its timeout sits just past the server's request timeout: an answer later than that is a hang, reported as a
// transport error.
func attackClient(sc *Scenario, wrap func(http.RoundTripper) http.RoundTripper) *http.Client {
	tr := &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		DialContext:         (&net.Dialer{KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConnsPerHost: sc.MaxVUs,
	}
	return &http.Client{Timeout: time.Duration(sc.RequestTimeout) + 2*time.Second, Transport: wrap(tr)}
}

// track updates a key's outcome from one result and checks idempotent
// replays. It returns a description of a broken promise, or "".
func track(tr *targeter, outcomes map[string]*outcome, op Op, key string, r *vegeta.Result) string {
	o := outcomes[key]
	if o == nil {
		rec := tr.record(key)
		if rec == nil {
			return ""
		}
		o = &outcome{op: rec.op}
		outcomes[key] = o
	}
	code := int(r.Code)
	var txID, walletID string
	var amount int64
	if code == http.StatusCreated {
		var body struct {
			TransactionID string `json:"transaction_id"`
			WalletID      string `json:"wallet_id"`
			Amount        int64  `json:"amount"`
		}
		if err := json.Unmarshal(r.Body, &body); err != nil {
			return fmt.Sprintf("key %s: undecodable 201 body: %v", key, err)
		}
		txID, walletID, amount = body.TransactionID, body.WalletID, body.Amount
	}
	var issue string
	if op == OpIdempotentRetry {
		switch {
		case o.status == http.StatusCreated && code == http.StatusCreated && !isReplay(r.Headers):
			issue = fmt.Sprintf("key %s: retry of a committed transfer answered 201 without Idempotent-Replayed: true", key)
		case o.status == http.StatusCreated && code == http.StatusCreated && txID != o.txID:
			issue = fmt.Sprintf("key %s: retry returned transaction %s, first answer was %s", key, txID, o.txID)
		case o.status == http.StatusCreated && code != http.StatusCreated && code != http.StatusServiceUnavailable && code != 0:
			issue = fmt.Sprintf("key %s: retry of a committed transfer answered %d", key, code)
		}
	}
	if o.status != http.StatusCreated { // the first definite commit wins
		o.status = code
		if code == http.StatusCreated {
			o.txID, o.walletID, o.amount = txID, walletID, amount
		}
	}
	if op == OpTransfer && (code == http.StatusCreated || uncertain(code)) {
		tr.offerRetry(key)
	}
	return issue
}

// uncertain reports whether a status leaves the write's fate unknown.
func uncertain(status int) bool {
	return status == 0 || status >= 500
}

// settle re-sends every write whose outcome is unknown with its original key
// until it gets a definite answer, so the money check can be exact and so a
// key that committed during a fault shows it committed exactly once.
func settle(ctx context.Context, tr *targeter, user, admin *client.Client, outcomes map[string]*outcome) (int, int) {
	var keys []string
	for k, o := range outcomes {
		if uncertain(o.status) {
			keys = append(keys, k)
		}
	}
	var mu sync.Mutex
	var settled, unsettled int
	_ = forEach(ctx, 16, keys, func(ctx context.Context, key string) error {
		rec := tr.record(key)
		c := user
		if rec.admin {
			c = admin
		}
		got, err := resend(ctx, c, rec, key)
		var refused *client.Error
		if errors.As(err, &refused) && !refused.Retryable() && !uncertain(refused.StatusCode) {
			got, err = outcome{status: refused.StatusCode}, nil // a definite refusal settles it too
		}
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			unsettled++
			return nil
		}
		settled++
		o := outcomes[key]
		o.status, o.txID, o.walletID, o.amount = got.status, got.txID, got.walletID, got.amount
		return nil
	})
	return settled, unsettled
}

// resend sends a recorded write again under its key through the client,
// which retries it while the answer is transient, and returns what it
// committed. The record holds the exact body the run sent; decoding it into
// the client's request type sends the same request, as the server compares
// requests under a key in canonical form.
func resend(ctx context.Context, c *client.Client, rec *reqRecord, key string) (outcome, error) {
	idem := client.WithIdempotencyKey(key)
	var resp *client.Response
	var tx *client.Transaction
	var err error
	switch rec.op {
	case OpTransfer:
		var req client.TransferRequest
		if err := json.Unmarshal(rec.body, &req); err != nil {
			return outcome{}, fmt.Errorf("decode recorded transfer: %w", err)
		}
		tx, resp, err = c.Transfer(ctx, req, idem)
	case OpAdjustment:
		var req client.AdjustmentRequest
		if err := json.Unmarshal(rec.body, &req); err != nil {
			return outcome{}, fmt.Errorf("decode recorded adjustment: %w", err)
		}
		tx, resp, err = c.Adjust(ctx, req, idem)
	case OpCreateWallet:
		var req client.CreateWalletRequest
		if err := json.Unmarshal(rec.body, &req); err != nil {
			return outcome{}, fmt.Errorf("decode recorded wallet: %w", err)
		}
		w, resp, err := c.CreateWallet(ctx, req, idem)
		if err != nil {
			return outcome{}, err
		}
		return outcome{status: resp.StatusCode, walletID: w.WalletID}, nil
	default:
		return outcome{}, fmt.Errorf("no write to resend for operation %s", rec.op)
	}
	if err != nil {
		return outcome{}, err
	}
	return outcome{status: resp.StatusCode, txID: tx.TransactionID, walletID: tx.WalletID, amount: tx.Amount}, nil
}
