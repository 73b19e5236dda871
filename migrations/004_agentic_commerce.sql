-- Agentic commerce: spending mandates for agents, holds (two-phase transfers) and refunds.
-- Money still moves only through the journal; these tables record the state machines around it, and every row
-- that a write changes is locked in that write's transaction.

-- A mandate lets an agent (a JWT sub) spend from one wallet within limits its owner set. spent_in_period is the
-- amount charged in the period that starts at period_start; a spend in a later period starts it again from zero.
CREATE TABLE mandates (
    mandate_id           uuid PRIMARY KEY,
    wallet_id            uuid NOT NULL,
    asset                text NOT NULL,
    agent                text NOT NULL CONSTRAINT mandates_agent_length CHECK (length(agent) BETWEEN 1 AND 255),
    granted_by           text NOT NULL,
    max_per_transaction  bigint CONSTRAINT mandates_max_per_transaction_positive CHECK (max_per_transaction > 0),
    limit_amount         bigint CONSTRAINT mandates_limit_positive CHECK (limit_amount > 0),
    limit_period         text CONSTRAINT mandates_limit_period CHECK (limit_period IN ('day', 'week', 'month', 'total')),
    allowed_destinations uuid[],
    description          text,
    status               text NOT NULL DEFAULT 'active' CONSTRAINT mandates_status CHECK (status IN ('active', 'revoked')),
    expires_at           timestamptz NOT NULL,
    created_at           timestamptz NOT NULL,
    revoked_at           timestamptz,
    revoked_by           text,
    period_start         timestamptz NOT NULL,
    spent_in_period      bigint NOT NULL DEFAULT 0 CONSTRAINT mandates_spent_non_negative CHECK (spent_in_period >= 0),
    updated_at           timestamptz NOT NULL,
    CONSTRAINT mandates_wallet_fkey FOREIGN KEY (wallet_id, asset) REFERENCES wallets (wallet_id, asset),
    CONSTRAINT mandates_limit_complete CHECK ((limit_amount IS NULL) = (limit_period IS NULL)),
    -- The database refuses an overspend even if the code that checks the limit were wrong.
    CONSTRAINT mandates_within_limit CHECK (limit_amount IS NULL OR spent_in_period <= limit_amount)
);
CREATE INDEX mandates_wallet_idx ON mandates (wallet_id, created_at);
CREATE INDEX mandates_agent_idx ON mandates (wallet_id, agent) WHERE status = 'active';

-- Journal transactions name the mandate they spent under, the hold they belong to and the transaction they refund.
ALTER TABLE journal_transactions
    ADD COLUMN mandate_id uuid CONSTRAINT journal_transactions_mandate_fkey REFERENCES mandates (mandate_id),
    ADD COLUMN hold_id uuid,
    ADD COLUMN refund_of uuid CONSTRAINT journal_transactions_refund_of_fkey REFERENCES journal_transactions (transaction_id);
CREATE INDEX journal_transactions_refund_of_idx ON journal_transactions (refund_of) WHERE refund_of IS NOT NULL;

-- A hold reserves amount of wallet_id's available balance until it is captured (once, up to amount), voided or
-- expired. mandate_period_start is the mandate period the hold was charged to, so only a release within that
-- same period gives the room back.
CREATE TABLE holds (
    hold_id                uuid PRIMARY KEY,
    wallet_id              uuid NOT NULL,
    asset                  text NOT NULL,
    to_wallet_id           uuid,
    amount                 bigint NOT NULL CONSTRAINT holds_amount_positive CHECK (amount > 0),
    captured_amount        bigint NOT NULL DEFAULT 0,
    status                 text NOT NULL CONSTRAINT holds_status CHECK (status IN ('active', 'captured', 'voided', 'expired')),
    expires_at             timestamptz NOT NULL,
    sub                    text NOT NULL,
    mandate_id             uuid CONSTRAINT holds_mandate_fkey REFERENCES mandates (mandate_id),
    mandate_period_start   timestamptz,
    description            text,
    metadata               jsonb NOT NULL DEFAULT '{}'::jsonb,
    transaction_id         uuid NOT NULL CONSTRAINT holds_transaction_fkey REFERENCES journal_transactions (transaction_id),
    release_transaction_id uuid CONSTRAINT holds_release_transaction_fkey REFERENCES journal_transactions (transaction_id),
    created_at             timestamptz NOT NULL,
    updated_at             timestamptz NOT NULL,
    CONSTRAINT holds_wallet_fkey FOREIGN KEY (wallet_id, asset) REFERENCES wallets (wallet_id, asset),
    CONSTRAINT holds_to_wallet_fkey FOREIGN KEY (to_wallet_id, asset) REFERENCES wallets (wallet_id, asset),
    CONSTRAINT holds_captured_range CHECK (captured_amount BETWEEN 0 AND amount),
    CONSTRAINT holds_captured_status CHECK ((status = 'captured') = (captured_amount > 0)),
    CONSTRAINT holds_release_status CHECK ((status = 'active') = (release_transaction_id IS NULL))
);
CREATE INDEX holds_active_expiry_idx ON holds (expires_at) WHERE status = 'active';
CREATE INDEX holds_wallet_idx ON holds (wallet_id, created_at);
