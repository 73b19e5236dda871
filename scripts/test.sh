#!/usr/bin/env bash
# The whole suite: prepare the services the integration tests talk to, then vet, format check and every Go test
# (fuzz targets run their seed corpus as normal tests).
set -euo pipefail
cd "$(dirname "$0")/.."

began=$SECONDS
step() { printf '== %s\n' "$*"; }
step "PostgreSQL (installed with apt and started if none answers)"
scripts/bootstrap_db.sh
# NATS JetStream at NATS_URL (default 127.0.0.1:4222) for the relay tests in ./relay (installed with apt if absent).
step "NATS JetStream (installed with apt and started if none answers)"
scripts/ensure_nats.sh
# The tools below are kept in a cache shared by every clone and run (scripts/tools_dir.sh): only the first run on a
# machine builds or installs them.
step "tools: helm, promtool, node (cache: $(source scripts/tools_dir.sh && echo "$WALLET_TOOLS_DIR"))"
# helm for the chart checks in ./deploy (built from source through the Go module proxy).
scripts/install_helm.sh
# promtool for the Prometheus config and alert-rule checks in ./internal/telemetry.
scripts/install_promtool.sh
# node for the k6 scripts in ./load.
scripts/install_node.sh
step "services and tools ready in $((SECONDS - began))s"
export TEST_DATABASE_URL="${TEST_DATABASE_URL:-${DATABASE_URL:-postgres://postgres@localhost:5432/wallet_service?sslmode=disable}}"
# A streaming standby of that server for the read replica tests in ./cmd/wallet-api (pg_basebackup -R into a scratch
# directory, started with pg_ctl; reused while it streams). The flag tells those tests they run under make test, so
# a missing standby fails them (with the reason) instead of skipping them; the rest of the suite still runs.
export WALLET_LEDGER_TEST_SUITE=1
TEST_REPLICA_URL="$(scripts/ensure_replica.sh)" || {
  echo "scripts/ensure_replica.sh failed (above): the read replica tests will fail"
  TEST_REPLICA_URL=""
}
export TEST_REPLICA_URL

step "gofmt"
unformatted="$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './vendor/*'))"
if [ -n "$unformatted" ]; then echo "not gofmt-formatted:"; echo "$unformatted"; exit 1; fi
step "go vet"
go vet ./...
step "go test"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
set +e
go test -count=1 -timeout 12m "$@" ./... 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
set -e
# One closing line that says what ran: packages whose tests passed and failed.
echo "packages: $(grep -cE '^ok[[:space:]]' "$log") passed, $(grep -cE '^FAIL[[:space:]]' "$log") failed; $((SECONDS - began))s in all"
exit "$rc"
