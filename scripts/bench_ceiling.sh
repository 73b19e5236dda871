#!/usr/bin/env bash
# The write path measured as deployed: pgbench TPC-B-like (3 updates, 1 insert, 1 select per transaction) at 16
# clients on a scratch database for the machine's own ceiling, then each profile of BENCH_PROFILES through the
# load suite (a fresh database each, the relay on and publishing to NATS JetStream, as deployed), and for each:
# committed transfers/s, write p50/p95/p99, errors, the CPU each process spent per transfer (PostgreSQL, the API,
# the relay with nats-server, the load generator), whether the profile's bar held, and the ratio of its
# transfers/s to pgbench's tps. With BENCH_SWEEP, it then runs BENCH_SWEEP_PROFILE at each of those request rates
# until one fails, and reports the ceiling.
#
#   make bench-ceiling                                   # baseline and hot_merchant at 1,545 requests/s, 60 s
#   BENCH_PROFILES="hot_merchant@2000" BENCH_DURATION=30s make bench-ceiling
#   BENCH_PROFILES= BENCH_SWEEP="1500 1800 2100" BENCH_SWEEP_PROFILE=hot_merchant make bench-ceiling
#
# The profiles replay 3% of their requests as idempotent retries, so 1,545 requests/s is 1,500 transfers/s.
# Environment: BENCH_SECONDS=30 BENCH_CLIENTS=16 BENCH_SCALE=16 (pgbench), BENCH_DURATION (60s),
# BENCH_SWEEP_DURATION (30s); everything run_load_suite.sh reads passes through.
set -euo pipefail
cd "$(dirname "$0")/.."
PGHOST_URL=${PGHOST_URL:-postgres://postgres@127.0.0.1:5432}
DB=${BENCH_DB:-wallet_pgbench}
SECONDS_=${BENCH_SECONDS:-30}
CLIENTS=${BENCH_CLIENTS:-16}
SCALE=${BENCH_SCALE:-16}
PROFILES=${BENCH_PROFILES-baseline@1545 hot_merchant@1545}
REPORTS=${LOADGEN_REPORTS:-load/reports}
[[ $DB == wallet_service ]] && { echo "refusing to use the dev database" >&2; exit 2; }
command -v pgbench >/dev/null || { echo "pgbench not found (Debian: apt-get install postgresql-contrib or postgresql-client)" >&2; exit 2; }

trap 'psql "$PGHOST_URL/postgres" -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true' EXIT
psql "$PGHOST_URL/postgres" -v ON_ERROR_STOP=1 -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB"
pgbench -q -i -s "$SCALE" "$PGHOST_URL/$DB" >/dev/null 2>&1
echo "pgbench -b tpcb-like -c $CLIENTS -j 2 -T $SECONDS_ (scale $SCALE):"
out=$(pgbench -b tpcb-like -c "$CLIENTS" -j 2 -T "$SECONDS_" "$PGHOST_URL/$DB" 2>&1)
echo "$out" | grep -E 'latency average|tps|number of failed' || true
tps=$(echo "$out" | sed -nE 's/^tps = ([0-9.]+).*/\1/p' | head -1)
[[ -n $tps ]] || { echo "$out" >&2; echo "could not read tps" >&2; exit 1; }
echo "pgbench_tps=$tps"
psql "$PGHOST_URL/postgres" -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)"

field() { # report key -> the number it holds
  sed -nE "s/^  \"$2\": ([0-9.]+|true|false),?\$/\1/p" "$1" | head -1
}

# summary PROFILE REPORT RC: one line of what the profile served and what each process spent per transfer. It
# passes when the run met its bar and the suite found the relay's work done (backlog drained, every event in the
# stream exactly once).
summary() {
  local verdict=FAIL cpu="" t
  [[ $(field "$2" passed) == true ]] && verdict=PASS
  [[ $verdict == PASS && $3 != 0 ]] && verdict="FAIL (the relay's drain or the stream check, exit $3)"
  [[ -f ${2%.json}.cpu ]] && cpu=$(cat "${2%.json}.cpu")
  t=$(field "$2" transfers_committed_per_second)
  awk -v prof="$1" -v t="$t" -v dur="$(field "$2" duration_s)" -v p50="$(field "$2" write_p50_ms)" \
    -v p95="$(field "$2" write_p95_ms)" -v p99="$(field "$2" write_p99_ms)" -v e="$(field "$2" errors)" \
    -v v="$verdict" -v p="$tps" -v cpu="$cpu" '
    BEGIN {
      n = split(cpu, kv, " "); for (i = 1; i <= n; i++) { split(kv[i], f, "="); c[f[1]] = f[2] }
      transfers = t * dur
      printf "%-20s %6.1f transfers/s, p50 %6.1f ms, p95 %7.1f ms, p99 %7.1f ms, %s errors, %s; ratio to pgbench %.3f\n",
        prof, t, p50, p95, p99, e, v, t / p
      if (n > 0 && transfers > 0)
        printf "%-20s CPU per transfer: PostgreSQL %.3f ms, API %.3f ms, relay %.3f ms + nats-server %.3f ms, loadgen %.3f ms\n",
          "", 1000 * c["postgres_s"] / transfers, 1000 * c["api_s"] / transfers, 1000 * c["relay_s"] / transfers,
          1000 * c["nats_s"] / transfers, 1000 * c["loadgen_s"] / transfers
    }'
}

# run PROFILE DURATION: the load suite on that profile alone; adds its summary to LINES, returns its exit code.
run() {
  local rc report stamp name=${1%@*}
  stamp=$(mktemp)
  set +e
  LOAD_PROFILES=$1 LOAD_RATE_DURATION=$2 scripts/run_load_suite.sh
  rc=$?
  set -e
  report=$(find "$REPORTS" -name "$name-*.json" -newer "$stamp" 2>/dev/null | sort | tail -1)
  rm -f "$stamp"
  if [[ -n $report ]]; then LINES+=("$(summary "$1" "$report" "$rc")"); else LINES+=("$1: no report (exit $rc)"); fi
  return $rc
}

LINES=()
status=0
for p in $PROFILES; do
  [[ $p =~ ^[a-z_]+@[1-9][0-9]*$ ]] || { echo "BENCH_PROFILES: $p is not NAME@RATE" >&2; exit 2; }
  run "$p" "${BENCH_DURATION:-60s}" || status=1
done
ceiling=""
for r in ${BENCH_SWEEP:-}; do
  [[ $r =~ ^[1-9][0-9]*$ ]] || { echo "BENCH_SWEEP: $r is not a request rate" >&2; exit 2; }
  if run "${BENCH_SWEEP_PROFILE:-baseline}@$r" "${BENCH_SWEEP_DURATION:-30s}"; then
    ceiling=${LINES[-1]}
  else
    break # past the ceiling: higher rates only fail slower
  fi
done

echo
echo "pgbench tps $tps"
for l in "${LINES[@]}"; do echo "$l"; done
if [[ -n ${BENCH_SWEEP:-} ]]; then
  echo "ceiling: ${ceiling:-below the first rate swept}"
fi
exit $status
