package query

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/google/uuid"
	"github.com/gorilla/mux"

	"github.com/agentic-commerce/wallet-ledger/eventstore"
	"github.com/agentic-commerce/wallet-ledger/internal/auth"
	"github.com/agentic-commerce/wallet-ledger/internal/httpapi"
	"github.com/agentic-commerce/wallet-ledger/internal/replica"
	"github.com/agentic-commerce/wallet-ledger/projector"
)

// History page sizes.
const (
	DefaultHistoryLimit = 50
	MaxHistoryLimit     = 200
)

// HistoryView is the body of GET /v1/wallets/{id}/transactions: the wallet's journal entries newest first, each
// with the balance right after it. It is served from an asynchronous read model; ReadModel says how far behind
// the journal it is.
type HistoryView struct {
	WalletID    uuid.UUID                `json:"wallet_id"`
	Asset       string                   `json:"asset"`
	Entries     []projector.HistoryEntry `json:"entries"`
	NextCursor  *string                  `json:"next_cursor"`
	Consistency string                   `json:"consistency"`
	ReadModel   projector.HistoryLag     `json:"read_model"`
}

// History serves one page of a wallet's history.
func (q *Queries) History(w http.ResponseWriter, r *http.Request) {
	caller, _ := auth.CallerFrom(r.Context())
	id, err := httpapi.ParsePathID(mux.Vars(r)["id"])
	if err != nil {
		httpapi.WriteProblem(w, r, err)
		return
	}
	limit, before, err := parseHistoryQuery(r)
	if err != nil {
		httpapi.WriteProblem(w, r, err)
		return
	}
	atLeast, err := minPosition(r)
	if err != nil {
		httpapi.WriteProblem(w, r, err)
		return
	}
	// The history read model is eventually consistent anyway: a replica answers it.
	type walletPage struct {
		wallet eventstore.Wallet
		page   projector.HistoryPage
	}
	wp, err := readFrom(r.Context(), q, replica.Bounded, atLeast, func(on *Queries) (walletPage, error) {
		wallet, err := on.visibleWallet(r.Context(), caller, id)
		if err != nil {
			return walletPage{}, err
		}
		page, err := projector.ReadHistory(r.Context(), on.store, id, before, limit)
		return walletPage{wallet, page}, err
	})
	if err != nil {
		httpapi.WriteProblem(w, r, err)
		return
	}
	wallet, page := wp.wallet, wp.page
	v := HistoryView{WalletID: id, Asset: wallet.Asset, Entries: page.Entries, Consistency: "eventual",
		ReadModel: page.Lag}
	if v.Entries == nil {
		v.Entries = []projector.HistoryEntry{}
	}
	if page.Before != nil {
		c := encodeCursor(*page.Before)
		v.NextCursor = &c
	}
	httpapi.WriteJSON(w, http.StatusOK, v)
}

// parseHistoryQuery reads limit (1-200, default 50) and the opaque cursor.
func parseHistoryQuery(r *http.Request) (int, *int64, error) {
	qs, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return 0, nil, httpapi.Errorf("invalid_query", "the query string is malformed")
	}
	limit := DefaultHistoryLimit
	if vs, ok := qs["limit"]; ok {
		n, err := strconv.Atoi(vs[0])
		if len(vs) != 1 || err != nil || n < 1 || n > MaxHistoryLimit {
			return 0, nil, httpapi.Errorf("invalid_query", "limit must be one integer from 1 to %d", MaxHistoryLimit)
		}
		limit = n
	}
	vs, ok := qs["cursor"]
	if !ok {
		return limit, nil, nil
	}
	if len(vs) != 1 {
		return 0, nil, httpapi.Errorf("invalid_query", "give at most one cursor")
	}
	before, ok := decodeCursor(vs[0])
	if !ok {
		return 0, nil, httpapi.Errorf("invalid_query", "cursor is not one this API returned; pass next_cursor as it came")
	}
	return limit, &before, nil
}

// The cursor is the entry_id the next page starts below, versioned and base64url-encoded so clients treat it as
// opaque and it can change form later.
const cursorPrefix = "h1:"

func encodeCursor(before int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte(cursorPrefix + strconv.FormatInt(before, 10)))
}

func decodeCursor(s string) (int64, bool) {
	if s == "" || len(s) > 64 {
		return 0, false
	}
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || !strings.HasPrefix(string(raw), cursorPrefix) {
		return 0, false
	}
	digits := strings.TrimPrefix(string(raw), cursorPrefix)
	n, err := strconv.ParseInt(digits, 10, 64)
	if err != nil || n < 1 || strconv.FormatInt(n, 10) != digits {
		return 0, false
	}
	return n, true
}
