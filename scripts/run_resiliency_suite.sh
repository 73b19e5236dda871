#!/usr/bin/env bash
# The resiliency suite: real faults on this machine under the resiliency_partition profile.
#   1. proxy-reset      the API<->PostgreSQL link is cut loudly (TCP proxy closes every connection), then healed
#   2. proxy-blackhole  the link goes silent (bytes dropped: a partition), then healed
#   3. api-kill         the API is SIGKILLed under load and started again
#   4. pg-stop          PostgreSQL itself is stopped hard (pg_ctlcluster ... stop -m immediate) and started again
# Each run passes only if, during the fault, writes answer 503 (or, for api-kill, the connection is refused),
# nothing else and no hang past the request timeout; writes succeed again within seconds of the heal; and
# afterwards money is conserved per asset, every audit is consistent, every 201 is in the journal and no
# key retried across the fault took effect twice (cmd/loadgen checks all of it, through the API and the DB).
#
# WARNING: by default pg-stop stops the whole local PostgreSQL server (the Debian cluster on PGHOST_URL's port,
# via pg_ctlcluster), so it disrupts anything else using it for ~10 s. RES_PG_TARGET=private crashes a throwaway
# server this script starts instead (initdb in a temp dir, same binaries), which is what `go test ./load/` does.
#
# Environment: PGHOST_URL (default postgres://postgres@127.0.0.1:5432), RES_DB (default wallet_resiliency,
# dropped and re-created), RES_FAULTS (default: all four), RES_REQUEST_TIMEOUT (API REQUEST_TIMEOUT, 3s),
# RES_PG_TARGET (shared | private, default shared).
set -euo pipefail
cd "$(dirname "$0")/.."

PGHOST_URL=${PGHOST_URL:-postgres://postgres@127.0.0.1:5432}
RES_DB=${RES_DB:-wallet_resiliency}
RES_FAULTS=${RES_FAULTS:-proxy-reset proxy-blackhole api-kill pg-stop}
API_ADDR=${RES_API_ADDR:-127.0.0.1:28090}
PROXY_ADDR=${RES_PROXY_ADDR:-127.0.0.1:25432}
PROXY_CTL=${RES_PROXY_CTL:-127.0.0.1:28474}
REPORTS=${LOADGEN_REPORTS:-load/reports}
export JWT_SECRET=${JWT_SECRET:-dev-secret-change-me}
export JWT_AUDIENCE=${JWT_AUDIENCE:-agentic-commerce}
[[ $RES_DB == wallet_service ]] && { echo "refusing to use the dev database wallet_service" >&2; exit 2; }
DB_URL="$PGHOST_URL/$RES_DB?sslmode=disable"
PG_PORT=$(sed -E 's#.*:([0-9]+)$#\1#' <<<"$PGHOST_URL"); [[ $PG_PORT =~ ^[0-9]+$ ]] || PG_PORT=5432
BASE_URL="http://$API_ADDR"
RUN_DIR=$(mktemp -d /tmp/wallet-resiliency.XXXXXX)
export RUN_DIR
PIDS=()

log() { printf '\n[%s] %s\n' "$(date -u +%H:%M:%S)" "$*"; }

# The PostgreSQL cluster on PG_PORT, found the Debian way (pg_lsclusters), else through pg_ctl and its data dir.
pg_cluster() { pg_lsclusters --no-header 2>/dev/null | awk -v p="$PG_PORT" '$3 == p {print $1, $2; exit}'; }
pg_stop_cmd() {
  local c; c=$(pg_cluster)
  if [[ -n $c ]]; then echo "pg_ctlcluster $c stop -m immediate"; return; fi
  local dir; dir=$(psql "$PGHOST_URL/postgres" -Atc 'SHOW data_directory')
  echo "su postgres -c 'pg_ctl -D $dir stop -m immediate'"
}
pg_start_cmd() {
  local c; c=$(pg_cluster)
  if [[ -n $c ]]; then echo "pg_ctlcluster $c start"; return; fi
  local dir; dir=$(psql "$PGHOST_URL/postgres" -Atc 'SHOW data_directory')
  echo "su postgres -c 'pg_ctl -D $dir -l /tmp/pg-resiliency.log start -w'"
}

# A private PostgreSQL for RES_PG_TARGET=private: the binaries of the installed server, run as postgres.
PRIV_DIR=""
PRIV_PORT=${RES_PRIVATE_PG_PORT:-25499}
pg_bindir() { dirname "$(readlink -f "$(command -v initdb || ls -d /usr/lib/postgresql/*/bin/initdb | sort -V | tail -1)")"; }
as_postgres() { if [[ $(id -u) -eq 0 ]]; then su postgres -s /bin/sh -c "$*"; else sh -c "$*"; fi; }
private_pg_start_cmd() { echo "$(declare -f as_postgres); as_postgres \"$(pg_bindir)/pg_ctl -D $PRIV_DIR/data -o '-p $PRIV_PORT -k $PRIV_DIR -c listen_addresses=127.0.0.1' -l $PRIV_DIR/log -w -t 30 start\""; }
private_pg_stop_cmd() { echo "$(declare -f as_postgres); as_postgres \"$(pg_bindir)/pg_ctl -D $PRIV_DIR/data -m immediate stop\""; }
start_private_pg() {
  PRIV_DIR=$(mktemp -d /tmp/wallet-resiliency-pg.XXXXXX)
  [[ $(id -u) -eq 0 ]] && chown postgres "$PRIV_DIR"
  as_postgres "$(pg_bindir)/initdb -D $PRIV_DIR/data -A trust -U postgres --no-sync >/dev/null"
  bash -c "$(private_pg_start_cmd)" >/dev/null
  psql "postgres://postgres@127.0.0.1:$PRIV_PORT/postgres" -v ON_ERROR_STOP=1 -qc "CREATE DATABASE $RES_DB"
  DATABASE_URL="postgres://postgres@127.0.0.1:$PRIV_PORT/$RES_DB?sslmode=disable" bin/migrate
}

stop_api() {
  if [[ -f $RUN_DIR/api.pid ]]; then
    local pid; pid=$(cat "$RUN_DIR/api.pid")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$RUN_DIR/api.pid"
  fi
}

cleanup() {
  stop_api
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  # Never leave the shared server down, whatever happened to the run.
  if [[ -n ${PG_START:-} ]] && ! pg_isready -q -h 127.0.0.1 -p "$PG_PORT"; then bash -c "$PG_START" || true; fi
  if [[ -n $PRIV_DIR ]]; then
    as_postgres "$(pg_bindir)/pg_ctl -D $PRIV_DIR/data -m immediate stop" >/dev/null 2>&1 || true
    rm -rf "$PRIV_DIR"
  fi
}
trap cleanup EXIT

port_free() { # host:port -> fails when something already listens there
  ! (exec 3<>"/dev/tcp/${1%:*}/${1##*:}") 2>/dev/null
}

wait_ready() {
  local deadline=$((SECONDS + 30))
  until curl -fsS -o /dev/null "$BASE_URL/v1/ready" 2>/dev/null; do
    (( SECONDS < deadline )) || { echo "API not ready: see $RUN_DIR/api.log" >&2; tail -20 "$RUN_DIR/api.log" >&2; return 1; }
    sleep 0.2
  done
}

# start_api.sh starts the API in the background and records its pid; the api-kill fault calls it as its heal.
write_start_api() { # db-url
  cat >"$RUN_DIR/start_api.sh" <<SH
#!/usr/bin/env bash
cd "$PWD"
DATABASE_URL='$1' HTTP_ADDR='$API_ADDR' REQUEST_TIMEOUT='${RES_REQUEST_TIMEOUT:-3s}' DB_STATEMENT_TIMEOUT=2s \
  RATE_LIMIT_RPS='${RATE_LIMIT_RPS:-1000000}' RATE_LIMIT_BURST='${RATE_LIMIT_BURST:-1000000}' \
  LOG_LEVEL=\${LOG_LEVEL:-warn} setsid bin/wallet-api >>"$RUN_DIR/api.log" 2>&1 </dev/null &
echo \$! >"$RUN_DIR/api.pid"
SH
  chmod +x "$RUN_DIR/start_api.sh"
}

# Someone else's server on these ports would take the load (and its database the writes): refuse.
for a in "$API_ADDR" "$PROXY_ADDR" "$PROXY_CTL"; do
  port_free "$a" || { echo "$a is already in use; set RES_API_ADDR / RES_PROXY_ADDR / RES_PROXY_CTL" >&2; exit 2; }
done

log "building binaries"
mkdir -p bin
for c in wallet-api migrate walletctl loadgen; do go build -o "bin/$c" "./cmd/$c"; done
log "fresh database $RES_DB"
psql "$PGHOST_URL/postgres" -v ON_ERROR_STOP=1 -qc "DROP DATABASE IF EXISTS $RES_DB WITH (FORCE)" -c "CREATE DATABASE $RES_DB"
DATABASE_URL=$DB_URL bin/migrate

log "starting the TCP proxy $PROXY_ADDR -> 127.0.0.1:$PG_PORT (control $PROXY_CTL)"
bin/loadgen proxy -listen "$PROXY_ADDR" -upstream "127.0.0.1:$PG_PORT" -control "$PROXY_CTL" -for 30m >"$RUN_DIR/proxy.log" 2>&1 &
PIDS+=($!)
PROXY_DB_URL="postgres://postgres@$PROXY_ADDR/$RES_DB?sslmode=disable"

declare -A RESULT
status=0
for fault in $RES_FAULTS; do
  args=(-fault "$fault")
  db_for_api=$DB_URL
  case $fault in
    proxy-reset|proxy-blackhole)
      db_for_api=$PROXY_DB_URL
      args+=(-proxy-control "http://$PROXY_CTL") ;;
    api-kill)
      args+=(-fault-inject "kill -9 \$(cat $RUN_DIR/api.pid)" -fault-heal "$RUN_DIR/start_api.sh" -fault-transport-errors) ;;
    pg-stop)
      if [[ ${RES_PG_TARGET:-shared} == private ]]; then
        [[ -n $PRIV_DIR ]] || start_private_pg
        db_for_api="postgres://postgres@127.0.0.1:$PRIV_PORT/$RES_DB?sslmode=disable"
        args+=(-fault-inject "$(private_pg_stop_cmd)" -fault-heal "$(private_pg_start_cmd)")
      else
        PG_STOP=$(pg_stop_cmd); PG_START=$(pg_start_cmd)
        args+=(-fault-inject "$PG_STOP" -fault-heal "$PG_START")
      fi ;;
    *) echo "unknown fault $fault" >&2; exit 2 ;;
  esac
  log "fault $fault"
  write_start_api "$db_for_api"
  port_free "$API_ADDR" || { echo "$API_ADDR is already in use" >&2; exit 2; }
  "$RUN_DIR/start_api.sh"
  wait_ready
  kill -0 "$(cat "$RUN_DIR/api.pid")" 2>/dev/null || { echo "wallet-api exited: see $RUN_DIR/api.log" >&2; exit 2; }
  set +e
  check_db=$DB_URL
  [[ $db_for_api == *":$PRIV_PORT/"* ]] && check_db=$db_for_api
  timeout 10m bin/loadgen run -scenario resiliency_partition -base-url "$BASE_URL" -database-url "$check_db" \
    -reports "$REPORTS" "${args[@]}"
  rc=$?
  set -e
  RESULT[$fault]=$rc
  (( rc == 0 )) || status=1
  stop_api
done

log "summary (reports in $REPORTS, logs in $RUN_DIR)"
for f in $RES_FAULTS; do
  if [[ ${RESULT[$f]} == 0 ]]; then echo "  $f: PASS"; else echo "  $f: FAIL (exit ${RESULT[$f]})"; fi
done
exit $status
