// Package load holds the wallet ledger's load generator: scenarios read from
// load/data/scenarios.json, deterministic seeding, a vegeta-driven run with
// per-operation statistics, threshold checks, post-run invariant checks and a
// small TCP proxy used to cut the network between the API and PostgreSQL.
package load

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"sort"
	"strings"
	"time"
)

// Op names one kind of request a scenario mixes.
type Op string

// The operations a scenario can mix. Writes are measured against the write
// latency threshold; reads are reported but not held to it.
const (
	OpTransfer        Op = "transfer"
	OpBalanceRead     Op = "balance_read"
	OpAudit           Op = "audit"
	OpCreateWallet    Op = "create_wallet"
	OpAdjustment      Op = "adjustment"
	OpIdempotentRetry Op = "idempotent_retry"
)

// AllOps lists every operation in a stable order (reports, validation).
var AllOps = []Op{OpTransfer, OpBalanceRead, OpAudit, OpCreateWallet, OpAdjustment, OpIdempotentRetry}

// IsWrite reports whether op is a POST, which the write threshold covers.
func (o Op) IsWrite() bool {
	switch o {
	case OpTransfer, OpCreateWallet, OpAdjustment, OpIdempotentRetry:
		return true
	}
	return false
}

// Duration is a time.Duration that reads and writes as a Go duration string
// ("10s") in JSON, the form k6 also understands.
type Duration time.Duration

// UnmarshalJSON parses a duration string such as "90s" or "1m30s".
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration must be a string like \"10s\": %w", err)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("parse duration %q: %w", s, err)
	}
	*d = Duration(v)
	return nil
}

// MarshalJSON writes the duration as a Go duration string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// Stage holds a constant request rate for a duration.
type Stage struct {
	Duration Duration `json:"duration"`
	Rate     int      `json:"rate"`
}

// Population describes the seeded wallets a scenario draws from.
type Population struct {
	Wallets        int     `json:"wallets"`
	Asset          string  `json:"asset"`
	InitialBalance int64   `json:"initial_balance"`
	HotWallets     int     `json:"hot_wallets"`
	HotShare       float64 `json:"hot_share"`
	// Merchants > 0 sends every transfer to one of the first Merchants wallets, from one of the others: many
	// agents paying a few merchants, the shape of agentic commerce.
	Merchants int `json:"merchants,omitempty"`
}

// AmountRange bounds the amount of each transfer and adjustment (minor units).
type AmountRange struct {
	Min int64 `json:"min"`
	Max int64 `json:"max"`
}

// Fault places an injected fault inside a run: it starts At after the run's
// start, lasts Duration, and service must be back within RecoveryWithin of
// the heal.
type Fault struct {
	At             Duration `json:"at"`
	Duration       Duration `json:"duration"`
	RecoveryWithin Duration `json:"recovery_within"`
}

// Recovery holds the writes of a scenario's last stage to a latency bar once
// the stage has run for After: whatever came before (a burst) must have been
// absorbed by then, not left queued behind.
type Recovery struct {
	After      Duration `json:"after"`
	P95WriteMS float64  `json:"p95_write_ms"`
}

// Thresholds are a scenario's pass criteria.
type Thresholds struct {
	P95WriteMS         float64   `json:"p95_write_ms"`
	MaxErrorRate       float64   `json:"max_error_rate"`
	AllowedStatuses    []int     `json:"allowed_statuses"`
	FaultStatuses      []int     `json:"fault_statuses,omitempty"`
	MinThroughputRatio float64   `json:"min_throughput_ratio"`
	Recovery           *Recovery `json:"recovery,omitempty"`
}

// Scenario is one named load profile.
type Scenario struct {
	Name           string         `json:"-"`
	Description    string         `json:"description"`
	Stages         []Stage        `json:"stages"`
	MaxVUs         int            `json:"max_vus"`
	RequestTimeout Duration       `json:"request_timeout"`
	Mix            map[Op]float64 `json:"mix"`
	Population     Population     `json:"population"`
	Amount         AmountRange    `json:"amount"`
	Fault          *Fault         `json:"fault,omitempty"`
	Thresholds     Thresholds     `json:"thresholds"`
	mixOrder       []weightedOp   // cumulative weights, built by Validate
}

type weightedOp struct {
	op  Op
	cum float64
}

// File is the whole scenarios.json document.
type File struct {
	Version     int                  `json:"version"`
	Description string               `json:"description"`
	Scenarios   map[string]*Scenario `json:"scenarios"`
}

// LoadFile reads and validates a scenarios file.
func LoadFile(path string) (*File, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read scenarios: %w", err)
	}
	return Parse(b)
}

// Parse decodes a scenarios document strictly (unknown fields are an error,
// so a typo in a threshold name cannot silently disable it) and validates
// every scenario in it.
func Parse(b []byte) (*File, error) {
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	var f File
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("decode scenarios: %w", err)
	}
	if f.Version != 1 {
		return nil, fmt.Errorf("scenarios version %d not supported (want 1)", f.Version)
	}
	if len(f.Scenarios) == 0 {
		return nil, errors.New("scenarios: none defined")
	}
	for name, s := range f.Scenarios {
		if s == nil {
			return nil, fmt.Errorf("scenario %q: empty", name)
		}
		s.Name = name
		if err := s.Validate(); err != nil {
			return nil, fmt.Errorf("scenario %q: %w", name, err)
		}
	}
	return &f, nil
}

// Names returns the scenario names in sorted order.
func (f *File) Names() []string {
	names := make([]string, 0, len(f.Scenarios))
	for n := range f.Scenarios {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Get returns the named scenario or an error listing the known names.
func (f *File) Get(name string) (*Scenario, error) {
	s, ok := f.Scenarios[name]
	if !ok {
		return nil, fmt.Errorf("unknown scenario %q (known: %s)", name, strings.Join(f.Names(), ", "))
	}
	return s, nil
}

// Validate checks a scenario for values that would make a run meaningless
// and prepares its mix for sampling.
func (s *Scenario) Validate() error {
	if len(s.Stages) == 0 {
		return errors.New("no stages")
	}
	for i, st := range s.Stages {
		if st.Duration <= 0 {
			return fmt.Errorf("stage %d: duration must be positive", i)
		}
		if st.Rate <= 0 {
			return fmt.Errorf("stage %d: rate must be positive", i)
		}
	}
	if s.MaxVUs <= 0 {
		return errors.New("max_vus must be positive")
	}
	if s.RequestTimeout <= 0 {
		return errors.New("request_timeout must be positive")
	}
	if err := s.buildMix(); err != nil {
		return err
	}
	p := s.Population
	switch {
	case p.Wallets < 2:
		return errors.New("population.wallets must be at least 2 (a transfer needs two wallets)")
	case !validAsset(p.Asset):
		return fmt.Errorf("population.asset %q must match ^[A-Z0-9]{3,12}$", p.Asset)
	case p.InitialBalance <= 0:
		return errors.New("population.initial_balance must be positive")
	case p.HotWallets < 0 || p.HotWallets > p.Wallets:
		return errors.New("population.hot_wallets must be within 0..wallets")
	case p.HotShare < 0 || p.HotShare > 1:
		return errors.New("population.hot_share must be within 0..1")
	case p.HotShare > 0 && p.HotWallets == 0:
		return errors.New("population.hot_share needs hot_wallets > 0")
	case p.Merchants < 0 || p.Merchants >= p.Wallets:
		return errors.New("population.merchants must be within 0..wallets-1 (someone must pay them)")
	case p.Merchants > 0 && p.HotWallets > 0:
		return errors.New("population.merchants and hot_wallets exclude each other")
	}
	if s.Amount.Min <= 0 || s.Amount.Max < s.Amount.Min || s.Amount.Max > p.InitialBalance {
		return errors.New("amount must satisfy 0 < min <= max <= initial_balance")
	}
	t := s.Thresholds
	switch {
	case t.P95WriteMS <= 0:
		return errors.New("thresholds.p95_write_ms must be positive")
	case t.MaxErrorRate < 0 || t.MaxErrorRate > 1:
		return errors.New("thresholds.max_error_rate must be within 0..1")
	case len(t.AllowedStatuses) == 0:
		return errors.New("thresholds.allowed_statuses must not be empty")
	case t.MinThroughputRatio < 0 || t.MinThroughputRatio > 1:
		return errors.New("thresholds.min_throughput_ratio must be within 0..1")
	}
	if r := t.Recovery; r != nil {
		last := s.Stages[len(s.Stages)-1]
		switch {
		case len(s.Stages) < 2:
			return errors.New("thresholds.recovery needs a stage to recover from before the last")
		case r.After < 0 || r.After >= last.Duration:
			return errors.New("thresholds.recovery.after must be within the last stage")
		case r.P95WriteMS <= 0:
			return errors.New("thresholds.recovery.p95_write_ms must be positive")
		}
	}
	if f := s.Fault; f != nil {
		if f.At <= 0 || f.Duration <= 0 || f.RecoveryWithin <= 0 {
			return errors.New("fault.at, fault.duration and fault.recovery_within must be positive")
		}
		if time.Duration(f.At+f.Duration) >= s.TotalDuration() {
			return errors.New("fault must heal before the run ends")
		}
		if len(t.FaultStatuses) == 0 {
			return errors.New("a scenario with a fault needs thresholds.fault_statuses")
		}
	}
	return nil
}

func (s *Scenario) buildMix() error {
	if len(s.Mix) == 0 {
		return errors.New("mix is empty")
	}
	var total float64
	s.mixOrder = s.mixOrder[:0]
	for _, op := range AllOps { // fixed order keeps sampling reproducible
		w, ok := s.Mix[op]
		if !ok {
			continue
		}
		if w < 0 || math.IsNaN(w) || math.IsInf(w, 0) {
			return fmt.Errorf("mix.%s: weight must be a finite number >= 0", op)
		}
		total += w
		s.mixOrder = append(s.mixOrder, weightedOp{op: op, cum: total})
	}
	for op := range s.Mix {
		if !knownOp(op) {
			return fmt.Errorf("mix.%s: unknown operation", op)
		}
	}
	if total <= 0 {
		return errors.New("mix weights sum to zero")
	}
	for i := range s.mixOrder {
		s.mixOrder[i].cum /= total
	}
	if s.Mix[OpIdempotentRetry] > 0 && s.Mix[OpTransfer] <= 0 {
		return errors.New("mix.idempotent_retry needs transfers to retry")
	}
	return nil
}

// PickOp maps u in [0,1) to an operation according to the mix weights.
func (s *Scenario) PickOp(u float64) Op {
	for _, w := range s.mixOrder {
		if u < w.cum {
			return w.op
		}
	}
	return s.mixOrder[len(s.mixOrder)-1].op
}

// TotalDuration is the sum of the stage durations.
func (s *Scenario) TotalDuration() time.Duration {
	var d time.Duration
	for _, st := range s.Stages {
		d += time.Duration(st.Duration)
	}
	return d
}

// ExpectedRequests is how many requests the stages schedule in total.
func (s *Scenario) ExpectedRequests() float64 {
	var n float64
	for _, st := range s.Stages {
		n += float64(st.Rate) * time.Duration(st.Duration).Seconds()
	}
	return n
}

// ScaleDuration stretches every stage so the whole run lasts d (used to make
// soak long or a smoke run in tests short without another profile).
func (s *Scenario) ScaleDuration(d time.Duration) {
	total := s.TotalDuration()
	if d <= 0 || total <= 0 {
		return
	}
	f := float64(d) / float64(total)
	for i := range s.Stages {
		s.Stages[i].Duration = Duration(float64(s.Stages[i].Duration) * f)
	}
	if s.Fault != nil {
		s.Fault.At = Duration(float64(s.Fault.At) * f)
		s.Fault.Duration = Duration(float64(s.Fault.Duration) * f)
	}
	if r := s.Thresholds.Recovery; r != nil {
		r.After = Duration(float64(r.After) * f)
	}
}

// RecoveryStart is when the writes the recovery threshold judges begin,
// counted from the run's start (meaningful only with thresholds.recovery).
func (s *Scenario) RecoveryStart() time.Duration {
	last := s.Stages[len(s.Stages)-1]
	return s.TotalDuration() - time.Duration(last.Duration) + time.Duration(s.Thresholds.Recovery.After)
}

// ScaleRate multiplies every stage's rate so the busiest stage runs at peak
// requests/s, keeping the profile's shape and mix (used to find the rate at
// which a profile's thresholds stop holding: the ceiling).
func (s *Scenario) ScaleRate(peak int) {
	busiest := 0
	for _, st := range s.Stages {
		busiest = max(busiest, st.Rate)
	}
	if peak <= 0 || busiest <= 0 {
		return
	}
	for i := range s.Stages {
		// Round, and never to zero: a stage that ran at all still runs.
		s.Stages[i].Rate = max(1, int(math.Round(float64(s.Stages[i].Rate)*float64(peak)/float64(busiest))))
	}
}

func knownOp(op Op) bool {
	for _, o := range AllOps {
		if o == op {
			return true
		}
	}
	return false
}

func validAsset(a string) bool {
	if len(a) < 3 || len(a) > 12 {
		return false
	}
	for _, c := range a {
		if (c < 'A' || c > 'Z') && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}
