package client_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"

	"github.com/agentic-commerce/wallet-ledger/client"
)

func ExampleNew() {
	c, err := client.New("http://localhost:8080", client.WithToken(os.Getenv("WALLET_TOKEN")))
	if err != nil {
		log.Fatal(err)
	}
	bal, _, err := c.GetBalance(context.Background(), "3f2c1a9e-8b7d-4c6e-9f01-23456789abcd")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(bal.Available, bal.Asset)
}

// A transfer reports the idempotency key it was sent with. When the outcome is unknown (a network error or a
// 503 after every retry), send it again with that key: the server answers from the first attempt if it committed,
// so the money moves once.
func ExampleClient_Transfer() {
	c, err := client.New("http://localhost:8080", client.WithToken(os.Getenv("WALLET_TOKEN")))
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	req := client.TransferRequest{
		FromWalletID: "3f2c1a9e-8b7d-4c6e-9f01-23456789abcd",
		ToWalletID:   "9b1deb4d-3b7d-4bad-9bdd-2b0d7b3dcb6d",
		Amount:       1250, // minor units: 12.50 USD
		Asset:        "USD",
		Description:  "order 1042",
	}
	tx, resp, err := c.Transfer(ctx, req)
	var netErr *client.NetworkError
	if errors.As(err, &netErr) || client.IsCode(err, client.CodeUnavailable) {
		tx, resp, err = c.Transfer(ctx, req, client.WithIdempotencyKey(resp.IdempotencyKey))
	}
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(tx.TransactionID, resp.IdempotencyKey, resp.Replayed)
}

// Refusals are *client.Error values carrying the problem code.
func ExampleError() {
	c, err := client.New("http://localhost:8080", client.WithToken(os.Getenv("WALLET_TOKEN")))
	if err != nil {
		log.Fatal(err)
	}
	_, _, err = c.Transfer(context.Background(), client.TransferRequest{
		FromWalletID: "3f2c1a9e-8b7d-4c6e-9f01-23456789abcd", ToWalletID: "9b1deb4d-3b7d-4bad-9bdd-2b0d7b3dcb6d",
		Amount: 1 << 40, Asset: "USD",
	})
	var apiErr *client.Error
	if errors.As(err, &apiErr) {
		switch apiErr.Code {
		case client.CodeInsufficientFunds:
			fmt.Println("not enough money:", apiErr.Detail)
		case client.CodeValidation:
			for _, f := range apiErr.Errors {
				fmt.Println(f.Field, f.Message)
			}
		default:
			fmt.Println(apiErr.StatusCode, apiErr.Code)
		}
	}
}

// Lists answer one page at a time, newest first; pass NextCursor back (with the same filters) until HasMore is
// false. A walk sees every wallet that existed when it began exactly once.
func ExampleClient_ListWallets() {
	c, err := client.New("http://localhost:8080", client.WithToken(os.Getenv("WALLET_TOKEN")))
	if err != nil {
		log.Fatal(err)
	}
	opts := client.ListWalletsOptions{Asset: "USD", PageOptions: client.PageOptions{Limit: 100}}
	for {
		page, resp, err := c.ListWallets(context.Background(), opts)
		if err != nil {
			log.Fatal(err) // a *client.Error carries the RequestID to quote to the operator
		}
		for _, w := range page.Data {
			fmt.Println(w.WalletID, w.Available)
		}
		if !page.HasMore {
			if resp.RateLimit != nil {
				fmt.Println("requests left in the budget:", resp.RateLimit.Remaining)
			}
			break
		}
		opts.Cursor = *page.NextCursor
	}
}
