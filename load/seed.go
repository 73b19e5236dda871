package load

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
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
	hc := cfg.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	c := &Client{BaseURL: cfg.BaseURL, Token: tok, HTTP: hc}
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

func seedOne(ctx context.Context, c *Client, id uuid.UUID, asset string, amount int64) (seedStatus, error) {
	var st seedStatus
	resp, err := postRetrying(ctx, c, "/v1/wallets", "seed-wallet-"+id.String(), map[string]any{
		"wallet_id": id.String(), "asset": asset, "owner": LoadSub,
		"metadata": map[string]any{"source": "walletctl seed"},
	})
	if err != nil {
		return st, err
	}
	switch {
	case resp.Status == http.StatusCreated:
		st.created = !resp.Replayed
	case resp.Status == http.StatusConflict && resp.Problem() == "wallet_exists":
		// Created earlier under another key (or the key expired): fine, as
		// long as it is the wallet we expect.
		got, err := c.Do(ctx, http.MethodGet, "/v1/wallets/"+id.String(), "", nil)
		if err != nil {
			return st, err
		}
		var w struct {
			Asset string `json:"asset"`
			Owner string `json:"owner"`
		}
		if got.Status != http.StatusOK {
			return st, fmt.Errorf("get existing wallet: status %d: %s", got.Status, got.Body)
		}
		if err := got.JSON(&w); err != nil {
			return st, err
		}
		if w.Asset != asset || w.Owner != LoadSub {
			return st, fmt.Errorf("wallet %s exists with asset %q owner %q, want %q %q", id, w.Asset, w.Owner, asset, LoadSub)
		}
	default:
		return st, fmt.Errorf("create wallet: status %d: %s", resp.Status, resp.Body)
	}
	resp, err = postRetrying(ctx, c, "/v1/adjustments", fmt.Sprintf("seed-fund-%s-%d", id, amount), map[string]any{
		"wallet_id": id.String(), "amount": amount, "asset": asset, "reason": "load test seed funding",
	})
	if err != nil {
		return st, err
	}
	if resp.Status != http.StatusCreated {
		return st, fmt.Errorf("fund wallet: status %d: %s", resp.Status, resp.Body)
	}
	st.fundReplayed = resp.Replayed
	return st, nil
}

// postRetrying retries with the same key while the answer is transient (503,
// 409 key in use, a transport error), which is exactly what the key is for.
func postRetrying(ctx context.Context, c *Client, path, key string, body any) (*Response, error) {
	var lastErr error
	for attempt := 0; attempt < 8; attempt++ {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(time.Duration(attempt*attempt) * 100 * time.Millisecond):
			}
		}
		resp, err := c.Do(ctx, http.MethodPost, path, key, body)
		if err != nil {
			lastErr = err
			continue
		}
		if resp.Status == http.StatusServiceUnavailable ||
			(resp.Status == http.StatusConflict && resp.Problem() == "idempotency_key_in_use") {
			lastErr = fmt.Errorf("POST %s: transient status %d", path, resp.Status)
			continue
		}
		return resp, nil
	}
	return nil, fmt.Errorf("POST %s key %s: giving up: %w", path, key, lastErr)
}
