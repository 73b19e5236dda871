package load

// growSteps build the grown ledger, in order, each in its own transaction unless withNext; audit prefix sums come
// last, so their presence says a grow finished. Parameters (pgx named arguments): @wallets,
// @transfers, @holds, @mandates, @recent, @asset, @sys (the asset's system wallet), @funding, @busy, @owner (LoadSub),
// @sub (growSub), @sysowner. The timeline: fundings 90 days ago, transfers spread from 89 days ago to an hour ago,
// holds in the last half hour; positions follow it, and entry IDs follow positions, as the live write path leaves
// them within each wallet.
//
// Wallet i of a transfer j: a = j*2654435761 mod W (a multiplicative hash spreads senders evenly), the receiver b a
// distinct wallet derived from j; every @busy-th transfer pays wallet 0 instead. Amounts are 1 to 100 and every
// wallet is funded with @funding first, so no balance goes below zero at any point of its history.
var growSteps = []struct {
	name, sql string
	withNext  bool // commit with the next step, not on its own
}{
	{name: "wallets", sql: `INSERT INTO wallets (wallet_id, asset, owner, kind, metadata, created_at)
		SELECT id, @asset, @owner, 'user', '{"source": "walletctl seed --entries"}', now() - interval '90 days'
		FROM grow_wallets ORDER BY i`},
	{name: "system wallet", sql: `INSERT INTO wallets (wallet_id, asset, owner, kind, created_at)
		VALUES (@sys, @asset, @sysowner, 'system', now() - interval '90 days') ON CONFLICT DO NOTHING`},
	// Built again after the load, as migrations 001 and 003 define them.
	{name: "drop entry indexes", sql: `DROP INDEX journal_entries_wallet_idx, journal_entries_transaction_idx`},
	{name: "drop history key", sql: `ALTER TABLE wallet_history DROP CONSTRAINT wallet_history_pkey`},

	{name: "funding transactions", sql: `INSERT INTO journal_transactions
			(transaction_id, position, kind, asset, amount, sub, idempotency_key, request_hash, description, created_at)
		SELECT md5('grow-f-' || i)::uuid, i + 1, 'adjustment', @asset, @funding::bigint, @sub, 'grow-f-' || i, '\x00',
			'walletctl seed --entries: funding', now() - interval '90 days' + i * interval '1 ms'
		FROM grow_wallets ORDER BY i`},
	{name: "funding entries", sql: `INSERT INTO journal_entries (transaction_id, wallet_id, asset, bucket, amount)
		SELECT md5('grow-f-' || g.i)::uuid, v.w, @asset, 'available', v.a
		FROM (SELECT i, id FROM grow_wallets ORDER BY i) g
		CROSS JOIN LATERAL (VALUES (@sys::uuid, -@funding::bigint), (g.id, @funding::bigint)) v(w, a)`},

	{name: "transfer plan", sql: `CREATE TEMP TABLE grow_transfers (j bigint PRIMARY KEY, position bigint, transaction_id uuid,
		from_id uuid, to_id uuid, amount bigint, created_at timestamptz)`},
	{name: "transfers", sql: `INSERT INTO grow_transfers
		SELECT z.j, @wallets::bigint + z.j, md5('grow-t-' || z.j)::uuid, f.id, t.id, 1 + z.j % 100,
			now() - interval '89 days' + z.j * ((interval '89 days' - interval '1 hour') / @transfers::int)
		FROM (SELECT j,
				(CASE WHEN j % @busy = 0 AND a = 0 THEN 1 ELSE a END)::int AS fi,
				(CASE WHEN j % @busy = 0 THEN 0 ELSE (a + 1 + (j * 40503) % (@wallets::bigint - 1)) % @wallets END)::int AS ti
			FROM (SELECT j::bigint AS j, (j::bigint * 2654435761) % @wallets AS a
				FROM generate_series(1, @transfers::int) j) x) z
		JOIN grow_wallets f ON f.i = z.fi JOIN grow_wallets t ON t.i = z.ti`},
	{name: "transfer transactions", sql: `INSERT INTO journal_transactions
			(transaction_id, position, kind, asset, amount, sub, idempotency_key, request_hash, created_at)
		SELECT transaction_id, position, 'transfer', @asset, amount, @sub, 'grow-t-' || j, '\x00', created_at
		FROM grow_transfers ORDER BY j`},
	{name: "transfer entries", sql: `INSERT INTO journal_entries (transaction_id, wallet_id, asset, bucket, amount)
		SELECT g.transaction_id, v.w, @asset, 'available', v.a
		FROM (SELECT transaction_id, from_id, to_id, amount FROM grow_transfers ORDER BY j) g
		CROSS JOIN LATERAL (VALUES (g.from_id, -g.amount), (g.to_id, g.amount)) v(w, a)`},

	{name: "hold plan", sql: `CREATE TEMP TABLE grow_holds (k bigint PRIMARY KEY, hold_id uuid, transaction_id uuid, wallet_id uuid,
		amount bigint, position bigint, created_at timestamptz)`},
	{name: "holds", sql: `INSERT INTO grow_holds
		SELECT k, md5('grow-h-' || k)::uuid, md5('grow-ht-' || k)::uuid, g.id, 1 + k % 50,
			@wallets::bigint + @transfers::bigint + k, now() - interval '30 minutes' + k * interval '1 ms'
		FROM generate_series(1, @holds::int) k JOIN grow_wallets g ON g.i = (k * 7) % @wallets`},
	{name: "hold transactions", sql: `INSERT INTO journal_transactions
			(transaction_id, position, kind, asset, amount, sub, idempotency_key, request_hash, description, created_at, hold_id)
		SELECT transaction_id, position, 'hold', @asset, amount, @sub, 'grow-h-' || k, '\x00',
			'walletctl seed --entries: hold', created_at, hold_id
		FROM grow_holds ORDER BY k`},
	{name: "hold entries", sql: `INSERT INTO journal_entries (transaction_id, wallet_id, asset, bucket, amount)
		SELECT h.transaction_id, h.wallet_id, @asset, v.b, v.a
		FROM (SELECT transaction_id, wallet_id, amount FROM grow_holds ORDER BY k) h
		CROSS JOIN LATERAL (VALUES ('available', -h.amount), ('held', h.amount)) v(b, a)`},
	{name: "hold rows", sql: `INSERT INTO holds (hold_id, wallet_id, asset, amount, status, expires_at, sub, description,
			transaction_id, created_at, updated_at)
		SELECT hold_id, wallet_id, @asset, amount, 'active', '2099-01-01', @owner, 'walletctl seed --entries',
			transaction_id, created_at, created_at
		FROM grow_holds ORDER BY k`},

	{name: "mandates", sql: `INSERT INTO mandates (mandate_id, wallet_id, asset, agent, granted_by, max_per_transaction,
			limit_amount, limit_period, description, expires_at, created_at, period_start, updated_at)
		SELECT md5('grow-m-' || k)::uuid, g.id, @asset, 'grow-agent-' || (k % 1000), @owner, 5000, 100000, 'month',
			'walletctl seed --entries', '2099-01-01', now() - interval '60 days',
			date_trunc('month', now() - interval '60 days'), now() - interval '60 days'
		FROM generate_series(1, @mandates::int) k JOIN grow_wallets g ON g.i = (k * 13) % @wallets`},

	{name: "entry indexes", sql: `CREATE INDEX journal_entries_wallet_idx ON journal_entries (wallet_id, entry_id)`},
	{name: "entry transaction index", sql: `CREATE INDEX journal_entries_transaction_idx ON journal_entries (transaction_id)`},

	// The history read model as the history projector builds it: every entry with the running sums after it.
	{name: "history", sql: `INSERT INTO wallet_history (wallet_id, entry_id, transaction_id, position, kind, bucket, amount,
			balance_after, held_after, created_at)
		SELECT e.wallet_id, e.entry_id, e.transaction_id, t.position, t.kind, e.bucket, e.amount,
			sum(e.amount) OVER w, sum(CASE WHEN e.bucket = 'held' THEN e.amount ELSE 0 END) OVER w, t.created_at
		FROM journal_entries e JOIN journal_transactions t ON t.transaction_id = e.transaction_id
		WINDOW w AS (PARTITION BY e.wallet_id ORDER BY e.entry_id)`},
	{name: "history key", sql: `ALTER TABLE wallet_history ADD CONSTRAINT wallet_history_pkey PRIMARY KEY (wallet_id, entry_id)`},

	// Per wallet, from the journal just written: what the projection, the history head and the audit's verified
	// prefix hold. version counts the transactions that touched the wallet: each has exactly one 'available' entry
	// in it (a hold's second entry is its 'held' one).
	{name: "sums", sql: `CREATE TEMP TABLE grow_sums AS
		SELECT wallet_id, max(entry_id) AS last_entry_id, max(position) AS position, sum(amount)::bigint AS balance,
			coalesce(sum(amount) FILTER (WHERE bucket = 'held'), 0)::bigint AS held, count(*) AS entry_count,
			count(*) FILTER (WHERE bucket = 'available') AS version, max(created_at) AS updated_at
		FROM wallet_history GROUP BY wallet_id`},
	{name: "projections", sql: `INSERT INTO balance_projections (wallet_id, asset, kind, balance, held, version, updated_at)
		SELECT w.wallet_id, w.asset, w.kind, coalesce(s.balance, 0), coalesce(s.held, 0), coalesce(s.version, 0),
			coalesce(s.updated_at, w.created_at)
		FROM wallets w LEFT JOIN grow_sums s ON s.wallet_id = w.wallet_id`},
	{name: "history heads", sql: `INSERT INTO wallet_history_heads (wallet_id, last_entry_id, position, balance, held)
		SELECT wallet_id, last_entry_id, position, balance, held FROM grow_sums`},

	// What the latest writes left beside the journal: their events, already relayed and read by every consumer
	// (the cursors below), and their idempotency keys, not expired yet.
	// One transaction: the cursors name the xid8 the events were written under.
	{name: "recent events", withNext: true, sql: `INSERT INTO outbox_events (uuid, created_at, payload, metadata, transaction_id)
		SELECT md5('grow-e-' || j)::uuid::text, created_at AT TIME ZONE 'UTC',
			json_build_object('event_id', md5('grow-e-' || j)::uuid, 'type', 'transaction.committed', 'version', 1,
				'occurred_at', created_at, 'sub', @sub::text, 'transaction_id', transaction_id, 'kind', 'transfer',
				'position', position, 'asset', @asset::text, 'amount', amount,
				'wallet_ids', json_build_array(from_id, to_id),
				'entries', json_build_array(
					json_build_object('wallet_id', from_id, 'asset', @asset::text, 'amount', -amount),
					json_build_object('wallet_id', to_id, 'asset', @asset::text, 'amount', amount))),
			json_build_object('event_type', 'transaction.committed', 'partition_key', from_id),
			pg_current_xact_id()
		FROM grow_transfers WHERE j > @transfers::bigint - @recent ORDER BY j`},
	{name: "relay cursor", withNext: true, sql: `INSERT INTO watermill_offsets_outbox_events (consumer_group, offset_acked, last_processed_transaction_id)
		SELECT 'relay', max("offset"), pg_current_xact_id() FROM outbox_events HAVING count(*) > 0
		ON CONFLICT (consumer_group) DO UPDATE SET offset_acked = EXCLUDED.offset_acked,
			last_processed_transaction_id = EXCLUDED.last_processed_transaction_id`},
	{name: "read side cursors", sql: `UPDATE read_side_checkpoints SET last_xid = pg_current_xact_id(), last_offset = o.max,
			updated_at = now()
		FROM (SELECT max("offset") AS max FROM outbox_events) o WHERE o.max IS NOT NULL`},
	{name: "recent idempotency keys", sql: `INSERT INTO idempotency_keys (sub, idempotency_key, request_hash, status_code,
			response_body, created_at, expires_at)
		SELECT @sub, 'grow-t-' || j, '\x00', 201, convert_to(json_build_object('transaction_id', transaction_id)::text, 'UTF8'),
			created_at, created_at + interval '48 hours'
		FROM grow_transfers WHERE j > @transfers::bigint - @recent`},
	{name: "position sequence", sql: `SELECT setval('journal_position_seq', @wallets::bigint + @transfers::bigint + @holds::bigint)`},
	{name: "audit prefix sums", sql: `INSERT INTO audit_wallet_sums (wallet_id, last_entry_id, balance, held, entry_count)
		SELECT wallet_id, last_entry_id, balance, held, entry_count FROM grow_sums`},
}
