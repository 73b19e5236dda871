#!/usr/bin/env bash
# Makes sure a PostgreSQL server answers at DATABASE_URL and that its database exists, on a Debian/Ubuntu machine:
# installs PostgreSQL with apt when it is absent, creates and starts a cluster when none runs, allows passwordless
# local TCP connections for development when the URL carries no password, and creates the role and the database.
# With --migrate it also applies the schema migrations.
set -euo pipefail
cd "$(dirname "$0")/.."

DATABASE_URL="${DATABASE_URL:-postgres://postgres@localhost:5432/wallet_service?sslmode=disable}"
export DATABASE_URL
log() { printf 'bootstrap_db: %s\n' "$*" >&2; }
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

# Split the URL with Python-free shell: scheme://user[:pass]@host[:port]/db[?params]
rest="${DATABASE_URL#*://}"
userinfo="${rest%%@*}"; [ "$userinfo" = "$rest" ] && userinfo="postgres"
hostpart="${rest#*@}"; hostport="${hostpart%%/*}"
DB_USER="${userinfo%%:*}"
DB_PASS=""; [ "$userinfo" != "$DB_USER" ] && DB_PASS="${userinfo#*:}"
DB_HOST="${hostport%%:*}"; DB_PORT="5432"; [ "$hostport" != "$DB_HOST" ] && DB_PORT="${hostport#*:}"
dbq="${hostpart#*/}"; DB_NAME="${dbq%%\?*}"
ADMIN_URL="postgres://${userinfo}@${hostport}/postgres?sslmode=disable"

server_answers() { pg_isready -q -h "$DB_HOST" -p "$DB_PORT" >/dev/null 2>&1; }
can_login() { psql "$ADMIN_URL" -Atqc 'SELECT 1' >/dev/null 2>&1; }

pg_bin_dir() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1; }

install_postgres() {
  log "PostgreSQL is not installed: installing it with apt-get (needs sudo; a minute or two)"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql postgresql-client >/dev/null
}

start_server() {
  local bin ver
  bin="$(pg_bin_dir)"
  ver="$(basename "$(dirname "$bin")")"
  if command -v pg_lsclusters >/dev/null 2>&1; then
    if ! pg_lsclusters -h | awk -v v="$ver" '$1==v && $2=="main"' | grep -q .; then
      log "creating PostgreSQL $ver cluster 'main' on port $DB_PORT"
      as_root pg_createcluster "$ver" main -p "$DB_PORT" >/dev/null
    fi
    log "starting PostgreSQL $ver cluster 'main'"
    as_root pg_ctlcluster --skip-systemctl-redirect "$ver" main start || as_root pg_ctlcluster "$ver" main start
  else
    log "no pg_lsclusters: start PostgreSQL yourself and set DATABASE_URL"; exit 1
  fi
}

allow_local_trust() {
  # Development only: the default URL has no password, so local TCP connections must be trusted.
  local hba
  hba="$(as_root su postgres -c "psql -Atqc 'SHOW hba_file'" 2>/dev/null || true)"
  [ -n "$hba" ] || { log "cannot find pg_hba.conf; set a password in DATABASE_URL"; exit 1; }
  if ! as_root grep -q '# wallet-ledger dev trust' "$hba"; then
    log "allowing passwordless local TCP connections in $hba (development setting)"
    as_root sed -i '1i host all all 127.0.0.1/32 trust # wallet-ledger dev trust\nhost all all ::1/128 trust # wallet-ledger dev trust' "$hba"
    as_root su postgres -c "psql -Atqc 'SELECT pg_reload_conf()'" >/dev/null
  fi
}

log "checking PostgreSQL at $DB_HOST:$DB_PORT, database $DB_NAME"
command -v pg_isready >/dev/null 2>&1 && [ -n "$(pg_bin_dir)" ] || install_postgres
if ! server_answers; then
  case "$DB_HOST" in
    localhost|127.0.0.1|::1) start_server ;;
    *) log "no PostgreSQL answers at $DB_HOST:$DB_PORT and it is not local: start it or fix DATABASE_URL"; exit 1 ;;
  esac
  for _ in $(seq 1 30); do server_answers && break; sleep 1; done
  server_answers || { log "PostgreSQL did not start"; exit 1; }
fi

if ! can_login; then
  if [ -z "$DB_PASS" ] && [ "$DB_USER" = "postgres" ]; then
    allow_local_trust
  else
    log "creating role $DB_USER"
    as_root su postgres -c "psql -v ON_ERROR_STOP=1 -Atqc \"DO \\\$\\\$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$DB_USER') THEN CREATE ROLE \\\"$DB_USER\\\" LOGIN CREATEDB PASSWORD '$DB_PASS'; END IF; END \\\$\\\$\"" >/dev/null
    [ -z "$DB_PASS" ] && allow_local_trust
  fi
  can_login || { log "cannot log in to PostgreSQL as $DB_USER at $DB_HOST:$DB_PORT"; exit 1; }
fi

if [ "$(psql "$ADMIN_URL" -Atqc "SELECT 1 FROM pg_database WHERE datname = '$DB_NAME'")" != "1" ]; then
  log "creating database $DB_NAME"
  psql "$ADMIN_URL" -v ON_ERROR_STOP=1 -qc "CREATE DATABASE \"$DB_NAME\"" >/dev/null
fi
log "PostgreSQL ready at $DB_HOST:$DB_PORT, database $DB_NAME"

if [ "${1:-}" = "--migrate" ]; then
  log "applying the migrations"
  go run ./cmd/migrate
fi
