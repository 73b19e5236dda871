package load

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/agentic-commerce/wallet-ledger/eventstore"
)

// GrowConfig sizes a grown ledger: what a ledger looks like after months of traffic, written straight into a fresh
// database with set-based SQL in minutes instead of through the API in days.
type GrowConfig struct {
	// Entries is the size of the journal: two entries per transaction (a funding of each wallet, the holds, and
	// transfers for the rest).
	Entries int
	// Wallets are WalletID(0..Wallets-1), owned by LoadSub like the load generator's, so its profiles run on the
	// grown wallets (WalletID(0) is the busy one: see BusyEvery).
	Wallets int
	Asset   string
	// SystemWalletRoot is SYSTEM_WALLET_ID: the fundings' counter-entries go to its asset's system wallet.
	SystemWalletRoot uuid.UUID
	// InitialBalance funds each wallet once; transfers move 1 to 100, so no balance ever goes below zero.
	InitialBalance int64
	// BusyEvery makes every BusyEvery-th transfer credit WalletID(0): a wallet with a long history.
	BusyEvery int
	// Holds are active holds (a hold transaction each, two entries) on wallets spread over the population.
	Holds int
	// Mandates are active spending mandates for agents, spread over the population.
	Mandates int
	// Recent is how many of the latest transfers also left what a live write leaves beside the journal: an outbox
	// event (already relayed and read by every consumer) and an unexpired idempotency key.
	Recent int
	// Log, when set, is told each step and how long it took.
	Log func(step string, took time.Duration)
}

// GrowResult is what a Grow call found or made.
type GrowResult struct {
	AlreadyGrown bool // the database had been grown before: nothing was written
	Wallets      int64
	Transactions int64
	Entries      int64
	Elapsed      time.Duration
}

// growSub is the sub of every grown journal transaction; it marks a database as grown.
const growSub = "walletctl-grow"

func (c *GrowConfig) defaults() error {
	if c.Asset == "" {
		c.Asset = "USD"
	}
	if c.SystemWalletRoot == uuid.Nil {
		c.SystemWalletRoot = DefaultSystemWalletID
	}
	if c.InitialBalance == 0 {
		c.InitialBalance = 10_000_000
	}
	if c.BusyEvery == 0 {
		c.BusyEvery = 100
	}
	switch {
	case !validAsset(c.Asset):
		return fmt.Errorf("grow: invalid asset %q", c.Asset)
	case c.Wallets < 2 || c.Wallets > 10_000_000:
		return errors.New("grow: wallets must be within 2..10000000")
	case c.Holds < 0 || c.Mandates < 0 || c.Recent < 0 || c.BusyEvery < 1:
		return errors.New("grow: holds, mandates, recent and busy-every must not be negative")
	case c.InitialBalance < 10_000 || c.InitialBalance > 1<<40:
		return errors.New("grow: the initial balance must be within 10000..2^40")
	case c.transfers() < 1:
		return fmt.Errorf("grow: %d entries do not leave room for a transfer after funding %d wallets and %d holds",
			c.Entries, c.Wallets, c.Holds)
	case int64(c.transfers())*100 > c.InitialBalance*int64(c.Wallets):
		return errors.New("grow: too many transfers for the funding: raise the initial balance")
	}
	if c.Recent > c.transfers() {
		c.Recent = c.transfers()
	}
	return nil
}

func (c *GrowConfig) transfers() int { return (c.Entries - 2*c.Wallets - 2*c.Holds) / 2 }

// Grow writes a consistent ledger of about cfg.Entries journal entries into the fresh, migrated database behind
// conn: wallets and their projections, the journal, the history read model, the audit's verified prefix sums,
// holds, mandates and recent outbox events and idempotency keys, each summed from the journal it writes, so every
// audit and the projection rebuild find it clean. A database already grown is left as it is (AlreadyGrown); one
// with any other journal entry is refused, and so is one a grow stopped part way (recreate it).
//
// The session runs with session_replication_role = replica (a superuser's setting): the ledger's per-row triggers
// and foreign keys would make a bulk load hours long. What they guard is checked afterwards by the full audit and
// the projection rebuild, which bench-grown runs; the generation itself cannot break it (every transaction gets
// exactly its balanced entries, in one wallet's asset). Indexes the load would update row by row are dropped and
// built again once, as the migrations define them. Each step commits on its own: one transaction of minutes would
// hold back every snapshot's xmin on the whole server, and with it every outbox reader of every other database.
func Grow(ctx context.Context, conn *pgx.Conn, cfg GrowConfig) (GrowResult, error) {
	start := time.Now()
	if err := cfg.defaults(); err != nil {
		return GrowResult{}, err
	}
	res := GrowResult{}
	var grown, complete, other bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM journal_transactions WHERE sub = $1),
		EXISTS (SELECT 1 FROM audit_wallet_sums), EXISTS (SELECT 1 FROM journal_entries)`, growSub).
		Scan(&grown, &complete, &other); err != nil {
		return res, fmt.Errorf("grow: inspect the database: %w", err)
	}
	switch {
	case grown && !complete:
		return res, errors.New("grow: a previous grow of this database stopped part way; drop and recreate it")
	case grown:
		res.AlreadyGrown = true
		err := conn.QueryRow(ctx, `SELECT (SELECT count(*) FROM wallets), (SELECT count(*) FROM journal_transactions),
			(SELECT count(*) FROM journal_entries)`).Scan(&res.Wallets, &res.Transactions, &res.Entries)
		res.Elapsed = time.Since(start)
		return res, err
	case other:
		return res, errors.New("grow: the journal already has entries; grow a fresh, migrated database")
	}
	defer func() {
		// The connection is the caller's: leave it as it came.
		cleanup := context.WithoutCancel(ctx)
		_, _ = conn.Exec(cleanup, `DROP TABLE IF EXISTS grow_wallets, grow_transfers, grow_holds, grow_sums`)
		_, _ = conn.Exec(cleanup, `RESET ALL`)
	}()
	for _, s := range growSession {
		if _, err := conn.Exec(ctx, s); err != nil {
			return res, fmt.Errorf("grow: %s: %w", s, err)
		}
	}
	if err := copyWallets(ctx, conn, cfg.Wallets); err != nil {
		return res, err
	}
	sys := eventstore.SystemWalletID(cfg.SystemWalletRoot, cfg.Asset)
	args := pgx.NamedArgs{
		"wallets": cfg.Wallets, "transfers": cfg.transfers(), "holds": cfg.Holds, "mandates": cfg.Mandates,
		"recent": cfg.Recent, "asset": cfg.Asset, "sys": sys, "funding": cfg.InitialBalance, "busy": cfg.BusyEvery,
		"owner": LoadSub, "sub": growSub, "sysowner": eventstore.SystemOwner,
	}
	var tx pgx.Tx
	for _, st := range growSteps {
		began := time.Now()
		if tx == nil {
			var err error
			if tx, err = conn.Begin(ctx); err != nil {
				return res, fmt.Errorf("grow: %s: begin: %w", st.name, err)
			}
		}
		if _, err := tx.Exec(ctx, st.sql, args); err != nil {
			_ = tx.Rollback(context.WithoutCancel(ctx))
			return res, fmt.Errorf("grow: %s: %w", st.name, err)
		}
		if !st.withNext {
			if err := tx.Commit(ctx); err != nil {
				return res, fmt.Errorf("grow: %s: commit: %w", st.name, err)
			}
			tx = nil
		}
		if cfg.Log != nil {
			cfg.Log(st.name, time.Since(began))
		}
	}
	if err := conn.QueryRow(ctx, `SELECT (SELECT count(*) FROM wallets), (SELECT count(*) FROM journal_transactions),
		(SELECT count(*) FROM journal_entries)`).Scan(&res.Wallets, &res.Transactions, &res.Entries); err != nil {
		return res, fmt.Errorf("grow: count: %w", err)
	}
	// Autovacuum may be off (it is on the CI machine) or behind: the grown tables get their statistics and their
	// visibility map now, or the planner guesses and index-only scans visit the heap.
	for _, table := range []string{"wallets", "balance_projections", "journal_transactions", "journal_entries",
		"wallet_history", "wallet_history_heads", "audit_wallet_sums", "holds", "mandates", "outbox_events",
		"idempotency_keys"} {
		began := time.Now()
		if _, err := conn.Exec(ctx, "VACUUM (ANALYZE) "+table); err != nil {
			return res, fmt.Errorf("grow: vacuum %s: %w", table, err)
		}
		if cfg.Log != nil {
			cfg.Log("vacuum analyze "+table, time.Since(began))
		}
	}
	res.Elapsed = time.Since(start)
	return res, nil
}

// copyWallets loads the IDs of WalletID(0..n-1) into the temporary table grow_wallets(i, id): they are SHA-1
// derived in Go, and every later step joins on them.
func copyWallets(ctx context.Context, conn *pgx.Conn, n int) error {
	if _, err := conn.Exec(ctx, `CREATE TEMP TABLE grow_wallets (i int PRIMARY KEY, id uuid NOT NULL)`); err != nil {
		return fmt.Errorf("grow: wallet table: %w", err)
	}
	rows := make([][]any, n)
	for i := range rows {
		rows[i] = []any{i, WalletID(i)}
	}
	if _, err := conn.CopyFrom(ctx, pgx.Identifier{"grow_wallets"}, []string{"i", "id"}, pgx.CopyFromRows(rows)); err != nil {
		return fmt.Errorf("grow: copy wallet IDs: %w", err)
	}
	_, err := conn.Exec(ctx, `ANALYZE grow_wallets`)
	return err
}

// growSession: triggers and foreign keys off (see Grow), no statement timeout, memory for the sorts and index
// builds, and no wait for the WAL flush of each step's COMMIT (the database is unused until Grow returns). Grow
// resets them before it returns.
var growSession = []string{
	`SET session_replication_role = replica`,
	`SET statement_timeout = 0`,
	`SET lock_timeout = 0`,
	`SET work_mem = '256MB'`,
	`SET maintenance_work_mem = '512MB'`,
	`SET synchronous_commit = off`,
}
