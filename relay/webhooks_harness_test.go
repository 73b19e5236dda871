package relay_test

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentic-commerce/wallet-ledger/api/apitest"
	"github.com/agentic-commerce/wallet-ledger/command"
	"github.com/agentic-commerce/wallet-ledger/eventstore"
	"github.com/agentic-commerce/wallet-ledger/internal/auth"
	"github.com/agentic-commerce/wallet-ledger/relay"
	"github.com/agentic-commerce/wallet-ledger/webhook"
)

// hookSettings is a fresh WEBHOOK_SECRET_KEY with insecure URLs allowed: the receivers are httptest servers on
// loopback (WEBHOOK_ALLOW_INSECURE=1).
func hookSettings(t testing.TB) webhook.Settings {
	t.Helper()
	key := make([]byte, webhook.KeyBytes)
	_, err := rand.Read(key)
	require.NoError(t, err)
	k, err := webhook.NewKeyring(key)
	require.NoError(t, err)
	return webhook.Settings{Keyring: k, Policy: webhook.Policy{AllowInsecure: true}}
}

// fastHooks is a webhook configuration whose schedule runs in a fraction of a second.
func fastHooks(s webhook.Settings) relay.WebhookConfig {
	return relay.WebhookConfig{
		Settings: s,
		Schedule: webhook.Schedule{Delays: []time.Duration{50 * time.Millisecond, 100 * time.Millisecond, 100 * time.Millisecond},
			Every: 100 * time.Millisecond, Window: time.Minute},
		Timeout: 2 * time.Second, PerEndpoint: 4, PollInterval: 20 * time.Millisecond, LagInterval: 50 * time.Millisecond,
	}
}

// webhookLedger is a ledger whose write side can manage webhook endpoints with s.
func webhookLedger(t testing.TB, s webhook.Settings) *ledger {
	t.Helper()
	l := newLedger(t)
	l.cmds.SetWebhooks(s)
	return l
}

// startWebhookRelay starts a relay with webhooks on l's database.
func startWebhookRelay(t testing.TB, cfg relay.Config, pool *pgxpool.Pool, hooks relay.WebhookConfig) *running {
	t.Helper()
	down, err := relay.NewDownstream(cfg, pool, nil)
	require.NoError(t, err)
	r, err := relay.New(cfg, pool, down, relay.WithWebhooks(hooks),
		relay.WithLogger(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))))
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	rr := &running{Relay: r, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(rr.done)
		defer down.Close()
		_ = r.Run(ctx)
	}()
	t.Cleanup(rr.stop)
	return rr
}

// endpoint creates an endpoint for caller through the write side and returns its id and secret.
func (l *ledger) endpoint(caller auth.Caller, url string, types ...string) (uuid.UUID, string) {
	l.t.Helper()
	cmd, err := l.cmds.ValidateCreateWebhookEndpoint(caller, command.CreateWebhookEndpointRequest{URL: url, EventTypes: types})
	require.NoError(l.t, err)
	out, err := l.cmds.CreateWebhookEndpoint.Run(context.Background(), caller, idemOf(caller), cmd)
	require.NoError(l.t, err)
	require.Equal(l.t, 201, out.Status, string(out.Body))
	var v webhook.EndpointView
	require.NoError(l.t, json.Unmarshal(out.Body, &v))
	return v.EndpointID, v.Secret
}

// walletOf opens a USD wallet owned by owner.
func (l *ledger) walletOf(owner string) uuid.UUID {
	l.t.Helper()
	cmd, err := l.cmds.ValidateCreateWallet(admin, command.CreateWalletRequest{Asset: "USD", Owner: owner})
	require.NoError(l.t, err)
	out, err := l.cmds.CreateWallet.Run(context.Background(), admin, idem(), cmd)
	require.NoError(l.t, err)
	require.Equal(l.t, 201, out.Status, string(out.Body))
	return cmd.WalletID
}

func idemOf(caller auth.Caller) command.Idempotency {
	k := uuid.NewString()
	return command.Idempotency{Sub: caller.Sub, Key: k, Hash: command.RequestHash("POST", "/test", []byte(k))}
}

// hit is one request a receiver got.
type hit struct {
	ID, Timestamp, Signature string
	Header                   http.Header
	Body                     []byte
	Event                    eventstore.Event
	Status                   int // what the receiver answered
}

// receiver is a webhook receiver on loopback that records every request and answers what answer says.
type receiver struct {
	t      testing.TB
	srv    *httptest.Server
	answer func(n int, h hit) int // n counts the requests, from 1

	mu   sync.Mutex
	hits []hit
}

func newReceiver(t testing.TB, answer func(n int, h hit) int) *receiver {
	rc := &receiver{t: t, answer: answer}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		h := hit{ID: r.Header.Get("webhook-id"), Timestamp: r.Header.Get("webhook-timestamp"),
			Signature: r.Header.Get("webhook-signature"), Header: r.Header.Clone(), Body: body}
		if err := json.Unmarshal(body, &h.Event); err != nil {
			t.Errorf("webhook body is not an event: %v: %s", err, body)
		}
		rc.mu.Lock()
		n := len(rc.hits) + 1
		rc.mu.Unlock()
		h.Status = http.StatusOK
		if rc.answer != nil {
			h.Status = rc.answer(n, h)
		}
		rc.mu.Lock()
		rc.hits = append(rc.hits, h)
		rc.mu.Unlock()
		w.WriteHeader(h.Status)
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) url() string { return rc.srv.URL + "/hooks" }

func (rc *receiver) snapshot() []hit {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]hit(nil), rc.hits...)
}

// ids returns the distinct webhook-ids received with a 2xx answer.
func (rc *receiver) delivered() map[string]bool {
	out := map[string]bool{}
	for _, h := range rc.snapshot() {
		if h.Status >= 200 && h.Status < 300 {
			out[h.ID] = true
		}
	}
	return out
}

// verify checks h as a receiver would, with secret: with the specification's library, and with a check written
// from the specification's text alone (specVerify). Both must accept it.
func verify(h hit, secret string) error {
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		return err
	}
	if err := wh.Verify(h.Body, h.Header); err != nil {
		return fmt.Errorf("the specification's library: %w", err)
	}
	if err := specVerify(h, secret); err != nil {
		return fmt.Errorf("a receiver written from the specification: %w", err)
	}
	return nil
}

// specVerify is a receiver's check written from the specification's text, without its library: the key is the
// base64 after "whsec_"; the signed content is "<webhook-id>.<webhook-timestamp>.<body>"; a signature is the
// base64 of its HMAC-SHA256, listed as "v1,<signature>" among space-separated entries, any of which may match
// (compared in constant time); the timestamp must be within 5 minutes of now.
func specVerify(h hit, secret string) error {
	ts, err := strconv.ParseInt(h.Timestamp, 10, 64)
	if err != nil || h.ID == "" {
		return errors.New("missing or malformed webhook-id or webhook-timestamp")
	}
	if d := time.Since(time.Unix(ts, 0)); d > 5*time.Minute || d < -5*time.Minute {
		return fmt.Errorf("timestamp %s away from now", d)
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		return err
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(h.ID + "." + h.Timestamp + "."))
	mac.Write(h.Body)
	want := base64.StdEncoding.EncodeToString(mac.Sum(nil))
	for _, entry := range strings.Split(h.Signature, " ") {
		if version, sig, ok := strings.Cut(entry, ","); ok && version == "v1" && hmac.Equal([]byte(sig), []byte(want)) {
			return nil
		}
	}
	return errors.New("no signature matches")
}

// checkDocumented holds every body a receiver got to the Event schema of api/openapi.yaml, which the document's
// walletEvent webhook promises receivers.
func (rc *receiver) checkDocumented(t testing.TB) {
	t.Helper()
	v, err := apitest.Shared()
	require.NoError(t, err)
	schema := v.Document().Components.Schemas["Event"].Value
	for _, h := range rc.snapshot() {
		var body any
		require.NoError(t, json.Unmarshal(h.Body, &body))
		assert.NoError(t, schema.VisitJSON(body, openapi3.EnableJSONSchema2020()), "%s", h.Body)
	}
}

// deliveryRow is what the database holds about a delivery.
type deliveryRow struct {
	Status   string
	Attempts int
	Code     *int
}

func deliveriesOf(t testing.TB, pool *pgxpool.Pool, endpoint uuid.UUID) []deliveryRow {
	t.Helper()
	rows, err := pool.Query(context.Background(), `SELECT status, attempts, last_status_code FROM webhook_deliveries
		WHERE endpoint_id = $1 ORDER BY event_seq`, endpoint)
	require.NoError(t, err)
	defer rows.Close()
	var out []deliveryRow
	for rows.Next() {
		var d deliveryRow
		require.NoError(t, rows.Scan(&d.Status, &d.Attempts, &d.Code))
		out = append(out, d)
	}
	require.NoError(t, rows.Err())
	return out
}
