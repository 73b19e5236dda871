package relay

import (
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Publisher kinds RELAY_PUBLISHER accepts.
const (
	PublisherSQL  = "sql"
	PublisherNATS = "nats"
)

// Defaults that docs/operations.md documents.
const (
	DefaultNATSURL       = "nats://127.0.0.1:4222"
	DefaultSubjectPrefix = "wallet.events"
	DefaultNATSStream    = "WALLET_EVENTS"
	DefaultSQLTopic      = "wallet_events"
	DefaultConsumerGroup = "relay"
	DefaultHTTPAddr      = ":8081"
	DefaultMaxAttempts   = 5
	// DefaultOutboxRetention is how long relayed outbox rows are kept (OUTBOX_RETENTION).
	DefaultOutboxRetention = 7 * 24 * time.Hour
	// DefaultPageGather is how long a relay that keeps up lets events gather after a page that was not full
	// (RELAY_PAGE_GATHER).
	DefaultPageGather = 50 * time.Millisecond
	// DefaultPruneInterval is how often the leader prunes the outbox (OUTBOX_PRUNE_INTERVAL).
	DefaultPruneInterval = 10 * time.Minute
)

// DefaultLockKey is the PostgreSQL advisory lock key whose holder is the one active relay.
const DefaultLockKey int64 = 0x77616c6c6574 // "wallet"

// Config is what the relay process needs besides the database.
type Config struct {
	Publisher     string // sql or nats
	NATSURL       string
	SubjectPrefix string // NATS subject = SubjectPrefix + "." + event type
	NATSStream    string // JetStream stream holding SubjectPrefix.>
	SQLTopic      string // Watermill SQL topic for RELAY_PUBLISHER=sql
	ConsumerGroup string // Watermill consumer group on outbox_events
	HTTPAddr      string
	MaxAttempts   int           // failed attempts before an event is quarantined
	LockKey       int64         // advisory lock of the single active relay
	PollInterval  time.Duration // how often an idle relay looks for new outbox rows
	// PageGather is how long a relay that keeps up waits after a page that was not full before reading the next:
	// events gather into fewer, larger pages, and each page's fixed cost (its transaction, the offsets row, the
	// acknowledgements) is shared by more events. Zero reads again at once.
	PageGather  time.Duration
	LagInterval time.Duration // how often the outbox lag is measured
	BatchSize   int           // outbox rows read, published and acked per page (one transaction)
	// AckDeadline bounds how long one event may be retried inside one subscriber transaction before the batch is
	// committed up to it and read again (so a long broker outage never pins a transaction open).
	AckDeadline     time.Duration
	ShutdownTimeout time.Duration
	// RetryMin and RetryMax bound the exponential backoff between publish attempts.
	RetryMin, RetryMax time.Duration
	// OutboxRetention is how long outbox rows are kept after every consumer is done with them; the leader prunes
	// older ones every PruneInterval. Zero disables pruning (a Config built in code prunes nothing unless set).
	OutboxRetention time.Duration
	PruneInterval   time.Duration
	// TopicRetention is how long events published to the SQL topic (RELAY_PUBLISHER=sql) are kept once every
	// downstream consumer group has read them (RELAY_SQL_TOPIC_RETENTION); the leader prunes older ones every
	// PruneInterval. Zero keeps them all (a Config built in code prunes nothing unless set).
	TopicRetention time.Duration
	// StreamMaxAge is the JetStream stream's MaxAge (NATS_STREAM_MAX_AGE): messages older than it are discarded by
	// the server. Zero keeps them until an operator's limits say otherwise.
	StreamMaxAge time.Duration
}

var (
	subjectToken = regexp.MustCompile(`^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$`)
	streamName   = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)
	sqlTopicName = regexp.MustCompile(`^[A-Za-z0-9_]+$`)
)

// LoadConfig reads the relay's settings from the environment. A malformed value is an error, never a guess.
func LoadConfig() (Config, error) {
	c := Config{
		Publisher:     strings.ToLower(env("RELAY_PUBLISHER", PublisherSQL)),
		NATSURL:       env("NATS_URL", DefaultNATSURL),
		SubjectPrefix: env("NATS_SUBJECT_PREFIX", DefaultSubjectPrefix),
		NATSStream:    env("NATS_STREAM", DefaultNATSStream),
		SQLTopic:      env("RELAY_SQL_TOPIC", DefaultSQLTopic),
		ConsumerGroup: DefaultConsumerGroup,
		HTTPAddr:      env("RELAY_HTTP_ADDR", DefaultHTTPAddr),
		LockKey:       DefaultLockKey,
	}
	var errs []string
	n, err := strconv.Atoi(env("RELAY_MAX_ATTEMPTS", strconv.Itoa(DefaultMaxAttempts)))
	if err != nil || n < 1 {
		errs = append(errs, "RELAY_MAX_ATTEMPTS: want a positive integer")
	}
	c.MaxAttempts = n
	durations := []struct {
		name, def string
		dst       *time.Duration
	}{
		{"RELAY_POLL_INTERVAL", "100ms", &c.PollInterval},
		{"RELAY_LAG_INTERVAL", "1s", &c.LagInterval},
		{"RELAY_ACK_DEADLINE", "30s", &c.AckDeadline},
		{"SHUTDOWN_TIMEOUT", "20s", &c.ShutdownTimeout},
	}
	for _, d := range durations {
		v, err := time.ParseDuration(env(d.name, d.def))
		if err != nil || v <= 0 {
			errs = append(errs, fmt.Sprintf("%s: want a positive duration such as %s", d.name, d.def))
			continue
		}
		*d.dst = v
	}
	if v, err := time.ParseDuration(env("RELAY_PAGE_GATHER", DefaultPageGather.String())); err != nil || v < 0 || v > time.Second {
		errs = append(errs, "RELAY_PAGE_GATHER: want a duration from 0 to 1s such as 50ms")
	} else {
		c.PageGather = v
	}
	// JetStream refuses a MaxAge shorter than the stream's duplicate window (2m).
	if v, err := time.ParseDuration(env("NATS_STREAM_MAX_AGE", "0s")); err != nil || v < 0 || (v > 0 && v < 2*time.Minute) {
		errs = append(errs, "NATS_STREAM_MAX_AGE: want a duration of at least 2m such as 72h, or 0 for no age limit")
	} else {
		c.StreamMaxAge = v
	}
	// OUTBOX_RETENTION=0 keeps every row, as before pruning existed.
	if v, err := time.ParseDuration(env("OUTBOX_RETENTION", DefaultOutboxRetention.String())); err != nil || v < 0 {
		errs = append(errs, "OUTBOX_RETENTION: want a duration such as 168h, or 0 to keep every row")
	} else {
		c.OutboxRetention = v
	}
	if v, err := time.ParseDuration(env("RELAY_SQL_TOPIC_RETENTION", DefaultTopicRetention.String())); err != nil || v < 0 {
		errs = append(errs, "RELAY_SQL_TOPIC_RETENTION: want a duration such as 168h, or 0 to keep every event")
	} else {
		c.TopicRetention = v
	}
	if v, err := time.ParseDuration(env("OUTBOX_PRUNE_INTERVAL", DefaultPruneInterval.String())); err != nil || v <= 0 {
		errs = append(errs, "OUTBOX_PRUNE_INTERVAL: want a positive duration such as 10m")
	} else {
		c.PruneInterval = v
	}
	if err := c.Validate(); err != nil {
		errs = append(errs, err.Error())
	}
	if len(errs) > 0 {
		return Config{}, fmt.Errorf("relay configuration: %s", strings.Join(errs, "; "))
	}
	return c, nil
}

// Validate checks the fields that LoadConfig does not parse itself (tests build Configs directly).
func (c Config) Validate() error {
	switch c.Publisher {
	case PublisherSQL:
		if !sqlTopicName.MatchString(c.SQLTopic) {
			return fmt.Errorf("RELAY_SQL_TOPIC: %q must be letters, digits and underscores", c.SQLTopic)
		}
	case PublisherNATS:
		if !subjectToken.MatchString(c.SubjectPrefix) {
			return fmt.Errorf("NATS_SUBJECT_PREFIX: %q is not a NATS subject without wildcards", c.SubjectPrefix)
		}
		if !streamName.MatchString(c.NATSStream) {
			return fmt.Errorf("NATS_STREAM: %q must be letters, digits, '-' and '_'", c.NATSStream)
		}
	default:
		return fmt.Errorf("RELAY_PUBLISHER: %q is not sql or nats", c.Publisher)
	}
	return nil
}

// withDefaults fills what a Config built in code left out.
func (c Config) withDefaults() Config {
	if c.Publisher == "" {
		c.Publisher = PublisherSQL
	}
	if c.NATSURL == "" {
		c.NATSURL = DefaultNATSURL
	}
	if c.SubjectPrefix == "" {
		c.SubjectPrefix = DefaultSubjectPrefix
	}
	if c.NATSStream == "" {
		c.NATSStream = DefaultNATSStream
	}
	if c.SQLTopic == "" {
		c.SQLTopic = DefaultSQLTopic
	}
	if c.ConsumerGroup == "" {
		c.ConsumerGroup = DefaultConsumerGroup
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = DefaultMaxAttempts
	}
	if c.LockKey == 0 {
		c.LockKey = DefaultLockKey
	}
	if c.PollInterval <= 0 {
		c.PollInterval = 100 * time.Millisecond
	}
	if c.LagInterval <= 0 {
		c.LagInterval = time.Second
	}
	if c.BatchSize <= 0 {
		// A page of the outbox is one published batch and one offset commit: large enough that a busy ledger's
		// events cost the relay a few round trips per second, small enough that one page's acknowledgements
		// arrive within a few milliseconds.
		c.BatchSize = 500
	}
	if c.AckDeadline <= 0 {
		c.AckDeadline = 30 * time.Second
	}
	if c.ShutdownTimeout <= 0 {
		c.ShutdownTimeout = 20 * time.Second
	}
	if c.RetryMin <= 0 {
		c.RetryMin = 50 * time.Millisecond
	}
	if c.RetryMax <= 0 {
		c.RetryMax = 2 * time.Second
	}
	if c.PruneInterval <= 0 {
		c.PruneInterval = DefaultPruneInterval
	}
	return c
}

func env(name, def string) string {
	if v, ok := os.LookupEnv(name); ok && v != "" {
		return v
	}
	return def
}
