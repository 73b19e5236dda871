-- The outbox relay (issue 3): where it remembers how far it has read, where it sets aside events it cannot deliver,
-- and the SQL topic it publishes to when RELAY_PUBLISHER=sql. Every table the relay touches is created here; its
-- Watermill subscriber and publisher run with schema auto-initialisation off, so no process but migrate changes
-- the schema.

-- Watermill's DefaultPostgreSQLOffsetsAdapter table for the outbox topic, one row per consumer group (the relay
-- uses consumer group "relay"). IF NOT EXISTS: 003 (read side) creates it too for its own consumer groups.
CREATE TABLE IF NOT EXISTS watermill_offsets_outbox_events (
    consumer_group                varchar(255) NOT NULL,
    offset_acked                  bigint,
    last_processed_transaction_id xid8 NOT NULL,
    PRIMARY KEY (consumer_group)
);

-- The relay reads the outbox in "offset" order (journal order per wallet; relay/ordering.go says why not
-- Watermill's default (transaction_id, offset) order), so it needs the offset indexed on its own.
CREATE INDEX IF NOT EXISTS outbox_events_offset_idx ON outbox_events ("offset");

-- How many times publishing an event failed for a reason that is the event's own (not a broker outage). The row
-- is deleted when the event is finally published; it survives restarts, so a poison event cannot loop forever.
-- event_id is the outbox row's uuid column (varchar(36)), kept as text so even a malformed one can be recorded.
CREATE TABLE relay_failures (
    event_id        varchar(36) PRIMARY KEY,
    attempts        integer NOT NULL CHECK (attempts > 0),
    last_error      text NOT NULL,
    first_failed_at timestamptz NOT NULL DEFAULT now(),
    last_failed_at  timestamptz NOT NULL DEFAULT now()
);

-- Events the relay gave up on after RELAY_MAX_ATTEMPTS attempts. They are counted
-- (relay.events.quarantined), never silently skipped: an operator fixes the cause and re-publishes them.
CREATE TABLE relay_quarantine (
    event_id       varchar(36) PRIMARY KEY,
    event_type     text NOT NULL,
    payload        json,
    metadata       json,
    attempts       integer NOT NULL,
    last_error     text NOT NULL,
    quarantined_at timestamptz NOT NULL DEFAULT now()
);

-- RELAY_PUBLISHER=sql publishes to the Watermill SQL topic "wallet_events" (DefaultPostgreSQLSchema table and
-- offsets table, Watermill's DDL). Downstream subscribers read it with their own consumer group.
CREATE TABLE IF NOT EXISTS watermill_wallet_events (
    "offset"       bigserial,
    uuid           varchar(36) NOT NULL,
    created_at     timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP,
    payload        json DEFAULT NULL,
    metadata       json DEFAULT NULL,
    transaction_id xid8 NOT NULL,
    PRIMARY KEY (transaction_id, "offset")
);

CREATE TABLE IF NOT EXISTS watermill_offsets_wallet_events (
    consumer_group                varchar(255) NOT NULL,
    offset_acked                  bigint,
    last_processed_transaction_id xid8 NOT NULL,
    PRIMARY KEY (consumer_group)
);
