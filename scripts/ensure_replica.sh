#!/usr/bin/env bash
# Makes sure a streaming standby of the local PostgreSQL answers on REPLICA_PORT (default 5433), for the replica
# tests (cmd/wallet-api/replica_test.go), and prints its URL on stdout (the last line; everything else goes to
# stderr). Idempotent: a standby of this primary that already streams is reused; one that is stopped is started;
# one that cannot follow the primary any more (WAL gone, another primary, broken directory) is rebuilt with
# pg_basebackup -R into REPLICA_DIR and started with pg_ctl. It never restarts the primary; it changes its
# configuration only by one pg_hba.conf line allowing local replication connections (trust, like the development
# entries of scripts/bootstrap_db.sh) and wal_keep_size (below), each followed by a reload.
#
#   scripts/ensure_replica.sh           # ensure it runs; prints postgres://postgres@127.0.0.1:5433/postgres?...
#   scripts/ensure_replica.sh --stop    # stop it (the tests stop and restart it to prove the fallback)
#   scripts/ensure_replica.sh --remove  # stop it and delete its directory
#
# No replication slot is created on purpose: a forgotten slot would make the primary keep WAL forever. Instead the
# primary keeps a bounded 1 GB of WAL (wal_keep_size, set with ALTER SYSTEM when smaller), and a standby that fell
# further behind is rebuilt.
set -euo pipefail
cd "$(dirname "$0")/.."

PRIMARY_URL="${TEST_DATABASE_URL:-${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable}}"
REPLICA_PORT="${REPLICA_PORT:-5433}"
REPLICA_DIR="${REPLICA_DIR:-/var/tmp/wallet-ledger-replica-$REPLICA_PORT}"
REPLICA_URL="postgres://postgres@127.0.0.1:$REPLICA_PORT/postgres?sslmode=disable"
log() { printf 'ensure_replica: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

# The primary's host and port, split like scripts/bootstrap_db.sh does.
rest="${PRIMARY_URL#*://}"
hostpart="${rest#*@}"; hostport="${hostpart%%/*}"
P_HOST="${hostport%%:*}"; P_PORT="5432"; [ "$hostport" != "$P_HOST" ] && P_PORT="${hostport#*:}"
case "$P_HOST" in
  localhost|127.0.0.1) P_HOST=127.0.0.1 ;;
  *) die "the test standby follows a local primary; $P_HOST is not local (set TEST_DATABASE_URL)" ;;
esac
[ "$P_PORT" != "$REPLICA_PORT" ] || die "REPLICA_PORT ($REPLICA_PORT) is the primary's port"
ADMIN_URL="postgres://postgres@$P_HOST:$P_PORT/postgres?sslmode=disable"

BIN="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)"
[ -n "$BIN" ] && [ -x "$BIN/pg_basebackup" ] && [ -x "$BIN/pg_ctl" ] ||
  die "no PostgreSQL server binaries under /usr/lib/postgresql; run scripts/bootstrap_db.sh first"

# initdb, pg_ctl and postgres refuse to run as root: run them as the postgres user, who owns the primary's files.
as_postgres() {
  if [ "$(id -un)" = postgres ]; then "$@"
  elif [ "$(id -u)" -eq 0 ]; then
    local q="" a
    for a in "$@"; do q+=" $(printf '%q' "$a")"; done
    su postgres -s /bin/sh -c "$q"
  else sudo -u postgres "$@"
  fi
}
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
psql_at() { psql "$1" -XAtqc "$2" 2>/dev/null; }

replica_running() { as_postgres "$BIN/pg_ctl" -D "$REPLICA_DIR" status >/dev/null 2>&1; }
stop_replica() {
  if [ -f "$REPLICA_DIR/postmaster.pid" ] && replica_running; then
    log "stopping the standby in $REPLICA_DIR"
    as_postgres "$BIN/pg_ctl" -D "$REPLICA_DIR" -m fast -w -t 60 stop >/dev/null
  fi
}

case "${1:-}" in
  --stop) stop_replica; exit 0 ;;
  --remove) stop_replica; as_root rm -rf "$REPLICA_DIR"; log "removed $REPLICA_DIR"; exit 0 ;;
  "") ;;
  *) die "unknown argument $1 (want nothing, --stop or --remove)" ;;
esac

psql_at "$ADMIN_URL" 'SELECT 1' >/dev/null || die "the primary does not answer at $P_HOST:$P_PORT; run scripts/bootstrap_db.sh first"
[ "$(psql_at "$ADMIN_URL" 'SELECT pg_is_in_recovery()')" = f ] || die "$P_HOST:$P_PORT is itself a standby"
case "$(psql_at "$ADMIN_URL" 'SHOW wal_level')" in
  replica|logical) ;;
  *) die "the primary runs with wal_level=minimal; set wal_level=replica (the default) and restart it" ;;
esac
[ "$(psql_at "$ADMIN_URL" 'SHOW max_wal_senders')" -gt 0 ] || die "the primary has max_wal_senders=0; raise it and restart it"
PRIMARY_ID="$(psql_at "$ADMIN_URL" 'SELECT system_identifier FROM pg_control_system()')"
# Without a slot, the primary recycles WAL at each checkpoint; on a busy server (make test writes gigabytes:
# every package creates a database) that is every few seconds, and a standby that stops for a moment, or one just
# built, finds the WAL it needs gone. A bounded reserve instead of a slot: 1 GB of WAL kept, at most, whatever
# happens to the standby. Set with ALTER SYSTEM and a reload (no restart), only when the reserve is smaller.
if [ "$(psql_at "$ADMIN_URL" "SELECT setting::bigint < 1024 FROM pg_settings WHERE name = 'wal_keep_size'")" = t ]; then
  log "keeping 1 GB of WAL on the primary for the standby (ALTER SYSTEM SET wal_keep_size = '1GB')"
  psql_at "$ADMIN_URL" "ALTER SYSTEM SET wal_keep_size = '1GB'" >/dev/null
  psql_at "$ADMIN_URL" 'SELECT pg_reload_conf()' >/dev/null
fi

# Replication connections match only pg_hba lines naming "replication" ("all" does not cover them).
can_replicate() {
  psql "host=$P_HOST port=$P_PORT user=postgres dbname=replication replication=true sslmode=disable" \
    -XAtqc 'IDENTIFY_SYSTEM' >/dev/null 2>&1
}
if ! can_replicate; then
  hba="$(psql_at "$ADMIN_URL" 'SHOW hba_file')"
  [ -n "$hba" ] || die "cannot read hba_file from the primary"
  if ! as_root grep -q '# wallet-ledger test replica' "$hba"; then
    log "allowing local replication connections in $hba (test setting)"
    as_root sed -i "1i host replication postgres $P_HOST/32 trust # wallet-ledger test replica\nlocal replication postgres trust # wallet-ledger test replica" "$hba"
  fi
  psql_at "$ADMIN_URL" 'SELECT pg_reload_conf()' >/dev/null
  for _ in $(seq 1 20); do can_replicate && break; sleep 0.25; done
  can_replicate || die "the primary still refuses replication connections; check $hba"
fi

# streaming: the standby answers on its port, is in recovery, follows this primary and its WAL receiver streams.
streaming() {
  [ "$(psql_at "$REPLICA_URL" "SELECT pg_is_in_recovery() AND EXISTS (SELECT 1 FROM pg_stat_wal_receiver WHERE status = 'streaming') AND (SELECT system_identifier FROM pg_control_system())::text = '$PRIMARY_ID'")" = t ]
}
wait_streaming() {
  for _ in $(seq 1 "$1"); do streaming && return 0; sleep 0.5; done
  return 1
}

rebuild() {
  stop_replica
  if ss -ltn "sport = :$REPLICA_PORT" 2>/dev/null | grep -q LISTEN; then
    die "something else listens on 127.0.0.1:$REPLICA_PORT; set REPLICA_PORT to a free port"
  fi
  log "building a standby of $P_HOST:$P_PORT in $REPLICA_DIR (pg_basebackup -R)"
  as_root rm -rf "$REPLICA_DIR"
  as_root mkdir -p "$REPLICA_DIR"
  as_root chown postgres "$REPLICA_DIR"
  as_root chmod 700 "$REPLICA_DIR"
  as_postgres "$BIN/pg_basebackup" -h "$P_HOST" -p "$P_PORT" -U postgres -D "$REPLICA_DIR" -R -X stream \
    -c fast --no-sync >&2
  # A Debian cluster keeps postgresql.conf and pg_hba.conf in /etc, outside the data directory the backup copies.
  # max_connections and friends must be at least the primary's for a hot standby to start.
  as_postgres sh -c "cat > '$REPLICA_DIR/postgresql.conf'" <<EOF
# The wallet-ledger test standby (scripts/ensure_replica.sh). Settings a hot standby needs at least as high as the
# primary's are copied from it.
port = $REPLICA_PORT
listen_addresses = '127.0.0.1'
unix_socket_directories = '$REPLICA_DIR'
cluster_name = 'wallet-ledger-test-replica'
hot_standby = on
hot_standby_feedback = on
max_connections = $(psql_at "$ADMIN_URL" 'SHOW max_connections')
max_worker_processes = $(psql_at "$ADMIN_URL" 'SHOW max_worker_processes')
max_wal_senders = $(psql_at "$ADMIN_URL" 'SHOW max_wal_senders')
max_prepared_transactions = $(psql_at "$ADMIN_URL" 'SHOW max_prepared_transactions')
max_locks_per_transaction = $(psql_at "$ADMIN_URL" 'SHOW max_locks_per_transaction')
shared_buffers = 64MB
logging_collector = off
EOF
  as_postgres sh -c "printf 'local all all trust\nhost all all 127.0.0.1/32 trust\n' > '$REPLICA_DIR/pg_hba.conf'"
}

start_replica() {
  log "starting the standby on 127.0.0.1:$REPLICA_PORT"
  as_postgres "$BIN/pg_ctl" -D "$REPLICA_DIR" -l "$REPLICA_DIR/server.log" -w -t 60 start >/dev/null
}

if ! streaming; then
  if [ -f "$REPLICA_DIR/standby.signal" ] && [ -f "$REPLICA_DIR/postgresql.conf" ]; then
    replica_running || start_replica || true
    # A standby that restarts may need a few seconds to reconnect; one whose WAL is gone never will.
    if ! wait_streaming 20; then
      log "the standby in $REPLICA_DIR does not stream from this primary"
      rebuild; start_replica
    fi
  else
    rebuild; start_replica
  fi
  wait_streaming 60 || die "the standby does not stream; see $REPLICA_DIR/server.log"
fi

# A test that died while it held replay paused leaves it paused: resume it.
if [ "$(psql_at "$REPLICA_URL" 'SELECT pg_get_wal_replay_pause_state()')" != "not paused" ]; then
  log "resuming WAL replay on the standby"
  psql_at "$REPLICA_URL" 'SELECT pg_wal_replay_resume()' >/dev/null
fi
# Start the tests from a standby that has replayed everything committed so far.
target="$(psql_at "$ADMIN_URL" 'SELECT pg_current_wal_insert_lsn()')"
for _ in $(seq 1 120); do
  [ "$(psql_at "$REPLICA_URL" "SELECT pg_last_wal_replay_lsn() >= '$target'::pg_lsn")" = t ] && break
  sleep 0.5
done
[ "$(psql_at "$REPLICA_URL" "SELECT pg_last_wal_replay_lsn() >= '$target'::pg_lsn")" = t ] ||
  die "the standby did not catch up with $target in 60 s; see $REPLICA_DIR/server.log"
log "standby streaming on 127.0.0.1:$REPLICA_PORT from $P_HOST:$P_PORT ($REPLICA_DIR)"
echo "$REPLICA_URL"
