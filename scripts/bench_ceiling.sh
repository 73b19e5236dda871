#!/usr/bin/env bash
# The machine's write ceiling for comparison: pgbench TPC-B-like (3 updates, 1 insert, 1 select per transaction)
# at 16 clients on a scratch database, then (unless BENCH_BASELINE=0) the baseline load profile in the same run,
# and the ratio of committed transfers/s to pgbench tps. With BENCH_SWEEP, it then runs the baseline profile at
# each of those request rates (baseline@RATE: a fresh database each, BENCH_SWEEP_DURATION long, stopping at the
# first that fails) and reports the ceiling: the highest rate at which the bar still holds, and the ratio of its
# transfers/s to pgbench tps.
#   scripts/bench_ceiling.sh            BENCH_SECONDS=30 BENCH_CLIENTS=16 BENCH_SCALE=16
#   BENCH_SWEEP="1200 1500 1800 2100" make bench-ceiling
set -euo pipefail
cd "$(dirname "$0")/.."
PGHOST_URL=${PGHOST_URL:-postgres://postgres@127.0.0.1:5432}
DB=${BENCH_DB:-wallet_pgbench}
SECONDS_=${BENCH_SECONDS:-30}
CLIENTS=${BENCH_CLIENTS:-16}
SCALE=${BENCH_SCALE:-16}
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

field() { # report key -> the number it holds
  sed -nE "s/^  \"$2\": ([0-9.]+|true|false),?\$/\1/p" "$1" | head -1
}

summary() { # profile report -> one line: served transfers/s, p95, errors, verdict, ratio to pgbench
  local verdict=FAIL
  [[ $(field "$2" passed) == true ]] && verdict=PASS
  awk -v prof="$1" -v t="$(field "$2" transfers_committed_per_second)" -v p95="$(field "$2" write_p95_ms)" \
    -v e="$(field "$2" errors)" -v v="$verdict" -v p="$tps" \
    'BEGIN { printf "%-14s %6.1f transfers/s, p95 %7.1f ms, %s errors, %s; ratio to pgbench %.3f\n", prof, t, p95, e, v, t / p }'
}

# baseline PROFILE: runs it with the relay out (the bar counts PostgreSQL, the API and the load generator on the
# two cores), adds its summary line to LINES and returns the suite's exit code.
baseline() {
  local rc report stamp
  stamp=$(mktemp)
  set +e
  LOAD_RELAY=${LOAD_RELAY:-0} LOAD_PROFILES=$1 scripts/run_load_suite.sh
  rc=$?
  set -e
  report=$(find "${LOADGEN_REPORTS:-load/reports}" -name 'baseline-*.json' -newer "$stamp" 2>/dev/null | sort | tail -1)
  rm -f "$stamp"
  if [[ -n $report ]]; then LINES+=("$(summary "$1" "$report")"); else LINES+=("$1: no report (exit $rc)"); fi
  return $rc
}

LINES=()
status=0
if [[ ${BENCH_BASELINE:-1} == 1 ]]; then
  baseline baseline || status=1
fi
ceiling=""
for r in ${BENCH_SWEEP:-}; do
  [[ $r =~ ^[1-9][0-9]*$ ]] || { echo "BENCH_SWEEP: $r is not a request rate" >&2; exit 2; }
  if LOAD_RATE_DURATION=${BENCH_SWEEP_DURATION:-30s} baseline "baseline@$r"; then
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
