-- Lists (issue 18): every list is read newest first through an index on its filter columns followed by its order
-- key, from the cursor down, stopped by LIMIT, so a page costs the same on a ledger of ten million entries as on
-- a small one (eventstore/lists_plan_test.go proves each plan). The order keys never change once a row is
-- written: (created_at, id) for wallets, holds, mandates and the by-journal transaction list; the by-wallet
-- transaction list reads journal_entries' existing (wallet_id, entry_id) index.
--
-- Plain CREATE INDEX: on a large existing ledger, build them beforehand with CREATE INDEX CONCURRENTLY under these
-- names (IF NOT EXISTS then skips them here). Indexes superseded by a longer one with the same leading columns
-- are dropped: the longer one serves every query the shorter did.

-- GET /v1/wallets: the caller's own wallets; an admin's list of all, or of one owner or one asset.
CREATE INDEX IF NOT EXISTS wallets_owner_list_idx ON wallets (owner, created_at, wallet_id);
DROP INDEX IF EXISTS wallets_owner_idx;
CREATE INDEX IF NOT EXISTS wallets_list_idx ON wallets (created_at, wallet_id);
CREATE INDEX IF NOT EXISTS wallets_asset_list_idx ON wallets (asset, created_at, wallet_id);
-- ... and the wallets an agent may spend under an active mandate.
CREATE INDEX IF NOT EXISTS mandates_agent_active_idx ON mandates (agent, wallet_id) WHERE status = 'active';

-- GET /v1/wallets/{id}/holds: all, by status, or (an agent's view) those the caller made.
CREATE INDEX IF NOT EXISTS holds_wallet_list_idx ON holds (wallet_id, created_at, hold_id);
DROP INDEX IF EXISTS holds_wallet_idx;
CREATE INDEX IF NOT EXISTS holds_wallet_status_list_idx ON holds (wallet_id, status, created_at, hold_id);
CREATE INDEX IF NOT EXISTS holds_wallet_sub_list_idx ON holds (wallet_id, sub, created_at, hold_id);

-- GET /v1/wallets/{id}/mandates: all, or one agent's.
CREATE INDEX IF NOT EXISTS mandates_wallet_list_idx ON mandates (wallet_id, created_at, mandate_id);
DROP INDEX IF EXISTS mandates_wallet_idx;
CREATE INDEX IF NOT EXISTS mandates_wallet_agent_list_idx ON mandates (wallet_id, agent, created_at, mandate_id);

-- GET /v1/transactions by journal: an admin's list (created_after/created_before are ranges of it), and the
-- transactions made under one mandate, all of them (its wallet's owner) or its agent's. They take their inserts at
-- the right-hand edge of the tree, and the last two only for transactions made under a mandate.
CREATE INDEX IF NOT EXISTS journal_transactions_list_idx ON journal_transactions (created_at, transaction_id);
CREATE INDEX IF NOT EXISTS journal_transactions_mandate_list_idx ON journal_transactions (mandate_id, created_at, transaction_id)
    WHERE mandate_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS journal_transactions_mandate_sub_list_idx
    ON journal_transactions (mandate_id, sub, created_at, transaction_id) WHERE mandate_id IS NOT NULL;
