package load

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/agentic-commerce/wallet-ledger/client"
)

var testTokens = TokenConfig{Secret: testSecret, Audience: "agentic-commerce"}

func testClient(t *testing.T, base, sub, scope string) *client.Client {
	t.Helper()
	tok, err := testTokens.Mint(sub, scope)
	require.NoError(t, err)
	c, err := newAPIClient(base, tok, contractClient(t), client.Retry{Attempts: 2, BaseDelay: 10 * time.Millisecond, MaxDelay: 50 * time.Millisecond})
	require.NoError(t, err)
	return c
}

// Seeding meets wallets it did not create under its own keys: the right one
// is adopted, a wrong one is an error, and refusals carry their problem code.
func TestSeedThroughTheClient(t *testing.T) {
	bin := binaries(t)
	base := startAPI(t, bin, freshDB(t))
	ctx := context.Background()
	admin := testClient(t, base, AdminSub, "wallet:read wallet:write wallet:admin")
	seed := func(count int, asset string, tokens TokenConfig) (SeedResult, error) {
		return Seed(ctx, SeedConfig{BaseURL: base, Tokens: tokens, Count: count, Asset: asset, InitialBalance: 1000, Concurrency: 1, HTTP: contractClient(t)})
	}

	// Wallet 0 exists already, created under another key, as seeding would.
	_, _, err := admin.CreateWallet(ctx, client.CreateWalletRequest{WalletID: WalletID(0).String(), Asset: "USD", Owner: LoadSub})
	require.NoError(t, err)
	res, err := seed(1, "USD", testTokens)
	require.NoError(t, err)
	assert.Zero(t, res.Created)
	assert.Equal(t, int64(1), res.Existing)
	assert.Equal(t, int64(1), res.Funded)
	bal, _, err := admin.GetBalance(ctx, WalletID(0).String())
	require.NoError(t, err)
	assert.Equal(t, int64(1000), bal.Balance)

	res, err = seed(1, "USD", testTokens)
	require.NoError(t, err, "a re-run replays")
	assert.Equal(t, int64(1), res.Replayed)

	// Wallet 1 exists with another owner: not ours to fund.
	_, _, err = admin.CreateWallet(ctx, client.CreateWalletRequest{WalletID: WalletID(1).String(), Asset: "USD", Owner: "someone-else"})
	require.NoError(t, err)
	_, err = seed(2, "USD", testTokens)
	require.Error(t, err)
	assert.Contains(t, err.Error(), `owner "someone-else"`)

	// The same keys for another asset are another request: refused, code and all.
	_, err = seed(1, "EUR", testTokens)
	assert.True(t, client.IsCode(err, client.CodeIdempotencyKeyReuse), "%v", err)

	_, err = seed(1, "USD", TokenConfig{Secret: "not-the-secret", Audience: "agentic-commerce"})
	var apiErr *client.Error
	require.True(t, errors.As(err, &apiErr), "%v", err)
	assert.Equal(t, client.CodeUnauthorized, apiErr.Code)
	assert.Equal(t, http.StatusUnauthorized, apiErr.StatusCode)
}

// Settling resends the run's recorded writes through the client. Each must be
// the same request the attack sent raw, or the server would refuse the key
// as reused: sent raw first, resent through the client, it replays.
func TestResendReplaysWhatTheAttackSent(t *testing.T) {
	bin := binaries(t)
	base := startAPI(t, bin, freshDB(t))
	ctx := context.Background()
	sc := shrink(t, "smoke", time.Second, 4)
	_, err := Seed(ctx, SeedConfig{BaseURL: base, Tokens: testTokens, Count: 4, Asset: "USD", InitialBalance: 100_000, HTTP: contractClient(t)})
	require.NoError(t, err)
	userTok, err := testTokens.Mint(LoadSub, "wallet:read wallet:write")
	require.NoError(t, err)
	admTok, err := testTokens.Mint(AdminSub, "wallet:read wallet:write wallet:admin")
	require.NoError(t, err)
	user := testClient(t, base, LoadSub, "wallet:read wallet:write")
	admin := user.WithToken(admTok)
	tr := newTargeter(sc, base, "resend", userTok, admTok, 11)

	seen := map[Op]bool{}
	for i := 0; i < 500 && len(seen) < 3; i++ {
		var tgt vegeta.Target
		require.NoError(t, tr.Target(&tgt))
		op, key := parseFragment(tgt.URL)
		if key == "" || seen[op] {
			continue
		}
		seen[op] = true
		req, err := tgt.Request()
		require.NoError(t, err)
		hr, err := contractClient(t).Do(req)
		require.NoError(t, err)
		raw, err := io.ReadAll(hr.Body)
		hr.Body.Close()
		require.NoError(t, err)
		require.Equal(t, http.StatusCreated, hr.StatusCode, "%s: %s", op, raw)
		var first struct {
			TransactionID string `json:"transaction_id"`
			WalletID      string `json:"wallet_id"`
			Amount        int64  `json:"amount"`
		}
		require.NoError(t, json.Unmarshal(raw, &first))

		rec := tr.record(key)
		c := user
		if rec.admin {
			c = admin
		}
		got, err := resend(ctx, c, rec, key)
		require.NoError(t, err, "%s", op)
		assert.Equal(t, http.StatusCreated, got.status, "%s", op)
		assert.Equal(t, first.TransactionID, got.txID, "%s", op)
		assert.Equal(t, first.WalletID, got.walletID, "%s", op)
		if op != OpCreateWallet {
			assert.Equal(t, first.Amount, got.amount, "%s", op)
		}
	}
	assert.Len(t, seen, 3, "saw %v", seen)
}
