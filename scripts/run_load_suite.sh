#!/usr/bin/env bash
# The load suite: a fresh database, the API and the relay (publishing to NATS JetStream, as deployed), seeding,
# then the smoke, baseline, hot_merchant, spike and short soak profiles with cmd/loadgen, each checking its
# thresholds and the ledger's invariants, the relay draining the outbox after each, and every outbox event then in
# the JetStream stream exactly once. Everything targets 127.0.0.1 and every step is bounded in time; the script stops
# what it started.
#
#   scripts/run_load_suite.sh                      # all profiles
#   LOAD_PROFILES="smoke baseline" scripts/run_load_suite.sh
#   LOADGEN_SOAK_DURATION=30m scripts/run_load_suite.sh   # a real soak
#   LOAD_PROFILES="baseline@1500" LOAD_RATE_DURATION=30s scripts/run_load_suite.sh   # a profile at another rate
#
# Environment: PGHOST_URL (server, default postgres://postgres@127.0.0.1:5432), LOAD_DB (database name, dropped
# and re-created, default wallet_load; never the dev database), LOAD_API_ADDR (default 127.0.0.1:28080),
# DB_MAX_CONNS, WRITE_BATCH_* and other API settings pass through. The relay: LOAD_RELAY=0 leaves it out (only to
# study the API alone: the service is deployed with it), LOAD_RELAY_ADDR (127.0.0.1:28081), LOAD_RELAY_PUBLISHER
# (nats, as deployed; or sql), LOAD_RELAY_NICE (0: the same CPU priority as the API), LOAD_DRAIN_TIMEOUT (180 s
# for the backlog to clear after each profile).
# Each profile's CPU time, per process (PostgreSQL, wallet-api, relay, nats-server, loadgen) from its start until
# the relay has drained its events, is printed and kept beside its report as NAME-STAMP.cpu. Reports: load/reports/.
set -euo pipefail
cd "$(dirname "$0")/.."

PGHOST_URL=${PGHOST_URL:-postgres://postgres@127.0.0.1:5432}
LOAD_DB=${LOAD_DB:-wallet_load}
LOAD_API_ADDR=${LOAD_API_ADDR:-127.0.0.1:28080}
LOAD_PROFILES=${LOAD_PROFILES:-smoke baseline hot_merchant spike soak}
LOADGEN_SOAK_DURATION=${LOADGEN_SOAK_DURATION:-60s}
REPORTS=${LOADGEN_REPORTS:-load/reports}
# Production-style head sampling, as the Helm chart and the compose stack set it: tracing every request (the
# OpenTelemetry default) costs about a quarter of the API's CPU on the write path. Override to trace everything.
export OTEL_TRACES_SAMPLER=${OTEL_TRACES_SAMPLER:-parentbased_traceidratio}
export OTEL_TRACES_SAMPLER_ARG=${OTEL_TRACES_SAMPLER_ARG:-0.1}
export JWT_SECRET=${JWT_SECRET:-dev-secret-change-me}
# The suite measures the ledger's capacity, not the per-caller rate limit: the load generator is one caller (sub
# loadgen) at up to ~1,500 requests/s, far over the API's default budget. Set them to load-test the limiter.
export RATE_LIMIT_RPS=${RATE_LIMIT_RPS:-1000000}
export RATE_LIMIT_BURST=${RATE_LIMIT_BURST:-1000000}
export JWT_AUDIENCE=${JWT_AUDIENCE:-agentic-commerce}
[[ $LOAD_DB == wallet_service ]] && { echo "refusing to load the dev database wallet_service" >&2; exit 2; }
DB_URL="$PGHOST_URL/$LOAD_DB?sslmode=disable"
RELAY_ADDR=${LOAD_RELAY_ADDR:-127.0.0.1:28081}
RELAY_PUBLISHER=${LOAD_RELAY_PUBLISHER:-nats}
RELAY_NICE=${LOAD_RELAY_NICE:-0}
LOAD_STREAM=${LOAD_NATS_STREAM:-WALLET_LOAD}
LOAD_DRAIN_TIMEOUT=${LOAD_DRAIN_TIMEOUT:-180}
BASE_URL="http://$LOAD_API_ADDR"
RUN_DIR=$(mktemp -d /tmp/wallet-load.XXXXXX)
PIDS=()

cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT

log() { printf '\n[%s] %s\n' "$(date -u +%H:%M:%S)" "$*"; }

build() {
  log "building binaries"
  mkdir -p bin
  for c in wallet-api migrate walletctl loadgen relay; do
    if [[ -d cmd/$c ]]; then go build -o "bin/$c" "./cmd/$c"; fi
  done
}

fresh_db() {
  log "fresh database $LOAD_DB"
  psql "$PGHOST_URL/postgres" -v ON_ERROR_STOP=1 -qc "DROP DATABASE IF EXISTS $LOAD_DB WITH (FORCE)" -c "CREATE DATABASE $LOAD_DB"
  DATABASE_URL=$DB_URL bin/migrate
}

wait_ready() { # url seconds
  local deadline=$((SECONDS + $2))
  until curl -fsS -o /dev/null "$1/v1/ready" 2>/dev/null; do
    (( SECONDS < deadline )) || { echo "not ready after $2s: $1" >&2; return 1; }
    sleep 0.2
  done
}

port_free() { # host:port -> fails when something already listens there
  ! (exec 3<>"/dev/tcp/${1%:*}/${1##*:}") 2>/dev/null
}

start_api() {
  # Someone else's server on the port would take the load and its database the writes: refuse.
  port_free "$LOAD_API_ADDR" || { echo "$LOAD_API_ADDR is already in use; set LOAD_API_ADDR" >&2; exit 2; }
  log "starting wallet-api on $LOAD_API_ADDR"
  DATABASE_URL=$DB_URL HTTP_ADDR=$LOAD_API_ADDR LOG_LEVEL=${LOG_LEVEL:-warn} \
    bin/wallet-api >"$RUN_DIR/api.log" 2>&1 &
  API_PID=$!
  PIDS+=($API_PID)
  wait_ready "$BASE_URL" 30 || { tail -20 "$RUN_DIR/api.log"; exit 2; }
  kill -0 "$API_PID" 2>/dev/null || { echo "wallet-api exited: see $RUN_DIR/api.log" >&2; exit 2; }
  if relay_on; then
    if [[ $RELAY_PUBLISHER == nats ]]; then
      scripts/ensure_nats.sh
      # The stream holds this database's events only, so that check_stream can hold it to the outbox.
      bin/loadgen stream -purge -stream "$LOAD_STREAM"
    fi
    start_relay
  fi
}

RELAY_PID=""
start_relay() {
  port_free "$RELAY_ADDR" || { echo "$RELAY_ADDR is already in use; set LOAD_RELAY_ADDR" >&2; exit 2; }
  log "starting relay ($RELAY_PUBLISHER, nice $RELAY_NICE) on $RELAY_ADDR"
  # The relay as deployed (to NATS JetStream), sharing the two cores with PostgreSQL, the API and the load
  # generator; wait_drained fails a profile whose backlog it does not clear. Its own stream and subjects, so it
  # never mixes with a dev relay's, kept for an hour only.
  DATABASE_URL=$DB_URL RELAY_HTTP_ADDR=$RELAY_ADDR LOG_LEVEL=${LOG_LEVEL:-warn} RELAY_PUBLISHER=$RELAY_PUBLISHER \
    NATS_STREAM=$LOAD_STREAM NATS_SUBJECT_PREFIX=${LOAD_NATS_PREFIX:-wallet_load} NATS_STREAM_MAX_AGE=1h \
    nice -n "$RELAY_NICE" bin/relay >>"$RUN_DIR/relay.log" 2>&1 &
  RELAY_PID=$!
  PIDS+=($RELAY_PID)
  wait_ready "http://$RELAY_ADDR" 30 || { tail -20 "$RUN_DIR/relay.log"; exit 2; }
}

relay_on() { [[ -x bin/relay && ${LOAD_RELAY:-1} == 1 ]]; }

# cpu_ticks PID... -> the user and system clock ticks those processes have used so far (fields 14 and 15 of
# /proc/PID/stat, read after the command name, which may hold spaces).
cpu_ticks() {
  local total=0 pid t
  for pid in "$@"; do
    t=$(awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$pid/stat" 2>/dev/null) || continue
    total=$((total + ${t:-0}))
  done
  echo "$total"
}

# cpu_snapshot -> "postgres api relay nats" ticks. PostgreSQL is every process of the server (backends, WAL
# writer, checkpointer); the pools keep their backends for the whole run.
cpu_snapshot() {
  echo "$(cpu_ticks $(pgrep -x postgres)) $(cpu_ticks "$API_PID") $(cpu_ticks ${RELAY_PID:-}) $(cpu_ticks $(pgrep -x nats-server))"
}

backlog() { # the relay's last outbox backlog measurement, or nothing
  curl -fsS "http://$RELAY_ADDR/v1/ready" 2>/dev/null | sed -nE 's/.*"outbox_backlog":([0-9]+).*/\1/p'
}

# wait_drained waits until the relay has published every outbox event (backlog 0) and says how long that took.
wait_drained() {
  local start=$SECONDS deadline=$((SECONDS + LOAD_DRAIN_TIMEOUT)) b first=""
  while :; do
    b=$(backlog) # empty until the relay has measured it
    if [[ -z $first && -n $b ]]; then first=$b; fi
    if [[ $b == 0 ]]; then
      echo "relay: outbox backlog $first when the profile finished, drained $((SECONDS - start)) s later"
      return 0
    fi
    if (( SECONDS >= deadline )); then
      echo "relay: outbox backlog still ${b:-unknown} after ${LOAD_DRAIN_TIMEOUT}s (see $RUN_DIR/relay.log)" >&2
      return 1
    fi
    sleep 1
  done
}

# check_stream: every outbox event is in the JetStream stream exactly once (its Nats-Msg-Id is the event's ID).
check_stream() {
  [[ $RELAY_PUBLISHER == nats ]] || return 0
  bin/loadgen stream -stream "$LOAD_STREAM" -database-url "$DB_URL"
}

for p in $LOAD_PROFILES; do # before anything starts: NAME or NAME@RATE
  [[ $p =~ ^[a-z_]+(@[1-9][0-9]*)?$ ]] || { echo "profile $p: want NAME or NAME@RATE (a positive integer)" >&2; exit 2; }
done
build
fresh_db
start_api
log "seeding 3000 wallets"
BASE_URL=$BASE_URL bin/walletctl seed --count 3000 --base-url "$BASE_URL"

SUMMARY=() # one line per profile run, in order (a profile may be listed twice)
status=0
for p in $LOAD_PROFILES; do
  name=${p%@*}
  extra=()
  [[ $name == soak ]] && extra=(-duration "$LOADGEN_SOAK_DURATION")
  if [[ $p == *@* ]]; then # NAME@RATE: the profile with its busiest stage at RATE requests/s (loadgen -rate)
    extra+=(-rate "${p#*@}")
    if [[ -n ${LOAD_RATE_DURATION:-} ]]; then extra+=(-duration "$LOAD_RATE_DURATION"); fi
  fi
  log "profile $p"
  # As pgbench does before each run: vacuum and analyze what seeding and the earlier profiles wrote, so that
  # autovacuum's catch-up does not land inside the measured window; and a checkpoint, so that flushing what they
  # left dirty does not either.
  psql "$DB_URL" -qc "VACUUM ANALYZE" -c "CHECKPOINT"
  read -r pg0 api0 relay0 nats0 < <(cpu_snapshot)
  stamp=$(mktemp)
  set +e
  timeout 45m bin/loadgen run -scenario "$name" -base-url "$BASE_URL" -database-url "$DB_URL" -reports "$REPORTS" "${extra[@]}" &
  gen=$!
  gen_ticks=0
  while kill -0 "$gen" 2>/dev/null; do gen_ticks=$(cpu_ticks "$gen" $(pgrep -P "$gen")); sleep 0.5; done
  wait "$gen"
  rc=$?
  set -e
  if relay_on && ! wait_drained; then rc=1; fi
  read -r pg1 api1 relay1 nats1 < <(cpu_snapshot)
  report=$(find "$REPORTS" -name "$name-*.json" -newer "$stamp" 2>/dev/null | sort | tail -1)
  rm -f "$stamp"
  hz=$(getconf CLK_TCK)
  cpu_line=$(awk -v hz="$hz" -v pg=$((pg1 - pg0)) -v api=$((api1 - api0)) -v relay=$((relay1 - relay0)) \
    -v nats=$((nats1 - nats0)) -v gen="$gen_ticks" \
    'BEGIN { printf "postgres_s=%.2f api_s=%.2f relay_s=%.2f nats_s=%.2f loadgen_s=%.2f", pg/hz, api/hz, relay/hz, nats/hz, gen/hz }')
  echo "cpu from the profile's start until its events were drained: $cpu_line"
  if [[ -n $report ]]; then echo "$cpu_line" >"${report%.json}.cpu"; fi
  if relay_on && ! check_stream; then rc=1; fi
  if (( rc == 0 )); then SUMMARY+=("  $p: PASS"); else SUMMARY+=("  $p: FAIL (exit $rc)"); fi
  (( rc == 0 )) || status=1
done

log "summary (reports in $REPORTS, logs in $RUN_DIR)"
printf '%s\n' "${SUMMARY[@]}"
exit $status
