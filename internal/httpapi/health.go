package httpapi

import (
	"context"
	"net/http"
	"time"

	"github.com/gorilla/mux"
)

// ReadyCheck reports whether the process can serve: for wallet-api, the database answers and its schema is at the
// expected version. It returns what it saw.
type ReadyCheck func(ctx context.Context) (Readiness, error)

// Readiness is what GET /v1/ready reports besides its status.
type Readiness struct {
	SchemaVersion int32
	// Replica, when set, describes the read replica. It is reported, never a reason to be unready: while it is out
	// of use the primary answers every read.
	Replica any
}

// readyTimeout keeps a probe from hanging on an unreachable database.
const readyTimeout = 2 * time.Second

// RegisterHealth adds GET /v1/health (liveness: the process runs) and GET /v1/ready (readiness), both without auth.
func RegisterHealth(r *mux.Router, ready ReadyCheck, onReady func(bool)) {
	r.HandleFunc("/v1/health", func(w http.ResponseWriter, _ *http.Request) {
		WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	}).Methods(http.MethodGet)
	r.HandleFunc("/v1/ready", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
		defer cancel()
		st, err := ready(ctx)
		if onReady != nil {
			onReady(err == nil)
		}
		if err != nil {
			WriteProblem(w, r, Errorf("service_unavailable", "not ready: %v", err))
			return
		}
		body := map[string]any{"status": "ready", "schema_version": st.SchemaVersion}
		if st.Replica != nil {
			body["replica"] = st.Replica
		}
		WriteJSON(w, http.StatusOK, body)
	}).Methods(http.MethodGet)
}
