package query

import (
	"context"
	"encoding/base64"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/mux"

	"github.com/agentic-commerce/wallet-ledger/internal/auth"
	"github.com/agentic-commerce/wallet-ledger/internal/httpapi"
	"github.com/agentic-commerce/wallet-ledger/internal/replica"
	"github.com/agentic-commerce/wallet-ledger/webhook"
)

// Delivery page sizes.
const (
	DefaultDeliveryLimit = 50
	MaxDeliveryLimit     = 200
)

// WebhookEndpointList is the body of GET /v1/webhook_endpoints.
type WebhookEndpointList struct {
	Endpoints []webhook.EndpointView `json:"endpoints"`
}

// WebhookDeliveryList is the body of GET /v1/webhook_endpoints/{id}/deliveries.
type WebhookDeliveryList struct {
	EndpointID uuid.UUID              `json:"endpoint_id"`
	Deliveries []webhook.DeliveryView `json:"deliveries"`
	NextCursor *string                `json:"next_cursor"`
}

// webhookRoutes registers the webhook and events feed reads.
func webhookRoutes(r *mux.Router, q *Queries, read func(http.Handler) http.Handler) {
	r.Handle("/v1/webhook_endpoints", read(http.HandlerFunc(q.WebhookEndpoints))).Methods(http.MethodGet)
	r.Handle("/v1/webhook_endpoints/{id}", read(serve(q, replica.Fresh, (*Queries).WebhookEndpoint))).Methods(http.MethodGet)
	r.Handle("/v1/webhook_endpoints/{id}/deliveries", read(http.HandlerFunc(q.WebhookDeliveries))).Methods(http.MethodGet)
	r.Handle("/v1/events", read(http.HandlerFunc(q.Events))).Methods(http.MethodGet)
}

// WebhookEndpoints lists the caller's own endpoints, oldest first (admins too see only their own here).
func (q *Queries) WebhookEndpoints(w http.ResponseWriter, r *http.Request) {
	caller, _ := auth.CallerFrom(r.Context())
	es, err := webhook.ListEndpoints(r.Context(), q.store.Pool(), caller.Sub)
	if err != nil {
		httpapi.WriteProblem(w, r, err)
		return
	}
	now := time.Now().UTC()
	out := WebhookEndpointList{Endpoints: make([]webhook.EndpointView, 0, len(es))}
	for _, e := range es {
		out.Endpoints = append(out.Endpoints, e.ViewAt(now))
	}
	httpapi.WriteJSON(w, http.StatusOK, out)
}

// WebhookEndpoint returns one endpoint to its owner or an admin.
func (q *Queries) WebhookEndpoint(ctx context.Context, caller auth.Caller, id uuid.UUID) (webhook.EndpointView, error) {
	e, err := q.visibleEndpoint(ctx, caller, id)
	if err != nil {
		return webhook.EndpointView{}, err
	}
	return e.ViewAt(time.Now().UTC()), nil
}

// visibleEndpoint returns the endpoint when caller may see it; another owner's answers exactly like a missing one.
func (q *Queries) visibleEndpoint(ctx context.Context, caller auth.Caller, id uuid.UUID) (webhook.Endpoint, error) {
	e, err := webhook.GetEndpoint(ctx, q.store.Pool(), id)
	if err != nil {
		return webhook.Endpoint{}, err
	}
	if !caller.IsAdmin() && e.Owner != caller.Sub {
		return webhook.Endpoint{}, webhook.NotFound(id)
	}
	return e, nil
}

// WebhookDeliveries serves one page of an endpoint's deliveries, newest event first.
func (q *Queries) WebhookDeliveries(w http.ResponseWriter, r *http.Request) {
	caller, _ := auth.CallerFrom(r.Context())
	id, err := httpapi.ParsePathID(mux.Vars(r)["id"])
	if err != nil {
		httpapi.WriteProblem(w, r, err)
		return
	}
	status, limit, before, err := parseDeliveryQuery(r)
	if err != nil {
		httpapi.WriteProblem(w, r, err)
		return
	}
	if _, err := q.visibleEndpoint(r.Context(), caller, id); err != nil {
		httpapi.WriteProblem(w, r, err)
		return
	}
	page, err := webhook.ListDeliveries(r.Context(), q.store.Pool(), id, status, before, limit)
	if err != nil {
		httpapi.WriteProblem(w, r, err)
		return
	}
	out := WebhookDeliveryList{EndpointID: id, Deliveries: make([]webhook.DeliveryView, 0, len(page.Deliveries))}
	for _, d := range page.Deliveries {
		out.Deliveries = append(out.Deliveries, d.View())
	}
	if page.Before != nil {
		c := encodeSeqCursor(deliveryCursorPrefix, *page.Before)
		out.NextCursor = &c
	}
	httpapi.WriteJSON(w, http.StatusOK, out)
}

// parseDeliveryQuery reads status (pending, delivered or failed), limit (1-200, default 50) and the cursor.
func parseDeliveryQuery(r *http.Request) (status string, limit int, before int64, err error) {
	qs, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return "", 0, 0, httpapi.Errorf("invalid_query", "the query string is malformed")
	}
	limit, err = parseLimit(qs, DefaultDeliveryLimit, MaxDeliveryLimit)
	if err != nil {
		return "", 0, 0, err
	}
	if vs, ok := qs["status"]; ok {
		switch {
		case len(vs) != 1:
			return "", 0, 0, httpapi.Errorf("invalid_query", "give at most one status")
		case vs[0] == webhook.DeliveryPending, vs[0] == webhook.DeliveryDelivered, vs[0] == webhook.DeliveryFailed:
			status = vs[0]
		default:
			return "", 0, 0, httpapi.Errorf("invalid_query", "status must be pending, delivered or failed")
		}
	}
	if vs, ok := qs["cursor"]; ok {
		n, valid := decodeSeqCursor(deliveryCursorPrefix, vs)
		if !valid || n < 1 {
			return "", 0, 0, httpapi.Errorf("invalid_query", "cursor is not one this API returned; pass next_cursor as it came")
		}
		before = n
	}
	return status, limit, before, nil
}

// parseLimit reads an optional limit of 1 to maxLimit.
func parseLimit(qs url.Values, def, maxLimit int) (int, error) {
	vs, ok := qs["limit"]
	if !ok {
		return def, nil
	}
	n, err := strconv.Atoi(vs[0])
	if len(vs) != 1 || err != nil || n < 1 || n > maxLimit {
		return 0, httpapi.Errorf("invalid_query", "limit must be one integer from 1 to %d", maxLimit)
	}
	return n, nil
}

// Cursors of the webhook and events pages: a sequence number, versioned and base64url-encoded so clients treat
// them as opaque and they can change form later.
const (
	deliveryCursorPrefix = "d1:"
	eventCursorPrefix    = "e1:"
)

func encodeSeqCursor(prefix string, n int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte(prefix + strconv.FormatInt(n, 10)))
}

// decodeSeqCursor reads the one cursor in vs; it must be one encodeSeqCursor made with prefix.
func decodeSeqCursor(prefix string, vs []string) (int64, bool) {
	if len(vs) != 1 || vs[0] == "" || len(vs[0]) > 64 {
		return 0, false
	}
	raw, err := base64.RawURLEncoding.DecodeString(vs[0])
	if err != nil || !strings.HasPrefix(string(raw), prefix) {
		return 0, false
	}
	digits := strings.TrimPrefix(string(raw), prefix)
	n, err := strconv.ParseInt(digits, 10, 64)
	if err != nil || n < 0 || strconv.FormatInt(n, 10) != digits {
		return 0, false
	}
	return n, true
}
