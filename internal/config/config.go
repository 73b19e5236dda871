// Package config reads the processes' settings from the environment, with the defaults of the seed design.
package config

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
)

// Defaults that the README documents.
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
	LogLevel           string
	UsingDefaultSecret bool

	// ReadDatabaseURL is a streaming standby of DatabaseURL that serves reads (internal/replica); empty: the primary
	// serves every read.
	ReadDatabaseURL      string
	ReplicaMaxWait       time.Duration // how long a read with Min-Position waits for the standby to replay it
	ReplicaMaxLag        time.Duration // a standby further behind is out of use
	ReplicaCheckInterval time.Duration // how often the standby's health is checked
}

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
	if len(errs) > 0 {
		return Config{}, fmt.Errorf("configuration: %s", strings.Join(errs, "; "))
	}
	return c, nil
}

func env(name, def string) string {
	if v, ok := os.LookupEnv(name); ok && v != "" {
		return v
	}
	return def
}
