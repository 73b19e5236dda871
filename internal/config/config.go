// Package config reads the processes' settings from the environment, with the defaults of the seed design.
package config

import (
	"crypto/hmac"
	"crypto/sha256"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
)

// Defaults that docs/operations.md documents.
const (
	DefaultDatabaseURL    = "postgres://postgres@localhost:5432/wallet_service?sslmode=disable"
	DefaultJWTSecret      = "dev-secret-change-me"
	DefaultJWTAudience    = "agentic-commerce"
	DefaultSystemWalletID = "00000000-0000-0000-0000-000000000001"
	DefaultOTLPEndpoint   = "http://localhost:4318"
)

// Config holds what the wallet-api (and the tools beside it) need.
type Config struct {
	DatabaseURL        string
	JWTSecret          string
	JWTAudience        string
	OTLPEndpoint       string
	SystemWalletID     uuid.UUID
	HTTPAddr           string
	Routes             string // all, command or query
	DBMaxConns         int32
	RequestTimeout     time.Duration
	StatementTimeout   time.Duration
	LockTimeout        time.Duration
	AcquireTimeout     time.Duration
	ShutdownTimeout    time.Duration
	IdempotencyTTL     time.Duration
	HoldMaxTTL         time.Duration // how far ahead a hold may expire
	WriteBatchMax      int           // writes one group commit carries at most; 1 turns it off
	WriteBatchWait     time.Duration // how long a batch waits for more writes after its first; 0: none
	WriteBatchWorkers  int           // batches in flight at once
	LogLevel           string
	UsingDefaultSecret bool
	// RateLimit is the per-caller request budget of this process (RATE_LIMIT_*).
	RateLimit RateLimit
	// CursorSecret signs list cursors: CURSOR_SECRET, or a key derived from JWT_SECRET when it is unset.
	CursorSecret []byte

	// ReadDatabaseURL is a streaming standby of DatabaseURL that serves reads (internal/replica); empty: the primary
	// serves every read.
	ReadDatabaseURL      string
	ReplicaMaxWait       time.Duration // how long a read with Min-Position waits for the standby to replay it
	ReplicaMaxLag        time.Duration // a standby further behind is out of use
	ReplicaCheckInterval time.Duration // how often the standby's health is checked
}

// Budget is a token bucket: Rate requests per second on average, Burst at once.
type Budget struct {
	Rate  float64
	Burst int
}

// RateLimit is the per-caller budget. Reads (GET) and writes (POST) share one bucket per caller unless Split, when
// each has its own with its own budget.
type RateLimit struct {
	Read, Write Budget
	Split       bool
}

// Rate limit defaults: per caller and per process (see docs/api.md, "Rate limits", for sizing with replicas).
const (
	DefaultRateLimitRPS   = 100
	DefaultRateLimitBurst = 200
)

// Load reads the environment. Every malformed value is an error: a ledger that guesses its settings is worse than
// one that refuses to start.
func Load() (Config, error) {
	c := Config{
		DatabaseURL:  env("DATABASE_URL", DefaultDatabaseURL),
		JWTSecret:    env("JWT_SECRET", DefaultJWTSecret),
		JWTAudience:  env("JWT_AUDIENCE", DefaultJWTAudience),
		OTLPEndpoint: env("OTEL_EXPORTER_OTLP_ENDPOINT", DefaultOTLPEndpoint),
		HTTPAddr:     env("HTTP_ADDR", ":8080"),
		Routes:       strings.ToLower(env("API_ROUTES", "all")),
		LogLevel:     env("LOG_LEVEL", "info"),
	}
	c.UsingDefaultSecret = c.JWTSecret == DefaultJWTSecret
	c.ReadDatabaseURL = env("READ_DATABASE_URL", "")
	var errs []string
	var err error
	if c.SystemWalletID, err = uuid.Parse(env("SYSTEM_WALLET_ID", DefaultSystemWalletID)); err != nil {
		errs = append(errs, fmt.Sprintf("SYSTEM_WALLET_ID: %v", err))
	}
	switch c.Routes {
	case "all", "command", "query":
	default:
		errs = append(errs, fmt.Sprintf("API_ROUTES: %q is not all, command or query", c.Routes))
	}
	conns, err := strconv.ParseInt(env("DB_MAX_CONNS", "16"), 10, 32)
	if err != nil || conns < 1 {
		errs = append(errs, "DB_MAX_CONNS: want a positive integer")
	}
	c.DBMaxConns = int32(conns)
	c.WriteBatchMax = positiveInt(&errs, "WRITE_BATCH_MAX", "256", 4096)
	c.WriteBatchWorkers = positiveInt(&errs, "WRITE_BATCH_WORKERS", "2", 64)
	if c.WriteBatchWait, err = time.ParseDuration(env("WRITE_BATCH_WAIT", "0s")); err != nil || c.WriteBatchWait < 0 || c.WriteBatchWait > time.Second {
		errs = append(errs, "WRITE_BATCH_WAIT: want a duration from 0s to 1s, such as 500us")
	}
	durations := []struct {
		name, def string
		dst       *time.Duration
	}{
		{"REQUEST_TIMEOUT", "10s", &c.RequestTimeout},
		{"DB_STATEMENT_TIMEOUT", "5s", &c.StatementTimeout},
		{"DB_LOCK_TIMEOUT", "3s", &c.LockTimeout},
		{"DB_ACQUIRE_TIMEOUT", "2s", &c.AcquireTimeout},
		{"SHUTDOWN_TIMEOUT", "20s", &c.ShutdownTimeout},
		{"IDEMPOTENCY_TTL", "48h", &c.IdempotencyTTL},
		{"HOLD_MAX_TTL", "720h", &c.HoldMaxTTL},
		{"REPLICA_MAX_LAG", "5s", &c.ReplicaMaxLag},
		{"REPLICA_CHECK_INTERVAL", "1s", &c.ReplicaCheckInterval},
	}
	for _, d := range durations {
		v, err := time.ParseDuration(env(d.name, d.def))
		if err != nil || v <= 0 {
			errs = append(errs, fmt.Sprintf("%s: want a positive duration such as %s", d.name, d.def))
			continue
		}
		*d.dst = v
	}
	// 0 is allowed: a read whose position the standby has not replayed goes to the primary at once.
	if v, err := time.ParseDuration(env("REPLICA_MAX_WAIT", "300ms")); err != nil || v < 0 {
		errs = append(errs, "REPLICA_MAX_WAIT: want a duration such as 300ms, or 0")
	} else {
		c.ReplicaMaxWait = v
	}
	if c.IdempotencyTTL < 24*time.Hour {
		errs = append(errs, "IDEMPOTENCY_TTL: keys must be kept at least 24h")
	}
	if len(c.JWTSecret) < 16 {
		errs = append(errs, "JWT_SECRET: use at least 16 bytes")
	}
	var rlErrs []string
	c.RateLimit, rlErrs = loadRateLimit()
	errs = append(errs, rlErrs...)
	c.CursorSecret = []byte(os.Getenv("CURSOR_SECRET"))
	switch {
	case len(c.CursorSecret) == 0:
		c.CursorSecret = deriveKey(c.JWTSecret, "wallet-ledger list cursors v1")
	case len(c.CursorSecret) < 16:
		errs = append(errs, "CURSOR_SECRET: use at least 16 bytes")
	}
	if len(errs) > 0 {
		return Config{}, fmt.Errorf("configuration: %s", strings.Join(errs, "; "))
	}
	return c, nil
}

// positiveInt parses the integer setting name (default def) between 1 and most, noting a bad value in errs.
func positiveInt(errs *[]string, name, def string, most int64) int {
	v, err := strconv.ParseInt(env(name, def), 10, 32)
	if err != nil || v < 1 || v > most {
		*errs = append(*errs, fmt.Sprintf("%s: want an integer from 1 to %d", name, most))
		return 0
	}
	return int(v)
}

// loadRateLimit reads RATE_LIMIT_RPS and RATE_LIMIT_BURST, the budget of every caller, and the optional
// RATE_LIMIT_{READ,WRITE}_{RPS,BURST}: setting any of those gives reads and writes separate buckets, each
// defaulting to the common budget.
func loadRateLimit() (RateLimit, []string) {
	var errs []string
	rps := func(name string, def float64) float64 {
		v, err := strconv.ParseFloat(env(name, strconv.FormatFloat(def, 'f', -1, 64)), 64)
		if err != nil || v <= 0 || math.IsInf(v, 0) || math.IsNaN(v) {
			errs = append(errs, name+": want a positive number of requests per second")
			return def
		}
		return v
	}
	burst := func(name string, def int) int {
		v, err := strconv.Atoi(env(name, strconv.Itoa(def)))
		if err != nil || v < 1 {
			errs = append(errs, name+": want a positive integer")
			return def
		}
		return v
	}
	common := Budget{Rate: rps("RATE_LIMIT_RPS", DefaultRateLimitRPS), Burst: burst("RATE_LIMIT_BURST", DefaultRateLimitBurst)}
	rl := RateLimit{Read: common, Write: common}
	for _, name := range []string{"RATE_LIMIT_READ_RPS", "RATE_LIMIT_READ_BURST", "RATE_LIMIT_WRITE_RPS", "RATE_LIMIT_WRITE_BURST"} {
		if os.Getenv(name) != "" {
			rl.Split = true
		}
	}
	if rl.Split {
		rl.Read = Budget{Rate: rps("RATE_LIMIT_READ_RPS", common.Rate), Burst: burst("RATE_LIMIT_READ_BURST", common.Burst)}
		rl.Write = Budget{Rate: rps("RATE_LIMIT_WRITE_RPS", common.Rate), Burst: burst("RATE_LIMIT_WRITE_BURST", common.Burst)}
	}
	return rl, errs
}

// deriveKey derives a purpose-bound key from secret, so one configured secret never signs two kinds of thing
// with the same key.
func deriveKey(secret, purpose string) []byte {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(purpose))
	return mac.Sum(nil)
}

func env(name, def string) string {
	if v, ok := os.LookupEnv(name); ok && v != "" {
		return v
	}
	return def
}
