-- The ledger core: wallets, the append-only journal, the balance projection, idempotency keys and the outbox.
-- The database refuses what the ledger forbids, so neither a bug nor hand-written SQL can break an invariant.

CREATE TABLE wallets (
    wallet_id  uuid PRIMARY KEY,
    asset      text NOT NULL CONSTRAINT wallets_asset_format CHECK (asset ~ '^[A-Z0-9]{3,12}$'),
    owner      text NOT NULL CONSTRAINT wallets_owner_length CHECK (length(owner) BETWEEN 1 AND 255),
    kind       text NOT NULL DEFAULT 'user' CONSTRAINT wallets_kind CHECK (kind IN ('user', 'system')),
    metadata   jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at timestamptz NOT NULL DEFAULT now(),
    -- Targets of the composite foreign keys that tie entries and projections to the wallet's asset and kind.
    CONSTRAINT wallets_id_asset_key UNIQUE (wallet_id, asset),
    CONSTRAINT wallets_id_asset_kind_key UNIQUE (wallet_id, asset, kind)
);
CREATE INDEX wallets_owner_idx ON wallets (owner, created_at);

-- Journal positions are drawn before the write so a response can be built before COMMIT.
CREATE SEQUENCE journal_position_seq AS bigint;

CREATE TABLE journal_transactions (
    transaction_id  uuid PRIMARY KEY,
    position        bigint NOT NULL CONSTRAINT journal_transactions_position_key UNIQUE,
    kind            text NOT NULL CONSTRAINT journal_transactions_kind CHECK (kind ~ '^[a-z_]{1,32}$'),
    asset           text NOT NULL,
    amount          bigint NOT NULL,
    sub             text NOT NULL,
    idempotency_key text NOT NULL,
    request_hash    bytea NOT NULL,
    description     text,
    metadata        jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at      timestamptz NOT NULL,
    -- A second guard beside idempotency_keys: one caller's key moves money at most once, forever.
    CONSTRAINT journal_transactions_sub_key UNIQUE (sub, idempotency_key)
);

CREATE TABLE journal_entries (
    entry_id       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    transaction_id uuid NOT NULL REFERENCES journal_transactions (transaction_id),
    wallet_id      uuid NOT NULL,
    asset          text NOT NULL,
    -- 'held' entries move money between a wallet's available and held parts (holds); both count in its balance.
    bucket         text NOT NULL DEFAULT 'available' CONSTRAINT journal_entries_bucket CHECK (bucket IN ('available', 'held')),
    amount         bigint NOT NULL CONSTRAINT journal_entries_amount_nonzero CHECK (amount <> 0),
    -- An entry's asset must be its wallet's asset.
    CONSTRAINT journal_entries_wallet_asset_fkey FOREIGN KEY (wallet_id, asset) REFERENCES wallets (wallet_id, asset)
);
CREATE INDEX journal_entries_wallet_idx ON journal_entries (wallet_id, entry_id);
CREATE INDEX journal_entries_transaction_idx ON journal_entries (transaction_id);

CREATE TABLE balance_projections (
    wallet_id  uuid PRIMARY KEY,
    asset      text NOT NULL,
    kind       text NOT NULL,
    balance    bigint NOT NULL DEFAULT 0,
    held       bigint NOT NULL DEFAULT 0,
    version    bigint NOT NULL DEFAULT 0,
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT balance_projections_wallet_fkey FOREIGN KEY (wallet_id, asset, kind)
        REFERENCES wallets (wallet_id, asset, kind),
    -- A user wallet never goes below zero, neither in total nor in what is available; system wallets may.
    CONSTRAINT balance_projections_non_negative CHECK (kind = 'system' OR (held >= 0 AND balance >= held))
);

CREATE TABLE idempotency_keys (
    sub             text NOT NULL,
    idempotency_key text NOT NULL,
    request_hash    bytea NOT NULL,
    status_code     integer NOT NULL,
    response_body   bytea NOT NULL,
    location        text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    expires_at      timestamptz NOT NULL,
    PRIMARY KEY (sub, idempotency_key)
);
CREATE INDEX idempotency_keys_expires_idx ON idempotency_keys (expires_at);

-- The outbox uses Watermill SQL's PostgreSQL schema, so the relay's subscriber reads it as a topic table.
CREATE TABLE outbox_events (
    "offset"       bigserial,
    uuid           varchar(36) NOT NULL,
    created_at     timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP,
    payload        json DEFAULT NULL,
    metadata       json DEFAULT NULL,
    transaction_id xid8 NOT NULL,
    PRIMARY KEY (transaction_id, "offset")
);

-- The journal is append-only.
CREATE FUNCTION ledger_forbid_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'ledger: % on % is forbidden, the journal is append-only', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'LJ001';
END;
$$;

CREATE TRIGGER journal_transactions_append_only BEFORE UPDATE OR DELETE ON journal_transactions
    FOR EACH ROW EXECUTE FUNCTION ledger_forbid_change();
CREATE TRIGGER journal_transactions_no_truncate BEFORE TRUNCATE ON journal_transactions
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_forbid_change();
CREATE TRIGGER journal_entries_append_only BEFORE UPDATE OR DELETE ON journal_entries
    FOR EACH ROW EXECUTE FUNCTION ledger_forbid_change();
CREATE TRIGGER journal_entries_no_truncate BEFORE TRUNCATE ON journal_entries
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_forbid_change();

-- Checked at COMMIT: a journal transaction has at least two entries and they sum to exactly zero. It fires for the
-- transaction row (so one with no entries is caught) and for every entry (so none can be added to an old one later).
CREATE FUNCTION ledger_check_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    entry_count bigint;
    total       numeric;
BEGIN
    SELECT count(*), coalesce(sum(amount), 0) INTO entry_count, total
    FROM journal_entries WHERE transaction_id = NEW.transaction_id;
    IF entry_count < 2 THEN
        RAISE EXCEPTION 'ledger: transaction % has % entries, at least two are required', NEW.transaction_id, entry_count
            USING ERRCODE = 'LJ002';
    END IF;
    IF total <> 0 THEN
        RAISE EXCEPTION 'ledger: transaction % does not balance, its entries sum to %', NEW.transaction_id, total
            USING ERRCODE = 'LJ003';
    END IF;
    RETURN NULL;
END;
$$;

CREATE CONSTRAINT TRIGGER journal_transactions_balanced AFTER INSERT ON journal_transactions
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ledger_check_balanced();
CREATE CONSTRAINT TRIGGER journal_entries_balanced AFTER INSERT ON journal_entries
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ledger_check_balanced();
