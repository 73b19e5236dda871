package query

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/mux"

	"github.com/agentic-commerce/wallet-ledger/internal/auth"
	"github.com/agentic-commerce/wallet-ledger/internal/httpapi"
	"github.com/agentic-commerce/wallet-ledger/internal/replica"
)

// Page sizes of every list.
const (
	DefaultLimit = 50
	MaxLimit     = 200
)

// Page is the envelope of every list: up to limit items, newest first; has_more says whether another page
// follows, and next_cursor (null on the last page) is the cursor to ask for it with.
type Page[T any] struct {
	Data       []T     `json:"data"`
	HasMore    bool    `json:"has_more"`
	NextCursor *string `json:"next_cursor"`
}

// newPage cuts rows, read with limit+1, to limit items; when more remain, the next cursor is that of the last
// item kept.
func newPage[R, T any](rows []R, limit int, view func(R) T, cursor func(R) string) Page[T] {
	p := Page[T]{Data: make([]T, 0, min(len(rows), limit))}
	if len(rows) > limit {
		rows = rows[:limit]
		c := cursor(rows[limit-1])
		p.HasMore, p.NextCursor = true, &c
	}
	for _, r := range rows {
		p.Data = append(p.Data, view(r))
	}
	return p
}

// listQuery is a list request's query string: limit, cursor and the filters the list takes.
type listQuery struct {
	limit   int
	cursor  string
	filters map[string]string
}

// get returns a filter's value ("" when not given).
func (l listQuery) get(name string) string { return l.filters[name] }

// parseListQuery reads limit (1 to 200, default 50), cursor and the named filters. A parameter the list does not
// take, one given twice, or an empty one is refused: a mistyped filter must not quietly list everything.
func parseListQuery(r *http.Request, filters ...string) (listQuery, error) {
	qs, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return listQuery{}, httpapi.Errorf("invalid_query", "the query string is malformed")
	}
	l := listQuery{limit: DefaultLimit, filters: map[string]string{}}
	for name, vs := range qs {
		known := name == "limit" || name == "cursor"
		for _, f := range filters {
			known = known || name == f
		}
		switch {
		case !known:
			return listQuery{}, httpapi.Errorf("invalid_query", "unknown query parameter %q; this list takes limit, cursor%s",
				clip(name), listOf(filters))
		case len(vs) != 1 || vs[0] == "":
			return listQuery{}, httpapi.Errorf("invalid_query", "give %s once, with a value", name)
		}
		switch name {
		case "limit":
			n, err := strconv.Atoi(vs[0])
			if err != nil || n < 1 || n > MaxLimit {
				return listQuery{}, httpapi.Errorf("invalid_query", "limit must be one integer from 1 to %d", MaxLimit)
			}
			l.limit = n
		case "cursor":
			l.cursor = vs[0]
		default:
			l.filters[name] = vs[0]
		}
	}
	return l, nil
}

func listOf(filters []string) string {
	if len(filters) == 0 {
		return ""
	}
	return ", " + strings.Join(filters, ", ")
}

func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}

// enumFilter checks a filter against its values.
func enumFilter(name, v string, allowed ...string) error {
	if v == "" {
		return nil
	}
	for _, a := range allowed {
		if v == a {
			return nil
		}
	}
	return httpapi.Errorf("invalid_query", "%s must be one of %s", name, strings.Join(allowed, ", "))
}

// idFilter parses an optional UUID filter.
func idFilter(name, v string) (uuid.UUID, error) {
	if v == "" {
		return uuid.Nil, nil
	}
	id, err := httpapi.ParseID(v)
	if err != nil {
		return uuid.Nil, httpapi.Errorf("invalid_query", "%s: %v", name, err)
	}
	return id, nil
}

// timeFilter parses an optional RFC 3339 timestamp filter.
func timeFilter(name, v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, httpapi.Errorf("invalid_query", "%s must be an RFC 3339 time such as 2026-01-31T00:00:00Z", name)
	}
	return t.UTC(), nil
}

// assetPattern is an asset code, as wallets store them.
var assetPattern = regexp.MustCompile(`^[A-Z0-9]{3,12}$`)

var errInvalidAsset = httpapi.Errorf("invalid_query", "asset must be an asset code of 3 to 12 capital letters or digits, such as USD")

// textFilter checks a free-text filter (an owner or agent sub): at most 255 bytes, no control characters.
func textFilter(name, v string) error {
	if len(v) > 255 || strings.IndexFunc(v, func(r rune) bool { return r < 0x20 || r == 0x7f }) >= 0 {
		return httpapi.Errorf("invalid_query", "%s must be at most 255 characters without control characters", name)
	}
	return nil
}

// list is one list's read: the read side it runs on, the caller and its query in, a page out.
type list[V any] func(on *Queries, ctx context.Context, caller auth.Caller, q listQuery) (Page[V], error)

// listOn is a list under one resource, the {id} of the path.
type listOn[V any] func(on *Queries, ctx context.Context, caller auth.Caller, id uuid.UUID, q listQuery) (V, error)

// serveList adapts a list to a handler that runs it on the server need allows (readFrom).
func serveList[V any](q *Queries, need replica.Consistency, read list[V], filters ...string) http.Handler {
	return serveListOn(q, need, func(on *Queries, ctx context.Context, caller auth.Caller, _ uuid.UUID, l listQuery) (Page[V], error) {
		return read(on, ctx, caller, l)
	}, filters...).withoutID()
}

// serveListOn adapts a list under the {id} resource to a handler that runs it on the server need allows.
func serveListOn[V any](q *Queries, need replica.Consistency, read listOn[V], filters ...string) listHandler[V] {
	return listHandler[V]{q: q, need: need, read: read, filters: filters, withID: true}
}

// listHandler serves a list: it parses the {id} (for a list under a resource), the query and Min-Position.
type listHandler[V any] struct {
	q       *Queries
	need    replica.Consistency
	read    listOn[V]
	filters []string
	withID  bool
}

func (h listHandler[V]) withoutID() listHandler[V] {
	h.withID = false
	return h
}

func (h listHandler[V]) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	caller, _ := auth.CallerFrom(r.Context())
	var id uuid.UUID
	if h.withID {
		var err error
		if id, err = httpapi.ParsePathID(mux.Vars(r)["id"]); err != nil {
			httpapi.WriteProblem(w, r, err)
			return
		}
	}
	l, err := parseListQuery(r, h.filters...)
	if err != nil {
		httpapi.WriteProblem(w, r, err)
		return
	}
	atLeast, err := minPosition(r)
	if err != nil {
		httpapi.WriteProblem(w, r, err)
		return
	}
	v, err := readFrom(r.Context(), h.q, h.need, atLeast, func(on *Queries) (V, error) { return h.read(on, r.Context(), caller, id, l) })
	if err != nil {
		httpapi.WriteProblem(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, v)
}

// keyed returns the cursor position of a (created_at, id) list item.
func keyed(at time.Time, id uuid.UUID) position { return position{At: at, ID: id} }

// pageStart decodes the query's cursor within scope into the key the page starts below (FirstPage without one).
func (q *Queries) pageStart(l listQuery, scope string, first position) (position, error) {
	if l.cursor == "" {
		return first, nil
	}
	return q.cursors.decode(scope, l.cursor)
}
