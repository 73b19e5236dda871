package webhook

import (
	"fmt"
	"strings"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// The Standard Webhooks headers of every delivery.
const (
	HeaderID        = standardwebhooks.HeaderWebhookID        // the event_id: the receiver's dedup key
	HeaderTimestamp = standardwebhooks.HeaderWebhookTimestamp // unix seconds of the attempt
	HeaderSignature = standardwebhooks.HeaderWebhookSignature // v1,<base64 HMAC-SHA256>, space separated
)

// Sign returns the webhook-signature header for one attempt: a "v1,<signature>" per secret, separated by spaces
// (two during a rotation, so the receiver may verify with either secret). Each signature is the specification's
// HMAC-SHA256 over "<id>.<unix timestamp>.<body>", computed by the specification's own Go library.
func Sign(id string, ts time.Time, body []byte, secrets ...string) (string, error) {
	if len(secrets) == 0 {
		return "", fmt.Errorf("sign webhook %s: no secret", id)
	}
	sigs := make([]string, 0, len(secrets))
	for _, s := range secrets {
		wh, err := standardwebhooks.NewWebhook(s)
		if err != nil {
			return "", fmt.Errorf("sign webhook %s: %w", id, err)
		}
		sig, err := wh.Sign(id, ts, body)
		if err != nil {
			return "", fmt.Errorf("sign webhook %s: %w", id, err)
		}
		sigs = append(sigs, sig)
	}
	return strings.Join(sigs, " "), nil
}
