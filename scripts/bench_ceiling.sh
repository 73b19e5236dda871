#!/usr/bin/env bash
# The machine's write ceiling for comparison: pgbench TPC-B-like (3 updates, 1 insert, 1 select per transaction)
# at 16 clients on a scratch database, then (unless BENCH_BASELINE=0) the baseline load profile in the same run,
# and the ratio of committed transfers/s to pgbench tps.
#   scripts/bench_ceiling.sh            BENCH_SECONDS=30 BENCH_CLIENTS=16 BENCH_SCALE=16
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

if [[ ${BENCH_BASELINE:-1} == 1 ]]; then
  set +e
  # The bar counts PostgreSQL, the API and the load generator on the two cores: the relay stays out.
  LOAD_RELAY=${LOAD_RELAY:-0} LOAD_PROFILES=baseline scripts/run_load_suite.sh
  rc=$?
  set -e
  report=$(ls -t "${LOADGEN_REPORTS:-load/reports}"/baseline-*.json 2>/dev/null | head -1)
  if [[ -n $report ]]; then
    tfs=$(sed -nE 's/.*"transfers_committed_per_second": ([0-9.]+).*/\1/p' "$report" | head -1)
    awk -v t="$tfs" -v p="$tps" 'BEGIN { printf "transfers/s %.1f / pgbench tps %.1f = ratio %.3f\n", t, p, t / p }'
  fi
  exit $rc
fi
