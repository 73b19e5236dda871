package load

import (
	"crypto/sha1"
	"fmt"
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
