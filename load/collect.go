package load

import (
	"context"
	"fmt"
	"sync"

	"github.com/agentic-commerce/wallet-ledger/client"
)

// forEach runs fn over items with n workers and returns the first error.
func forEach[T any](ctx context.Context, n int, items []T, fn func(context.Context, T) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ch := make(chan T)
	var once sync.Once
	var first error
	var wg sync.WaitGroup
	for w := 0; w < n; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for it := range ch {
				if err := fn(ctx, it); err != nil {
					once.Do(func() { first = err; cancel() })
				}
			}
		}()
	}
loop:
	for _, it := range items {
		select {
		case ch <- it:
		case <-ctx.Done():
			break loop
		}
	}
	close(ch)
	wg.Wait()
	return first
}

// The readers below take a client that retries reads (readRetry): they run
// right after a fault heals, when 503s are still to be expected.

// Balances reads every wallet's balance through the API.
func Balances(ctx context.Context, c *client.Client, ids []string) (map[string]int64, error) {
	var mu sync.Mutex
	out := make(map[string]int64, len(ids))
	err := forEach(ctx, 16, ids, func(ctx context.Context, id string) error {
		b, _, err := c.GetBalance(ctx, id)
		if err != nil {
			return fmt.Errorf("balance of %s: %w", id, err)
		}
		mu.Lock()
		out[id] = b.Balance
		mu.Unlock()
		return nil
	})
	return out, err
}

// Audits reads every wallet's audit through the API; failures are counted,
// not fatal, so one bad wallet does not hide the others.
func Audits(ctx context.Context, c *client.Client, ids []string) ([]client.BalanceAudit, int) {
	var mu sync.Mutex
	var out []client.BalanceAudit
	var failed int
	_ = forEach(ctx, 16, ids, func(ctx context.Context, id string) error {
		a, _, err := c.AuditBalance(ctx, id)
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			failed++
			return nil
		}
		out = append(out, *a)
		return nil
	})
	return out, failed
}

// MissingTransactions returns the IDs the API cannot find.
func MissingTransactions(ctx context.Context, c *client.Client, ids []string) ([]string, error) {
	var mu sync.Mutex
	var missing []string
	err := forEach(ctx, 16, ids, func(ctx context.Context, id string) error {
		_, _, err := c.GetTransaction(ctx, id)
		switch {
		case err == nil:
		case client.IsCode(err, client.CodeTransactionNotFound):
			mu.Lock()
			missing = append(missing, id)
			mu.Unlock()
		default:
			return fmt.Errorf("transaction %s: %w", id, err)
		}
		return nil
	})
	return missing, err
}
