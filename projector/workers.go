package projector

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/agentic-commerce/wallet-ledger/eventstore"
)

// WorkerConfig schedules the relay's read-side workers.
type WorkerConfig struct {
	AuditInterval     time.Duration // AUDIT_INTERVAL: incremental audit (default 10s)
	AuditFullInterval time.Duration // AUDIT_FULL_INTERVAL: full sweep (default 15m)
	HistoryInterval   time.Duration // HISTORY_INTERVAL: history projector poll when idle (default 1s)
}

// LoadWorkerConfig reads the schedule from getenv (os.Getenv in main).
func LoadWorkerConfig(getenv func(string) string) (WorkerConfig, error) {
	// Fewer, larger passes: every pass pays a transaction, a checkpoint and a scan of the outbox, so at 1,500
	// events/s one pass a second (history) and one every ten seconds (audit) cost less than many small ones,
	// for a read model that is at most a second or so behind.
	cfg := WorkerConfig{AuditInterval: 10 * time.Second, AuditFullInterval: 15 * time.Minute, HistoryInterval: time.Second}
	for _, v := range []struct {
		name string
		dst  *time.Duration
	}{{"AUDIT_INTERVAL", &cfg.AuditInterval}, {"AUDIT_FULL_INTERVAL", &cfg.AuditFullInterval}, {"HISTORY_INTERVAL", &cfg.HistoryInterval}} {
		s := getenv(v.name)
		if s == "" {
			continue
		}
		d, err := time.ParseDuration(s)
		if err != nil || d <= 0 {
			return WorkerConfig{}, fmt.Errorf("%s: %q is not a positive duration", v.name, s)
		}
		*v.dst = d
	}
	return cfg, nil
}

// OpenFindings is the continuous audit's current view: the findings of the last full sweep, updated by every
// incremental pass for the wallets it rechecked. A discrepancy therefore stays reported until a pass that covers it
// finds it gone, instead of being hidden by the next incremental pass that happened not to look at it.
type OpenFindings struct {
	mu   sync.Mutex
	open map[string]Finding
}

// Update merges a pass into the view and returns how many findings are open.
func (o *OpenFindings) Update(r Report) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.open == nil || r.Mode == ModeFull {
		o.open = map[string]Finding{}
	}
	if r.Mode == ModeIncremental {
		checked := map[string]bool{}
		for _, id := range r.CheckedWallets {
			checked[id.String()] = true
		}
		for k, f := range o.open {
			if f.WalletID != nil && checked[f.WalletID.String()] {
				delete(o.open, k)
			}
		}
	}
	for _, f := range r.Findings {
		o.open[f.Key()] = f
	}
	return len(o.open)
}

// Snapshot returns the open findings.
func (o *OpenFindings) Snapshot() []Finding {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := make([]Finding, 0, len(o.open))
	for _, f := range o.open {
		out = append(out, f)
	}
	return out
}

// RunAudit runs the continuous audit until ctx ends: a full sweep at start and every AuditFullInterval, an
// incremental pass every AuditInterval, one at a time. After each pass observe gets the number of open findings
// and the pass's finish time (the relay passes telemetry.SetAuditResult).
func RunAudit(ctx context.Context, a *Auditor, cfg WorkerConfig, open *OpenFindings, observe func(open int64, at time.Time)) {
	if open == nil {
		open = &OpenFindings{}
	}
	pass := func(run func(context.Context) (Report, error), mode string) time.Duration {
		start := time.Now()
		r, err := run(ctx)
		if err != nil {
			if ctx.Err() == nil {
				a.log.WarnContext(ctx, "audit pass failed", "mode", mode, "error", err)
			}
			return time.Since(start)
		}
		n := open.Update(r)
		if observe != nil {
			observe(int64(n), r.FinishedAt)
		}
		if r.Mode == ModeFull || !r.Clean() {
			a.log.InfoContext(ctx, "audit pass", "mode", r.Mode, "duration_ms", r.DurationMS, "wallets", r.Wallets,
				"transactions", r.Transactions, "findings", len(r.Findings), "open", n, "source", r.Source)
		}
		return time.Since(start)
	}
	full := time.NewTimer(NextFullSweep(cfg.AuditFullInterval, pass(a.Full, ModeFull)))
	inc := time.NewTicker(cfg.AuditInterval)
	defer inc.Stop()
	defer full.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-full.C:
			full.Reset(NextFullSweep(cfg.AuditFullInterval, pass(a.Full, ModeFull)))
		case <-inc.C:
			pass(a.Incremental, ModeIncremental)
		}
	}
}

// fullSweepShare bounds the continuous audit's full sweeps to about a twentieth of the relay leader's time.
const fullSweepShare = 20

// NextFullSweep is how long after a full sweep that took took the next one starts: every interval, but never sooner
// than fullSweepShare times took. The sweep reads the whole journal, so its time grows with the ledger (two minutes
// at 10 million entries on two cores); without the bound it would take an ever larger share of the database's
// CPU. The incremental passes keep checking every wallet written meanwhile, and bin/audit (the CronJob) sweeps on
// its own schedule.
func NextFullSweep(interval, took time.Duration) time.Duration {
	return max(interval, fullSweepShare*took)
}

// RunHistory runs the history projector until ctx ends: it drains the outbox, then polls every interval.
func RunHistory(ctx context.Context, h *HistoryProjector, interval time.Duration, log *slog.Logger) {
	if log == nil {
		log = slog.Default()
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if err := h.Drain(ctx); err != nil && ctx.Err() == nil {
			log.WarnContext(ctx, "history projector step failed", "error", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// ReadSide is the relay's read-side work: the continuous audit and the history projector, as two loops the relay
// runs (under its leader lock: both would be safe on every replica, their checkpoints are locked, but the work
// would only be repeated).
type ReadSide struct {
	Auditor *Auditor
	History *HistoryProjector
	Config  WorkerConfig
	Open    *OpenFindings
	// Observe receives the open findings and the time after every audit pass (telemetry.SetAuditResult).
	Observe func(open int64, at time.Time)
	log     *slog.Logger
}

// NewReadSide builds the read side on store with the schedule from getenv.
func NewReadSide(store *eventstore.Store, getenv func(string) string, log *slog.Logger, observe func(int64, time.Time)) (*ReadSide, error) {
	cfg, err := LoadWorkerConfig(getenv)
	if err != nil {
		return nil, err
	}
	a, err := NewAuditor(store, log)
	if err != nil {
		return nil, err
	}
	h, err := NewHistoryProjector(store)
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.Default()
	}
	return &ReadSide{Auditor: a, History: h, Config: cfg, Open: &OpenFindings{}, Observe: observe, log: log}, nil
}

// RunAudit is the continuous audit loop; it returns when ctx ends.
func (s *ReadSide) RunAudit(ctx context.Context) error {
	RunAudit(ctx, s.Auditor, s.Config, s.Open, s.Observe)
	return ctx.Err()
}

// RunHistory is the history projector loop; it returns when ctx ends.
func (s *ReadSide) RunHistory(ctx context.Context) error {
	RunHistory(ctx, s.History, s.Config.HistoryInterval, s.log)
	return ctx.Err()
}
