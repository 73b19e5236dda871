-- Agent spending controls (issue 15): the wallet freeze, the mandate lifecycle (suspend and resume, single use,
-- count limits, safe replacement) and delegated tokens (RFC 8693 `act`). Every row written before stays valid and
-- keeps its meaning: wallets are active, mandates have no count limit and no replacement, nobody acted for anyone.
-- The previous release's binaries keep working against this schema (they write none of the new columns, and the
-- defaults are what they meant).

-- The kill switch. While a wallet is frozen no money leaves it (the write path checks the status after locking the
-- wallet's projection, like every spend). A freeze by an admin can be lifted only by an admin.
ALTER TABLE wallets
    ADD COLUMN status text NOT NULL DEFAULT 'active' CONSTRAINT wallets_status CHECK (status IN ('active', 'frozen')),
    ADD COLUMN frozen_reason text,
    ADD COLUMN frozen_by text,
    ADD COLUMN frozen_at timestamptz,
    ADD COLUMN frozen_by_admin boolean NOT NULL DEFAULT false,
    -- Frozen says why, by whom and since when; active says none of it.
    ADD CONSTRAINT wallets_frozen_complete CHECK (
        (status = 'frozen' AND frozen_reason IS NOT NULL AND frozen_by IS NOT NULL AND frozen_at IS NOT NULL)
        OR (status = 'active' AND frozen_reason IS NULL AND frozen_by IS NULL AND frozen_at IS NULL)),
    ADD CONSTRAINT wallets_admin_freeze_is_frozen CHECK (status = 'frozen' OR NOT frozen_by_admin);

-- The mandate lifecycle. Stored statuses: active, suspended (refuses spends, keeps its room, may be resumed),
-- revoked and consumed (terminal). "expired" is derived from expires_at when a mandate is read, as before.
-- version grows by one with every change, each spend included; a replacement names it in If-Match.
ALTER TABLE mandates DROP CONSTRAINT mandates_status;
ALTER TABLE mandates
    ADD CONSTRAINT mandates_status CHECK (status IN ('active', 'suspended', 'revoked', 'consumed')),
    ADD COLUMN deactivated_reason text,
    -- Why a mandate stopped agrees with how: none while active; a revocation before this release has none either.
    ADD CONSTRAINT mandates_deactivated_reason CHECK (CASE status
        WHEN 'active' THEN deactivated_reason IS NULL
        WHEN 'suspended' THEN coalesce(deactivated_reason = 'suspended', false)
        WHEN 'consumed' THEN coalesce(deactivated_reason = 'consumed', false)
        ELSE coalesce(deactivated_reason IN ('revoked', 'renounced', 'replaced'), true) END),
    ADD COLUMN version bigint NOT NULL DEFAULT 1 CONSTRAINT mandates_version_positive CHECK (version > 0),
    ADD COLUMN single_use boolean NOT NULL DEFAULT false,
    -- At most max_transactions spends per max_transactions_period; transactions_in_period counts those of the
    -- period that starts at transactions_period_start (NULL before this release: period_start, as the limit's).
    ADD COLUMN max_transactions bigint CONSTRAINT mandates_max_transactions_positive CHECK (max_transactions > 0),
    ADD COLUMN max_transactions_period text CONSTRAINT mandates_max_transactions_period
        CHECK (max_transactions_period IN ('day', 'week', 'month', 'total')),
    ADD COLUMN transactions_period_start timestamptz,
    ADD COLUMN transactions_in_period bigint NOT NULL DEFAULT 0
        CONSTRAINT mandates_transactions_non_negative CHECK (transactions_in_period >= 0),
    ADD COLUMN replaces uuid,
    ADD CONSTRAINT mandates_max_transactions_complete CHECK ((max_transactions IS NULL) = (max_transactions_period IS NULL)),
    -- As mandates_within_limit for amounts: the database refuses a spend over the count even if the code were wrong.
    ADD CONSTRAINT mandates_within_count CHECK (max_transactions IS NULL OR transactions_in_period <= max_transactions),
    -- A replacement replaces a mandate of the same wallet, and a mandate is replaced at most once.
    ADD CONSTRAINT mandates_id_wallet_key UNIQUE (mandate_id, wallet_id),
    ADD CONSTRAINT mandates_replaces_fkey FOREIGN KEY (replaces, wallet_id) REFERENCES mandates (mandate_id, wallet_id),
    ADD CONSTRAINT mandates_replaced_once UNIQUE (replaces);

-- Delegated tokens: who acted on behalf of the sub (the token's act.sub), NULL when the sub acted itself.
ALTER TABLE holds ADD COLUMN actor text;
ALTER TABLE journal_transactions ADD COLUMN actor text;
-- One caller's key moves money at most once, forever; a caller is the sub and the actor together, so two agents
-- acting for one sub never collide on a key. NULLS NOT DISTINCT: the sub acting itself (no actor) is one caller.
-- (idempotency_keys needs no change: command scopes a delegated caller's keys as sub + U+001F + actor, which no
-- plain sub can spell, because no sub may hold a control character.)
ALTER TABLE journal_transactions DROP CONSTRAINT journal_transactions_sub_key,
    ADD CONSTRAINT journal_transactions_sub_actor_key UNIQUE NULLS NOT DISTINCT (sub, actor, idempotency_key);
