package load

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"
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

// getWithRetry reads a GET route, waiting out 503s for a few seconds: the
// checks run right after a fault heals.
func getWithRetry(ctx context.Context, c *Client, path string) (*Response, error) {
	var resp *Response
	var err error
	for attempt := 0; attempt < 20; attempt++ {
		resp, err = c.Do(ctx, http.MethodGet, path, "", nil)
		if err == nil && resp.Status != http.StatusServiceUnavailable {
			return resp, nil
		}
		if !sleepCtx(ctx, time.Duration(250*attemptBackoff(attempt))*time.Millisecond) {
			break
		}
	}
	if err != nil {
		return nil, err
	}
	return resp, nil
}

// Balances reads every wallet's balance through the API.
func Balances(ctx context.Context, c *Client, ids []string) (map[string]int64, error) {
	var mu sync.Mutex
	out := make(map[string]int64, len(ids))
	err := forEach(ctx, 16, ids, func(ctx context.Context, id string) error {
		resp, err := getWithRetry(ctx, c, "/v1/wallets/"+id+"/balance")
		if err != nil {
			return err
		}
		if resp.Status != http.StatusOK {
			return fmt.Errorf("balance of %s: status %d: %s", id, resp.Status, resp.Body)
		}
		var b Balance
		if err := resp.JSON(&b); err != nil {
			return err
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
func Audits(ctx context.Context, c *Client, ids []string) ([]Audit, int) {
	var mu sync.Mutex
	var out []Audit
	var failed int
	_ = forEach(ctx, 16, ids, func(ctx context.Context, id string) error {
		resp, err := getWithRetry(ctx, c, "/v1/wallets/"+id+"/balance/audit")
		var a Audit
		if err == nil && resp.Status == http.StatusOK {
			err = resp.JSON(&a)
		} else if err == nil {
			err = fmt.Errorf("status %d", resp.Status)
		}
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			failed++
			return nil
		}
		out = append(out, a)
		return nil
	})
	return out, failed
}

// MissingTransactions returns the IDs the API cannot find.
func MissingTransactions(ctx context.Context, c *Client, ids []string) ([]string, error) {
	var mu sync.Mutex
	var missing []string
	err := forEach(ctx, 16, ids, func(ctx context.Context, id string) error {
		resp, err := getWithRetry(ctx, c, "/v1/transactions/"+id)
		if err != nil {
			return err
		}
		switch resp.Status {
		case http.StatusOK:
		case http.StatusNotFound:
			mu.Lock()
			missing = append(missing, id)
			mu.Unlock()
		default:
			return fmt.Errorf("transaction %s: status %d", id, resp.Status)
		}
		return nil
	})
	return missing, err
}

func attemptBackoff(attempt int) int64 {
	if attempt > 4 {
		return 4
	}
	return int64(attempt + 1)
}
