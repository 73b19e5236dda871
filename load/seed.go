package load

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/agentic-commerce/wallet-ledger/client"
)

// SeedConfig says which wallets to create and fund and where.
type SeedConfig struct {
	BaseURL        string
	Tokens         TokenConfig
	Count          int
	Asset          string
	InitialBalance int64
	Concurrency    int
	HTTP           *http.Client
}

// SeedResult counts what a seeding pass did; a re-run creates and funds
// nothing new because every request reuses its Idempotency-Key.
type SeedResult struct {
	Created  int64
	Existing int64
	Funded   int64
	Replayed int64
	Elapsed  time.Duration
}

// Seed creates wallets WalletID(0..Count-1), owned by LoadSub, and funds each
// with one adjustment of InitialBalance. Keys are derived from the wallet ID
// and amount, so seeding is idempotent: a second run replays every request.
func Seed(ctx context.Context, cfg SeedConfig) (SeedResult, error) {
	start := time.Now()
	if cfg.Count <= 0 {
		return SeedResult{}, errors.New("seed: count must be positive")
	}
	if !validAsset(cfg.Asset) {
		return SeedResult{}, fmt.Errorf("seed: invalid asset %q", cfg.Asset)
	}
	if cfg.InitialBalance <= 0 {
		return SeedResult{}, errors.New("seed: initial balance must be positive")
	}
	tok, err := cfg.Tokens.Mint(AdminSub, "wallet:read wallet:write wallet:admin")
	if err != nil {
		return SeedResult{}, err
	}
	c, err := newAPIClient(cfg.BaseURL, tok, cfg.HTTP, writeRetry)
	if err != nil {
		return SeedResult{}, err
	}
	workers := cfg.Concurrency
	if workers <= 0 {
		workers = 16
	}

	var res SeedResult
	var created, existing, funded, replayed atomic.Int64
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	idx := make(chan int)
	errc := make(chan error, workers)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range idx {
				st, err := seedOne(ctx, c, WalletID(i), cfg.Asset, cfg.InitialBalance)
				if err != nil {
					errc <- fmt.Errorf("seed wallet %d: %w", i, err)
					cancel()
					return
				}
				if st.created {
					created.Add(1)
				} else {
					existing.Add(1)
				}
				if st.fundReplayed {
					replayed.Add(1)
				} else {
					funded.Add(1)
				}
			}
		}()
	}
feed:
	for i := 0; i < cfg.Count; i++ {
		select {
		case idx <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(idx)
	wg.Wait()
	close(errc)
	res = SeedResult{Created: created.Load(), Existing: existing.Load(), Funded: funded.Load(),
		Replayed: replayed.Load(), Elapsed: time.Since(start)}
	if err := <-errc; err != nil {
		return res, err
	}
	if err := ctx.Err(); err != nil {
		return res, fmt.Errorf("seed: %w", err)
	}
	return res, nil
}

type seedStatus struct {
	created      bool
	fundReplayed bool
}

// seedOne creates and funds one wallet. Both writes carry a key derived from
// the wallet (and the amount), and the client resends them under that key
// while the answer is transient (503, 409 idempotency_key_in_use, no answer),
// which is exactly what the key is for. A refusal comes back as the
// *client.Error, so the caller sees its problem code.
func seedOne(ctx context.Context, c *client.Client, id uuid.UUID, asset string, amount int64) (seedStatus, error) {
	var st seedStatus
	_, resp, err := c.CreateWallet(ctx, client.CreateWalletRequest{
		WalletID: id.String(), Asset: asset, Owner: LoadSub, Metadata: json.RawMessage(`{"source":"walletctl seed"}`),
	}, client.WithIdempotencyKey("seed-wallet-"+id.String()))
	switch {
	case err == nil:
		st.created = !resp.Replayed
	case client.IsCode(err, client.CodeWalletExists):
		// Created earlier under another key (or the key expired): fine, as
		// long as it is the wallet we expect.
		w, _, err := c.GetWallet(ctx, id.String())
		if err != nil {
			return st, fmt.Errorf("read existing wallet %s: %w", id, err)
		}
		if w.Asset != asset || w.Owner != LoadSub {
			return st, fmt.Errorf("wallet %s exists with asset %q owner %q, want %q %q", id, w.Asset, w.Owner, asset, LoadSub)
		}
	default:
		return st, fmt.Errorf("create wallet %s: %w", id, err)
	}
	_, resp, err = c.Adjust(ctx, client.AdjustmentRequest{
		WalletID: id.String(), Amount: amount, Asset: asset, Reason: "load test seed funding",
	}, client.WithIdempotencyKey(fmt.Sprintf("seed-fund-%s-%d", id, amount)))
	if err != nil {
		return st, fmt.Errorf("fund wallet %s: %w", id, err)
	}
	st.fundReplayed = resp.Replayed
	return st, nil
}
