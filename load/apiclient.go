package load

import (
	"fmt"
	"net/http"
	"time"

	"github.com/agentic-commerce/wallet-ledger/client"
)

// Everything load asks of the API outside the attack (seeding, settling
// uncertain writes, the post-run checks) goes through the client package,
// the one agents use, so its retries and typed problems are exercised here
// too. Only the attack itself builds raw requests (targets.go).

var (
	// writeRetry resends a seeding or settling write under its same key
	// after a 503, a 409 idempotency_key_in_use or a lost answer: 8 tries,
	// the waits growing to 5 s (at least the 1 s a 503 asks for).
	writeRetry = client.Retry{Attempts: 8, BaseDelay: 400 * time.Millisecond, MaxDelay: 5 * time.Second}
	// readRetry waits out 503s for some 20 s: the checks run right after a
	// fault heals, while the API may still be reconnecting.
	readRetry = client.Retry{Attempts: 20, BaseDelay: 250 * time.Millisecond, MaxDelay: 1250 * time.Millisecond}
)

// newAPIClient returns a client of the API at base calling with token; a
// nil hc gets a 30 s timeout, so a hung call cannot stall seeding or checks.
func newAPIClient(base, token string, hc *http.Client, retry client.Retry) (*client.Client, error) {
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	c, err := client.New(base, client.WithToken(token), client.WithHTTPClient(hc), client.WithRetry(retry))
	if err != nil {
		return nil, fmt.Errorf("load: %w", err)
	}
	return c, nil
}
