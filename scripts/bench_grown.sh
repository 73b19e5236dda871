#!/usr/bin/env bash
# make bench-grown: does the ledger stay fast as it grows? The same measurements on a fresh database and on one
# grown to BENCH_GROWN_ENTRIES journal entries over BENCH_GROWN_WALLETS wallets (walletctl seed --entries: set-based
# SQL, minutes), side by side:
#   - the baseline profile (the bar: 1,000 transfers/s for 60 s, relay out, as make load runs it): transfers/s, p95
#   - GETs, one at a time (BENCH_GROWN_READS each): a balance, a history page deep into the busy wallet, its audit
#   - the audit: incremental passes over the baseline's events (bin/audit --incremental), the full sweep (bin/audit,
#     the CronJob) and the relay's own full pass at start
#   - the grown database's size, table by table
# Then, with BENCH_GROWN_SOAK set, a soak on the grown database with the relay publishing and pruning: table sizes
# sampled every BENCH_GROWN_SOAK_SAMPLE.
# Not part of make test. At the defaults it writes about 10 GB and takes an hour or so: run it on a quiet machine.
# The test standby of scripts/ensure_replica.sh is stopped first (it would replay every byte on the same cores;
# make test starts it again, rebuilding it if it fell too far behind).
#
#   make bench-grown                                                   # 10,000,000 entries over 100,000 wallets
#   BENCH_GROWN_ENTRIES=200000 BENCH_GROWN_WALLETS=20000 make bench-grown   # a rehearsal in a few minutes
#   BENCH_GROWN_SOAK=1h BENCH_GROWN_SOAK_RATE=500 make bench-grown       # then an hour at 500 transfers/s
#   BENCH_GROWN_KEEP=1 make bench-grown      # keep wallet_grown afterwards; BENCH_GROWN_REUSE=1 measures it again
#
# Environment: PGHOST_URL (default postgres://postgres@127.0.0.1:5432), LOAD_API_ADDR (127.0.0.1:28080),
# LOAD_RELAY_ADDR (127.0.0.1:28081), BENCH_GROWN_RATE and BENCH_GROWN_DURATION (the baseline's request rate and
# length; default the profile's 1,030/s for 60 s), BENCH_GROWN_STOP_REPLICA=0 (leave the test standby running),
# BENCH_GROWN_SOAK_RETENTION (outbox and SQL topic retention during the soak, default 10m so the prune shows
# within the hour), BENCH_GROWN_HOLDS, BENCH_GROWN_MANDATES, BENCH_GROWN_RECENT (walletctl seed's flags).
set -euo pipefail
cd "$(dirname "$0")/.."

PGHOST_URL=${PGHOST_URL:-postgres://postgres@127.0.0.1:5432}
ENTRIES=${BENCH_GROWN_ENTRIES:-10000000}
WALLETS=${BENCH_GROWN_WALLETS:-100000}
READS=${BENCH_GROWN_READS:-300}
API_ADDR=${LOAD_API_ADDR:-127.0.0.1:28080}
RELAY_ADDR=${LOAD_RELAY_ADDR:-127.0.0.1:28081}
BASE_URL="http://$API_ADDR"
REPORTS=${LOADGEN_REPORTS:-load/reports}
FRESH_DB=wallet_grown_fresh
GROWN_DB=wallet_grown
export JWT_SECRET=${JWT_SECRET:-dev-secret-change-me}
export JWT_AUDIENCE=${JWT_AUDIENCE:-agentic-commerce}
export OTEL_TRACES_SAMPLER=${OTEL_TRACES_SAMPLER:-parentbased_traceidratio}
export OTEL_TRACES_SAMPLER_ARG=${OTEL_TRACES_SAMPLER_ARG:-0.1}
# The bench measures the ledger, not the per-caller rate limit: the load generator is one caller (as in
# run_load_suite.sh).
export RATE_LIMIT_RPS=${RATE_LIMIT_RPS:-1000000}
export RATE_LIMIT_BURST=${RATE_LIMIT_BURST:-1000000}
RUN_DIR=$(mktemp -d /tmp/wallet-grown.XXXXXX)
PIDS=()
API_PID="" RELAY_PID=""

cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  psql "$PGHOST_URL/postgres" -qc "DROP DATABASE IF EXISTS $FRESH_DB WITH (FORCE)" >/dev/null 2>&1 || true
  if [[ ${BENCH_GROWN_KEEP:-0} != 1 ]]; then
    psql "$PGHOST_URL/postgres" -qc "DROP DATABASE IF EXISTS $GROWN_DB WITH (FORCE)" >/dev/null 2>&1 || true
  fi
}
trap cleanup EXIT
log() { printf '\n[%s] %s\n' "$(date -u +%H:%M:%S)" "$*"; }
port_free() { ! (exec 3<>"/dev/tcp/${1%:*}/${1##*:}") 2>/dev/null; }
wait_ready() { # url seconds
  local deadline=$((SECONDS + $2))
  until curl -fsS -o /dev/null "$1/v1/ready" 2>/dev/null; do
    (( SECONDS < deadline )) || { echo "not ready after $2s: $1" >&2; return 1; }
    sleep 0.2
  done
}
sql() { psql "$PGHOST_URL/$1" -XAtqc "$2"; }
field() { sed -nE "s/^  \"$2\": ([0-9.]+|true|false),?\$/\1/p" "$1" | head -1; } # top-level key of a report

start_api() { # db [env...]
  port_free "$API_ADDR" || { echo "$API_ADDR is already in use; set LOAD_API_ADDR" >&2; exit 2; }
  local db=$1; shift
  env DATABASE_URL="$PGHOST_URL/$db?sslmode=disable" HTTP_ADDR=$API_ADDR LOG_LEVEL=warn "$@" \
    bin/wallet-api >>"$RUN_DIR/api-$db.log" 2>&1 &
  API_PID=$!
  PIDS+=("$API_PID")
  wait_ready "$BASE_URL" 60 || { tail -20 "$RUN_DIR/api-$db.log"; exit 2; }
}
stop_api() { kill -TERM "$API_PID"; wait "$API_PID" 2>/dev/null || true; }
start_relay() { # db [env...]: the SQL publisher (no broker needed); logs at info for the audit pass lines
  port_free "$RELAY_ADDR" || { echo "$RELAY_ADDR is already in use; set LOAD_RELAY_ADDR" >&2; exit 2; }
  local db=$1; shift
  env DATABASE_URL="$PGHOST_URL/$db?sslmode=disable" RELAY_HTTP_ADDR=$RELAY_ADDR RELAY_PUBLISHER=sql LOG_LEVEL=info \
    AUDIT_FULL_INTERVAL=24h "$@" bin/relay >>"$RUN_DIR/relay-$db.log" 2>&1 &
  RELAY_PID=$!
  PIDS+=("$RELAY_PID")
  wait_ready "http://$RELAY_ADDR" 60 || { tail -20 "$RUN_DIR/relay-$db.log"; exit 2; }
}
stop_relay() { kill -TERM "$RELAY_PID"; wait "$RELAY_PID" 2>/dev/null || true; }
wait_drained() { # the relay's outbox backlog reaches 0
  local deadline=$((SECONDS + 600)) b
  while :; do
    # Not ready (503) while it starts, or busy: no backlog figure yet, not a failure of the bench.
    b=$(curl -fsS "http://$RELAY_ADDR/v1/ready" 2>/dev/null | sed -nE 's/.*"outbox_backlog":([0-9]+).*/\1/p') || b=""
    [[ $b == 0 ]] && return 0
    (( SECONDS < deadline )) || { echo "relay backlog still ${b:-unknown} after 600 s" >&2; return 1; }
    sleep 1
  done
}

# probe NAME URL: READS sequential GETs, their p50/p95/max in ms (curl's time_total: from connect to last byte).
probe() {
  local out
  out=$(for _ in $(seq 1 "$READS"); do
    curl -s -o /dev/null -w '%{http_code} %{time_total}\n' -H "Authorization: Bearer $TOKEN" "$2"
  done)
  local bad
  bad=$(echo "$out" | awk '$1 != 200' | wc -l)
  echo "$out" | awk '{print $2 * 1000}' | sort -n | awk -v name="$1" -v bad="$bad" \
    'function at(p) { i = int(NR * p + 0.999); return a[i < 1 ? 1 : i] }
     {a[NR]=$1} END {printf "%s p50 %.2f ms, p95 %.2f ms, max %.2f ms (%d GETs, %d not 200)", name, at(0.5), at(0.95), a[NR], NR, bad}'
}

# measure DB LABEL: the whole set of measurements on DB, one result line per measure into RESULTS_<LABEL>.
measure() {
  local db=$1 label=$2 stamp report busy half walked step cursor line
  local -n results=$3
  log "$label: wallet-api on $db, seeding the load generator's 3000 wallets through the API"
  start_api "$db"
  bin/walletctl seed --count 3000 --base-url "$BASE_URL" >/dev/null
  sql "$db" "VACUUM ANALYZE" >/dev/null
  # Flush what the grow and the seeding left dirty now, so the checkpointer does not write gigabytes of it during
  # the measured minute.
  sql "$db" "CHECKPOINT" >/dev/null
  log "$label: baseline profile"
  stamp=$(mktemp)
  local rate=()
  [[ -n ${BENCH_GROWN_RATE:-} ]] && rate=(-rate "$BENCH_GROWN_RATE")
  [[ -n ${BENCH_GROWN_DURATION:-} ]] && rate+=(-duration "$BENCH_GROWN_DURATION")
  set +e
  timeout 45m bin/loadgen run -scenario baseline -base-url "$BASE_URL" -database-url "$PGHOST_URL/$db?sslmode=disable" \
    -reports "$REPORTS" "${rate[@]}"
  set -e
  report=$(find "$REPORTS" -name 'baseline-*.json' -newer "$stamp" | sort | tail -1)
  rm -f "$stamp"
  if [[ -n $report ]]; then
    results+=("$(printf 'baseline: %.1f transfers/s, write p95 %.1f ms, %s errors, passed %s' "$(field "$report" transfers_committed_per_second)" \
      "$(field "$report" write_p95_ms)" "$(field "$report" errors)" "$(field "$report" passed)")")
  else
    results+=("baseline: no report")
  fi

  log "$label: incremental audit passes over the baseline's events, then the full sweep"
  local passes=0 events
  while :; do
    line=$(OTEL_SDK_DISABLED=true DATABASE_URL="$PGHOST_URL/$db?sslmode=disable" bin/audit --incremental --json)
    events=$(echo "$line" | sed -nE 's/.*"events":([0-9]+).*/\1/p')
    [[ -z $events || $events == 0 ]] && break
    passes=$((passes + 1))
    results+=("audit incremental pass $passes: $events events, $(echo "$line" | sed -nE 's/.*"wallets_checked":([0-9]+).*/\1/p') wallets in $(echo "$line" | sed -nE 's/.*"duration_ms":([0-9]+).*/\1/p') ms")
    (( passes < 20 )) || break
  done
  line=$(OTEL_SDK_DISABLED=true DATABASE_URL="$PGHOST_URL/$db?sslmode=disable" bin/audit --json --timeout 2h) || true
  results+=("audit full sweep (bin/audit): clean $(echo "$line" | sed -nE 's/.*"clean":(true|false).*/\1/p'), $(echo "$line" | sed -nE 's/.*"wallets_checked":([0-9]+).*/\1/p') wallets, $(echo "$line" | sed -nE 's/.*"transactions_checked":([0-9]+).*/\1/p') transactions in $(echo "$line" | sed -nE 's/.*"duration_ms":([0-9]+).*/\1/p') ms")

  log "$label: the relay publishes the backlog and projects the history (its full audit pass runs at start)"
  start_relay "$db"
  wait_drained
  local deadline=$((SECONDS + 3600)) full=""
  until [[ -n $full ]] || (( SECONDS > deadline )); do
    # Not logged yet on a large ledger: grep finds nothing, which is no failure.
    full=$(grep '"msg":"audit pass"' "$RUN_DIR/relay-$db.log" | grep '"mode":"full"' | sed -nE 's/.*"duration_ms":([0-9]+).*/\1/p' | head -1) || full=""
    sleep 1
  done
  results+=("relay's full audit pass: ${full:-not seen} ms")

  busy=$(sql "$db" "SELECT wallet_id FROM balance_projections WHERE kind = 'user' ORDER BY version DESC LIMIT 1")
  TOKEN=$(bin/walletctl token --sub loadgen --scope "wallet:read")
  deadline=$((SECONDS + 600))
  until curl -fsS -H "Authorization: Bearer $TOKEN" "$BASE_URL/v1/wallets/$busy/transactions?limit=1" | grep -q '"pending_entries":0'; do
    (( SECONDS < deadline )) || { echo "the history of $busy never caught up" >&2; break; }
    sleep 1
  done
  # A cursor halfway down the busy wallet's history. Cursors are signed (docs/api.md, "Lists"), so walk there.
  half=$(sql "$db" "SELECT count(*) / 2 FROM wallet_history WHERE wallet_id = '$busy'")
  cursor="" step=200
  ((half < step)) && step=$half
  for ((walked = 0; step > 0 && walked < half; walked += step)); do
    cursor=$(curl -fsS -H "Authorization: Bearer $TOKEN" \
      "$BASE_URL/v1/wallets/$busy/transactions?limit=$step${cursor:+&cursor=$cursor}" |
      sed -nE 's/.*"next_cursor":"([^"]+)".*/\1/p') || cursor=""
    [[ -n $cursor ]] || { echo "no cursor $walked entries down the history of $busy" >&2; break; }
  done
  log "$label: reads ($READS each, one at a time) of the busiest wallet, $busy ($(sql "$db" "SELECT count(*) FROM wallet_history WHERE wallet_id = '$busy'") entries)"
  results+=("$(probe "balance read" "$BASE_URL/v1/wallets/$busy/balance")")
  results+=("$(probe "history page (50) halfway down the busy wallet" "$BASE_URL/v1/wallets/$busy/transactions?limit=50&cursor=$cursor")")
  results+=("$(probe "the busy wallet's audit" "$BASE_URL/v1/wallets/$busy/balance/audit")")
  stop_relay
  stop_api
  results+=("database size $(sql "$db" "SELECT pg_size_pretty(pg_database_size(current_database()))"); journal $(sql "$db" "SELECT count(*) FROM journal_entries") entries")
}

sizes() { # db -> rows and size of the tables retention bounds, and the size of those that grow with the journal
  sql "$1" "SELECT string_agg(x, '; ') FROM (
    SELECT format('outbox_events %s rows %s', (SELECT count(*) FROM outbox_events), pg_size_pretty(pg_total_relation_size('outbox_events'))) AS x
    UNION ALL SELECT format('idempotency_keys %s rows %s', (SELECT count(*) FROM idempotency_keys), pg_size_pretty(pg_total_relation_size('idempotency_keys')))
    UNION ALL SELECT format('watermill_wallet_events %s rows %s', (SELECT count(*) FROM watermill_wallet_events), pg_size_pretty(pg_total_relation_size('watermill_wallet_events')))
    UNION ALL SELECT format('journal_entries %s', pg_size_pretty(pg_total_relation_size('journal_entries')))
    UNION ALL SELECT format('wallet_history %s', pg_size_pretty(pg_total_relation_size('wallet_history')))) s"
}

mkdir -p bin "$REPORTS"
log "building binaries"
for c in wallet-api migrate walletctl loadgen relay audit; do go build -o "bin/$c" "./cmd/$c"; done
if [[ -x scripts/ensure_replica.sh && ${BENCH_GROWN_STOP_REPLICA:-1} == 1 ]]; then scripts/ensure_replica.sh --stop || true; fi
if [[ -n $(sql postgres "SELECT 1 FROM pg_stat_replication LIMIT 1") ]]; then
  echo "warning: a standby streams from this server and replays every byte written here, on the same cores" >&2
fi

log "fresh database $FRESH_DB"
sql postgres "DROP DATABASE IF EXISTS $FRESH_DB WITH (FORCE)" >/dev/null
sql postgres "CREATE DATABASE $FRESH_DB" >/dev/null
DATABASE_URL="$PGHOST_URL/$FRESH_DB?sslmode=disable" bin/migrate >/dev/null

grown_ok=0
if [[ ${BENCH_GROWN_REUSE:-0} == 1 && $(sql postgres "SELECT 1 FROM pg_database WHERE datname = '$GROWN_DB'") == 1 ]]; then
  log "reusing $GROWN_DB"
  grown_ok=1
fi
SEED_LINE="reused"
if [[ $grown_ok == 0 ]]; then
  log "growing $GROWN_DB to $ENTRIES entries over $WALLETS wallets"
  sql postgres "DROP DATABASE IF EXISTS $GROWN_DB WITH (FORCE)" >/dev/null
  sql postgres "CREATE DATABASE $GROWN_DB" >/dev/null
  DATABASE_URL="$PGHOST_URL/$GROWN_DB?sslmode=disable" bin/migrate >/dev/null
  start=$SECONDS
  bin/walletctl seed --entries "$ENTRIES" --count "$WALLETS" --holds "${BENCH_GROWN_HOLDS:-5000}" \
    --mandates "${BENCH_GROWN_MANDATES:-2000}" --recent "${BENCH_GROWN_RECENT:-100000}" \
    --database-url "$PGHOST_URL/$GROWN_DB?sslmode=disable" | tee "$RUN_DIR/seed.log"
  SEED_LINE="$(tail -1 "$RUN_DIR/seed.log") (walletctl seed wall time $((SECONDS - start)) s)"
fi

FRESH=() GROWN=()
measure "$FRESH_DB" fresh FRESH
measure "$GROWN_DB" grown GROWN

if [[ -n ${BENCH_GROWN_SOAK:-} ]]; then
  retention=${BENCH_GROWN_SOAK_RETENTION:-10m}
  rate=$(awk -v t="${BENCH_GROWN_SOAK_RATE:-500}" 'BEGIN { printf "%d", t / 0.971 + 0.5 }') # the profile is 97.1 % transfers
  log "soak on $GROWN_DB: $BENCH_GROWN_SOAK at $rate requests/s, the relay publishing and pruning (retention $retention)"
  start_api "$GROWN_DB"
  start_relay "$GROWN_DB" OUTBOX_RETENTION="$retention" RELAY_SQL_TOPIC_RETENTION="$retention" OUTBOX_PRUNE_INTERVAL=1m
  SOAK=("start: $(sizes "$GROWN_DB")")
  bin/loadgen run -scenario baseline -rate "$rate" -duration "$BENCH_GROWN_SOAK" -base-url "$BASE_URL" \
    -database-url "$PGHOST_URL/$GROWN_DB?sslmode=disable" -reports "$REPORTS" >"$RUN_DIR/soak.log" 2>&1 &
  soak=$!
  PIDS+=("$soak")
  begin=$SECONDS
  while kill -0 "$soak" 2>/dev/null; do
    sleep "${BENCH_GROWN_SOAK_SAMPLE:-300}"
    SOAK+=("$(( (SECONDS - begin) / 60 ))m$(( (SECONDS - begin) % 60 ))s: $(sizes "$GROWN_DB")")
  done
  wait "$soak" || true
  SOAK+=("loadgen: $(grep -E '^== |^all writes|^statuses|^PASS|^FAIL' "$RUN_DIR/soak.log" | tr -s ' ' | tr '\n' ';')")
  stop_relay
  stop_api
fi

log "results (logs in $RUN_DIR, reports in $REPORTS)"
echo "grown database: $SEED_LINE"
echo "fresh ($FRESH_DB):"; printf '  %s\n' "${FRESH[@]}"
echo "grown ($GROWN_DB, $ENTRIES entries over $WALLETS wallets):"; printf '  %s\n' "${GROWN[@]}"
if [[ -n ${BENCH_GROWN_SOAK:-} ]]; then echo "soak:"; printf '  %s\n' "${SOAK[@]}"; fi
