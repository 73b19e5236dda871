// Package webhook holds what signed webhooks need on both sides of the ledger: the endpoints and deliveries tables
// (the SQL that reads and writes them), endpoint secrets and how they are sealed at rest, the Standard Webhooks
// signature, the URL safety policy, and the retry schedule. The wallet-api manages endpoints and lists deliveries
// (packages command and query); the relay fans events out into deliveries and sends them (package relay).
// It depends on eventstore only; its delivery statements join the events feed's table (eventstore's), whose rows
// the deliveries reference and whose payloads they send.
package webhook

import (
	"fmt"
	"strings"

	"github.com/agentic-commerce/wallet-ledger/eventstore"
)

// Endpoint statuses.
const (
	StatusEnabled  = "enabled"
	StatusDisabled = "disabled"
	StatusDeleted  = "deleted"
)

// Why an endpoint is disabled.
const (
	ReasonRequested = "requested" // its owner (or an admin) disabled it
	ReasonFailing   = "failing"   // the relay did, after it failed continuously for WEBHOOK_DISABLE_AFTER
)

// Delivery statuses.
const (
	DeliveryPending   = "pending"
	DeliveryDelivered = "delivered"
	DeliveryFailed    = "failed"
)

// The webhook routes' refusals, by name (internal/httpapi maps their codes to statuses); Withf gives one its detail.
var (
	ErrEndpointNotFound = &eventstore.Error{Code: "webhook_endpoint_not_found"}
	ErrDeliveryNotFound = &eventstore.Error{Code: "webhook_delivery_not_found"}
	ErrEndpointLimit    = &eventstore.Error{Code: "webhook_endpoint_limit"}
	ErrNotConfigured    = &eventstore.Error{Code: "webhooks_not_configured"}
	ErrURLNotAllowed    = &eventstore.Error{Code: "webhook_url_not_allowed"}
)

// Problem codes, for clients and tests that match on them.
const (
	CodeEndpointNotFound = "webhook_endpoint_not_found"
	CodeURLNotAllowed    = "webhook_url_not_allowed"
)

// Settings are the environment both processes read: WEBHOOK_SECRET_KEY and WEBHOOK_ALLOW_INSECURE.
type Settings struct {
	// Keyring is nil when WEBHOOK_SECRET_KEY is not set: no endpoint can be created, and the relay refuses to
	// start while an enabled endpoint exists.
	Keyring *Keyring
	Policy  Policy
}

// LoadSettings reads WEBHOOK_SECRET_KEY (optional; the base64 of 32 bytes) and WEBHOOK_ALLOW_INSECURE (1 or true
// to allow http:// and private addresses, for local development; empty, 0 or false otherwise). A malformed value
// is an error, never a guess.
func LoadSettings(getenv func(string) string) (Settings, error) {
	var s Settings
	if v := strings.TrimSpace(getenv("WEBHOOK_SECRET_KEY")); v != "" {
		k, err := ParseKeyring(v)
		if err != nil {
			return Settings{}, err
		}
		s.Keyring = k
	}
	switch strings.ToLower(strings.TrimSpace(getenv("WEBHOOK_ALLOW_INSECURE"))) {
	case "", "0", "false":
	case "1", "true":
		s.Policy.AllowInsecure = true
	default:
		return Settings{}, fmt.Errorf("WEBHOOK_ALLOW_INSECURE: want 1 or 0, not %q", getenv("WEBHOOK_ALLOW_INSECURE"))
	}
	return s, nil
}
