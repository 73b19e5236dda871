package load

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/agentic-commerce/wallet-ledger/internal/auth"
)

// Subjects the load generator acts as. Seeded wallets are owned by LoadSub,
// so transfers run with a plain read+write token and exercise the ownership
// check; adjustments and seeding need wallet:admin.
const (
	LoadSub  = "loadgen"
	AdminSub = "loadgen-admin"
)

// walletNamespace makes seeded wallet IDs deterministic: the same index is
// the same wallet on every machine and every re-run.
var walletNamespace = uuid.NewSHA1(uuid.NameSpaceURL, []byte("urn:wallet-ledger:loadgen:wallet"))

// WalletID returns the deterministic ID of seeded wallet i: the UUIDv5
// construction (SHA-1 of namespace and name) stamped as version 4, because
// the API reserves version-5 IDs for system wallets (422 reserved_wallet_id).
// Hash-derived bits are as good as random ones for a v4 ID.
func WalletID(i int) uuid.UUID {
	h := sha1.New()
	h.Write(walletNamespace[:])
	h.Write([]byte(strconv.Itoa(i)))
	var u uuid.UUID
	copy(u[:], h.Sum(nil))
	u[6] = (u[6] & 0x0f) | 0x40 // version 4
	u[8] = (u[8] & 0x3f) | 0x80 // RFC 4122 variant
	return u
}

// SystemWalletID returns the asset's system wallet, UUIDv5(SYSTEM_WALLET_ID,
// asset) per the API contract; adjustments post their counter-entry there.
func SystemWalletID(systemRoot uuid.UUID, asset string) uuid.UUID {
	return uuid.NewSHA1(systemRoot, []byte(asset))
}

// DefaultSystemWalletID is the contract's default SYSTEM_WALLET_ID.
var DefaultSystemWalletID = uuid.MustParse("00000000-0000-0000-0000-000000000001")

// TokenConfig says how to mint bearer tokens the API accepts.
type TokenConfig struct {
	Secret   string
	Audience string
	TTL      time.Duration
}

// Mint signs an HS256 token with the contract's claims, through the same
// function walletctl uses, so the load generator's tokens are the API's.
func (c TokenConfig) Mint(sub, scope string) (string, error) {
	ttl := c.TTL
	if ttl <= 0 {
		ttl = 2 * time.Hour
	}
	tok, err := auth.Mint(c.Secret, c.Audience, sub, strings.Fields(scope), ttl)
	if err != nil {
		return "", fmt.Errorf("mint token for %s: %w", sub, err)
	}
	return tok, nil
}

// Client is a small JSON client for the wallet API used by seeding and the
// post-run invariant checks (the run itself goes through vegeta).
type Client struct {
	BaseURL string
	Token   string
	HTTP    *http.Client
}

// Response is a decoded API answer.
type Response struct {
	Status   int
	Header   http.Header
	Body     []byte
	Replayed bool
}

// Do sends one request; body may be nil. POSTs carry idemKey.
func (c *Client) Do(ctx context.Context, method, path, idemKey string, body any) (*Response, error) {
	var rdr io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, fmt.Errorf("encode %s %s: %w", method, path, err)
		}
		rdr = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(c.BaseURL, "/")+path, rdr)
	if err != nil {
		return nil, fmt.Errorf("build %s %s: %w", method, path, err)
	}
	req.Header.Set("Authorization", "Bearer "+c.Token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if idemKey != "" {
		req.Header.Set("Idempotency-Key", idemKey)
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("read %s %s: %w", method, path, err)
	}
	return &Response{
		Status:   resp.StatusCode,
		Header:   resp.Header,
		Body:     b,
		Replayed: strings.EqualFold(resp.Header.Get("Idempotent-Replayed"), "true"),
	}, nil
}

// JSON decodes the body into v.
func (r *Response) JSON(v any) error {
	if err := json.Unmarshal(r.Body, v); err != nil {
		return fmt.Errorf("decode %d response: %w", r.Status, err)
	}
	return nil
}

// Problem returns the RFC 9457 code of an error answer, or "".
func (r *Response) Problem() string {
	var p struct {
		Code string `json:"code"`
	}
	_ = json.Unmarshal(r.Body, &p)
	return p.Code
}

// Balance is the GET /v1/wallets/{id}/balance answer.
type Balance struct {
	WalletID  string `json:"wallet_id"`
	Asset     string `json:"asset"`
	Balance   int64  `json:"balance"`
	Available int64  `json:"available"`
	Held      int64  `json:"held"`
	Version   int64  `json:"version"`
}

// Audit is the GET /v1/wallets/{id}/balance/audit answer.
type Audit struct {
	WalletID         string `json:"wallet_id"`
	Asset            string `json:"asset"`
	ProjectedBalance int64  `json:"projected_balance"`
	JournalBalance   int64  `json:"journal_balance"`
	Consistent       bool   `json:"consistent"`
	EntryCount       int64  `json:"entry_count"`
}

// Transaction is the part of a Transaction answer the checks read.
type Transaction struct {
	TransactionID  string `json:"transaction_id"`
	Kind           string `json:"kind"`
	Sub            string `json:"sub"`
	IdempotencyKey string `json:"idempotency_key"`
	Asset          string `json:"asset"`
	Amount         int64  `json:"amount"`
}
