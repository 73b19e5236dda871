-- Signed webhooks and the events feed (issue 19): how merchants and agents outside the cluster subscribe to the
-- ledger. The relay fills the feed and the deliveries from the outbox, as the Watermill consumer group "webhooks"
-- (its offsets row, which also holds the outbox prune back, appears when the relay first subscribes); the API
-- manages endpoints, lists deliveries and serves the feed.

-- The events feed: every outbox event the relay has recorded, numbered by seq in the order it recorded them. One
-- writer at a time (the relay's fan-out holds an advisory lock while it inserts), so a seq is committed only after
-- every lower one: a reader paging by seq sees each event once and in order while writes continue. The relay reads
-- the outbox in offset order, so seq order is journal order for every wallet. Unlike the outbox, which the relay
-- prunes, this table keeps every event.
CREATE TABLE events (
    seq         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id    uuid NOT NULL CONSTRAINT events_event_id_key UNIQUE,
    type        text NOT NULL,
    -- Who may see the event: the owners of the user wallets it touches (and, for an event about a webhook
    -- endpoint, the endpoint's owner). Admins see every event.
    audience    text[] NOT NULL,
    wallet_ids  uuid[] NOT NULL,
    occurred_at timestamptz NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    -- json, not jsonb: the exact bytes published downstream and signed for webhooks.
    payload     json NOT NULL
);
CREATE INDEX events_audience_idx ON events USING gin (audience);
CREATE INDEX events_wallet_ids_idx ON events USING gin (wallet_ids);
CREATE INDEX events_type_idx ON events (type, seq);

-- An event never changes once recorded (an operator may still delete old rows to bound the table).
CREATE TRIGGER events_no_update BEFORE UPDATE ON events
    FOR EACH ROW EXECUTE FUNCTION ledger_forbid_change();

-- A URL that receives the events its owner may see (all of them for an endpoint an admin created), filtered by
-- event_types (empty: every type). Secrets are sealed with AES-256-GCM under WEBHOOK_SECRET_KEY, so a dump of the
-- database alone does not reveal them. A deleted endpoint stays as a tombstone without its secrets, so a repeated
-- DELETE answers the same.
CREATE TABLE webhook_endpoints (
    endpoint_id                uuid PRIMARY KEY,
    owner                      text NOT NULL CONSTRAINT webhook_endpoints_owner_length CHECK (length(owner) BETWEEN 1 AND 255),
    all_events                 boolean NOT NULL DEFAULT false,
    url                        text NOT NULL CONSTRAINT webhook_endpoints_url_length CHECK (length(url) BETWEEN 1 AND 2048),
    event_types                text[] NOT NULL DEFAULT '{}',
    description                text,
    status                     text NOT NULL CONSTRAINT webhook_endpoints_status CHECK (status IN ('enabled', 'disabled', 'deleted')),
    disabled_reason            text CONSTRAINT webhook_endpoints_disabled_reason CHECK (disabled_reason IN ('requested', 'failing')),
    secret                     bytea,
    -- The secret before the last rotation keeps signing beside the new one until previous_secret_expires_at.
    previous_secret            bytea,
    previous_secret_expires_at timestamptz,
    -- Set at the first failed attempt after a success, cleared by the next success: an endpoint failing
    -- continuously for WEBHOOK_DISABLE_AFTER (3 days) is disabled.
    failing_since              timestamptz,
    created_at                 timestamptz NOT NULL,
    updated_at                 timestamptz NOT NULL,
    CONSTRAINT webhook_endpoints_secret_kept CHECK ((status = 'deleted') = (secret IS NULL)),
    CONSTRAINT webhook_endpoints_reason_when_disabled CHECK ((status = 'disabled') = (disabled_reason IS NOT NULL)),
    CONSTRAINT webhook_endpoints_previous_complete CHECK ((previous_secret IS NULL) = (previous_secret_expires_at IS NULL))
);
CREATE INDEX webhook_endpoints_owner_idx ON webhook_endpoints (owner, created_at) WHERE status <> 'deleted';

-- One row per (endpoint, event) to deliver: pending until a 2xx (delivered) or until the retry schedule runs out
-- (failed). next_attempt_at is also the lease of an attempt in flight: the relay moves it past the attempt's
-- timeout before sending, so a relay killed mid-delivery re-sends only what was in flight, after the lease.
CREATE TABLE webhook_deliveries (
    delivery_id         uuid PRIMARY KEY,
    endpoint_id         uuid NOT NULL CONSTRAINT webhook_deliveries_endpoint_fkey REFERENCES webhook_endpoints (endpoint_id),
    event_seq           bigint NOT NULL CONSTRAINT webhook_deliveries_event_fkey REFERENCES events (seq),
    event_id            uuid NOT NULL,
    event_type          text NOT NULL,
    status              text NOT NULL CONSTRAINT webhook_deliveries_status CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts            integer NOT NULL DEFAULT 0 CONSTRAINT webhook_deliveries_attempts CHECK (attempts >= 0),
    -- The retry schedule restarts when a delivery is re-sent by hand: its step and its start.
    schedule_attempts   integer NOT NULL DEFAULT 0,
    schedule_started_at timestamptz NOT NULL,
    next_attempt_at     timestamptz,
    last_attempt_at     timestamptz,
    last_status_code    integer,
    last_error          text,
    delivered_at        timestamptz,
    created_at          timestamptz NOT NULL,
    CONSTRAINT webhook_deliveries_event_key UNIQUE (endpoint_id, event_seq),
    CONSTRAINT webhook_deliveries_next_when_pending CHECK ((status = 'pending') = (next_attempt_at IS NOT NULL))
);
CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (endpoint_id, next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_pending_seq_idx ON webhook_deliveries (event_seq) WHERE status = 'pending';
