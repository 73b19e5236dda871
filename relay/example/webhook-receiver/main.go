// Command webhook-receiver is the reference receiver of the ledger's webhooks: what a merchant or an agent
// platform copies to start. For every POST it
//
//   - verifies the Standard Webhooks signature (webhook-id, webhook-timestamp, webhook-signature) with the
//     endpoint's secret, using the specification's Go library: a request that fails gets 401 and is not printed;
//   - refuses a webhook-timestamp more than 5 minutes away from now (a replayed request), also with 401;
//   - deduplicates by webhook-id, the event_id, which stays the same across retries: delivery is at least once;
//   - prints each new event as one JSON line on stdout, and answers 204 (to duplicates too, so they stop).
//
// Run it beside `make run` and point an endpoint at it (docs/webhooks.md):
//
//	WEBHOOK_SECRET=whsec_... go run ./relay/example/webhook-receiver     # listens on 127.0.0.1:9000/webhooks
//
// Settings: WEBHOOK_SECRET (required: the secret the API showed when it created the endpoint; during a rotation,
// the new and the old separated by a space), RECEIVER_ADDR (127.0.0.1:9000), RECEIVER_PATH (/webhooks).
//
// Dedup here is an in-memory set of the last 100,000 ids, enough for printing. A real receiver records the
// webhook-id in the same database transaction as the effect it applies (INSERT ... ON CONFLICT DO NOTHING; skip
// when no row was inserted), so a re-delivered event is never applied twice, even across restarts. It answers
// quickly (within 10 seconds) and does slow work after answering.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// maxBody bounds what the receiver reads of a request; an event is a few kilobytes.
const maxBody = 1 << 20

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := run(ctx, log); err != nil {
		log.Error("webhook receiver stopped", "error", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, log *slog.Logger) error {
	var verifiers []*standardwebhooks.Webhook
	for _, s := range strings.Fields(os.Getenv("WEBHOOK_SECRET")) {
		wh, err := standardwebhooks.NewWebhook(s)
		if err != nil {
			return fmt.Errorf("WEBHOOK_SECRET: %w", err)
		}
		verifiers = append(verifiers, wh)
	}
	if len(verifiers) == 0 {
		return errors.New("WEBHOOK_SECRET is required: the whsec_... secret the API showed when it created the endpoint")
	}
	addr, path := env("RECEIVER_ADDR", "127.0.0.1:9000"), env("RECEIVER_PATH", "/webhooks")
	r := &receiver{verifiers: verifiers, seen: newSeenSet(100_000), out: json.NewEncoder(os.Stdout), log: log}
	mux := http.NewServeMux()
	mux.Handle("POST "+path, r)
	srv := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	log.Info("webhook receiver listening", "url", "http://"+addr+path)
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return srv.Shutdown(shutdown)
}

// receiver verifies, deduplicates and prints deliveries.
type receiver struct {
	verifiers []*standardwebhooks.Webhook
	seen      *seenSet
	log       *slog.Logger

	mu  sync.Mutex // one line at a time on stdout
	out *json.Encoder
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
		return
	}
	// Verify the exact bytes received, before parsing anything: the signature covers them, not a re-encoding.
	if err := rc.verify(body, r.Header); err != nil {
		rc.log.Warn("refused a webhook", "webhook_id", r.Header.Get("webhook-id"), "error", err)
		http.Error(w, "invalid signature or timestamp", http.StatusUnauthorized)
		return
	}
	id := r.Header.Get("webhook-id")
	if !rc.seen.add(id) {
		w.WriteHeader(http.StatusNoContent) // a retry of what was already handled: acknowledge it again
		return
	}
	rc.mu.Lock()
	err = rc.out.Encode(struct {
		WebhookID  string          `json:"webhook_id"`
		ReceivedAt time.Time       `json:"received_at"`
		Event      json.RawMessage `json:"event"`
	}{id, time.Now().UTC(), body})
	rc.mu.Unlock()
	if err != nil {
		rc.seen.remove(id) // not handled: let the retry try again
		http.Error(w, "cannot record the event", http.StatusInternalServerError)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// verify accepts the request when any of the receiver's secrets verifies it; the library also refuses a
// timestamp more than 5 minutes from now.
func (rc *receiver) verify(body []byte, h http.Header) error {
	var err error
	for _, v := range rc.verifiers {
		if err = v.Verify(body, h); err == nil {
			return nil
		}
	}
	return err
}

// seenSet remembers the last n webhook-ids.
type seenSet struct {
	mu    sync.Mutex
	ids   map[string]bool
	order []string
	n     int
}

func newSeenSet(n int) *seenSet { return &seenSet{ids: map[string]bool{}, n: n} }

// add records id and reports whether it is new.
func (s *seenSet) add(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ids[id] {
		return false
	}
	s.ids[id] = true
	s.order = append(s.order, id)
	if len(s.order) > s.n {
		delete(s.ids, s.order[0])
		s.order = s.order[1:]
	}
	return true
}

func (s *seenSet) remove(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.ids, id)
}

func env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
