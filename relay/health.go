package relay

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/agentic-commerce/wallet-ledger/internal/httpapi"
)

// readyTimeout keeps a probe from hanging on an unreachable database or broker.
const readyTimeout = 2 * time.Second

// HealthHandler serves GET /v1/health (liveness: the process runs) and GET /v1/ready (readiness: the database
// and the downstream broker answer, and the relay is not draining). A standby replica is ready: it can take over.
// draining may be nil.
func (r *Relay) HealthHandler(draining *atomic.Bool) http.Handler {
	mux := httpapi.NewRouter()
	mux.HandleFunc("/v1/health", func(w http.ResponseWriter, _ *http.Request) {
		httpapi.WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	}).Methods(http.MethodGet)
	mux.HandleFunc("/v1/ready", func(w http.ResponseWriter, req *http.Request) {
		ctx, cancel := context.WithTimeout(req.Context(), readyTimeout)
		defer cancel()
		if err := r.ready(ctx, draining); err != nil {
			httpapi.WriteProblem(w, req, httpapi.Errorf("service_unavailable", "not ready: %v", err))
			return
		}
		body := map[string]any{"status": "ready", "leader": r.IsLeader(), "publisher": r.cfg.Publisher,
			"outbox_backlog": nil, "outbox_lag_seconds": nil}
		// Until the first measurement the backlog is unknown, not zero: a drain check polling this must not
		// mistake a relay that just started for one that has caught up.
		if lag := r.LastLag(); !lag.MeasuredAt.IsZero() {
			body["outbox_backlog"], body["outbox_lag_seconds"] = lag.Backlog, lag.OldestAge
		}
		httpapi.WriteJSON(w, http.StatusOK, body)
	}).Methods(http.MethodGet)
	return mux
}

func (r *Relay) ready(ctx context.Context, draining *atomic.Bool) error {
	if draining != nil && draining.Load() {
		return errors.New("shutting down")
	}
	if err := r.pool.Ping(ctx); err != nil {
		return errors.New("the database does not answer")
	}
	if err := r.down.Ready(ctx); err != nil {
		return fmt.Errorf("downstream %s: %w", r.cfg.Publisher, err)
	}
	return nil
}
