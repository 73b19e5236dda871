package query

import (
	"context"
	"errors"
	"net/http"

	"github.com/agentic-commerce/wallet-ledger/eventstore"
	"github.com/agentic-commerce/wallet-ledger/internal/httpapi"
	"github.com/agentic-commerce/wallet-ledger/internal/replica"
)

// MinPositionHeader is the request header of a read that must see the writes up to a position: the Ledger-Position
// of the caller's own write, sent back.
const MinPositionHeader = "Min-Position"

// Route lets router decide which server answers each read (internal/replica): standby is a store on the read
// replica's pool, nil when the router has none (every read then goes to the primary, and is counted as such).
func (q *Queries) Route(router *replica.Router, standby *eventstore.Store) error {
	switch {
	case router == nil:
		return errors.New("query: nil router")
	case router.Configured() != (standby != nil):
		return errors.New("query: a replica store goes with a router that has a replica, and only then")
	}
	q.router, q.standby = router, standby
	return nil
}

// minPosition reads the optional Min-Position header. A malformed one, or several, is refused: a position decides
// which server answers, so it is never guessed.
func minPosition(r *http.Request) (*replica.Position, error) {
	vs := r.Header.Values(MinPositionHeader)
	switch len(vs) {
	case 0:
		return nil, nil
	case 1:
	default:
		return nil, httpapi.Errorf("invalid_position", "send at most one Min-Position header")
	}
	p, err := replica.ParsePosition(vs[0])
	if err != nil {
		return nil, httpapi.Errorf("invalid_position", "Min-Position: %v", err)
	}
	return &p, nil
}

// bound returns the read side bound to one database.
func (q *Queries) bound(store *eventstore.Store) *Queries {
	return &Queries{store: store, cursors: q.cursors}
}

// readFrom runs read against the server the router picks for a read that needs need (and, with atLeast, must see
// the writes up to that position). What the standby cannot answer is asked again of the primary: a failure (it is
// unreachable, stopping, or cancelled the query in a recovery conflict; the standby is then out of use until its
// next health check) and an absence (a standby that lags may not have a wallet or transaction created a moment
// ago, so a 404 is never answered from it). Only the other refusals (400, 403...) stand as the standby gave them.
func readFrom[V any](ctx context.Context, q *Queries, need replica.Consistency, atLeast *replica.Position, read func(*Queries) (V, error)) (V, error) {
	if q.router == nil || q.router.Route(ctx, need, atLeast).Source != replica.Standby {
		return read(q)
	}
	v, err := read(q.bound(q.standby))
	if err == nil || ctx.Err() != nil {
		return v, err
	}
	switch status := statusOf(err); {
	case status == http.StatusNotFound:
		q.router.Fallback(ctx, replica.ReasonMissingReplica, err)
	case status >= 500:
		q.router.Fallback(ctx, replica.ReasonReplicaFailed, err)
	default:
		return v, err
	}
	return read(q)
}

// statusOf is the HTTP status err answers: a coded error's, 500 for anything else.
func statusOf(err error) int {
	var coded httpapi.Coded
	if !errors.As(err, &coded) {
		return http.StatusInternalServerError
	}
	status, _ := httpapi.ProblemFor(err, "")
	return status
}
