-- The read side (issue 4): the wallet history read model, the checkpoints of the asynchronous consumers of the
-- outbox, and the audit's verified journal prefix sums. Everything here is derived from the journal and can be
-- dropped and rebuilt; nothing here guards money.

-- One row per journal entry of a wallet, with the wallet's balance and held amount right after it. Rows are only
-- ever appended, per wallet in entry_id order, so (wallet_id, entry_id) is a stable pagination key.
CREATE TABLE wallet_history (
    wallet_id      uuid NOT NULL,
    entry_id       bigint NOT NULL,
    transaction_id uuid NOT NULL,
    position       bigint NOT NULL,
    kind           text NOT NULL,
    bucket         text NOT NULL,
    amount         bigint NOT NULL,
    balance_after  bigint NOT NULL,
    held_after     bigint NOT NULL,
    created_at     timestamptz NOT NULL,
    PRIMARY KEY (wallet_id, entry_id)
);

-- How far each wallet's history has been projected: the last entry and the running sums after it.
CREATE TABLE wallet_history_heads (
    wallet_id     uuid PRIMARY KEY,
    last_entry_id bigint NOT NULL,
    position      bigint NOT NULL,
    balance       bigint NOT NULL,
    held          bigint NOT NULL,
    updated_at    timestamptz NOT NULL DEFAULT now()
);

-- Where each asynchronous consumer stands in the outbox, in Watermill's own order (transaction xid8, offset): a row
-- is read only once its writing transaction is older than every running one, so nothing is skipped.
CREATE TABLE read_side_checkpoints (
    consumer    text PRIMARY KEY,
    last_xid    xid8 NOT NULL DEFAULT '0',
    last_offset bigint NOT NULL DEFAULT 0,
    updated_at  timestamptz NOT NULL DEFAULT now()
);
INSERT INTO read_side_checkpoints (consumer) VALUES ('history'), ('audit');

-- The incremental audit's verified prefix sums: the journal is append-only, so the sum of a wallet's entries up to
-- last_entry_id never changes, and the next audit only adds the entries after it.
CREATE TABLE audit_wallet_sums (
    wallet_id     uuid PRIMARY KEY,
    last_entry_id bigint NOT NULL,
    balance       bigint NOT NULL,
    held          bigint NOT NULL,
    entry_count   bigint NOT NULL,
    checked_at    timestamptz NOT NULL DEFAULT now()
);

-- The outcome of the last audit of each mode, so an operator (and the metrics after a restart) can see when the
-- ledger was last found clean.
CREATE TABLE audit_runs (
    mode          text PRIMARY KEY,
    started_at    timestamptz NOT NULL,
    finished_at   timestamptz NOT NULL,
    discrepancies bigint NOT NULL,
    last_clean_at timestamptz
);
