#!/usr/bin/env bash
# Seed the load-test wallet population through the API (idempotent: a re-run changes nothing).
#   scripts/seed_wallets.sh [--count 3000] [--base-url http://127.0.0.1:8080] [--initial-balance N]
# Uses bin/walletctl when built, else `go run ./cmd/walletctl`. JWT_SECRET and JWT_AUDIENCE must match the API's.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ -x bin/walletctl ]]; then
  exec bin/walletctl seed "$@"
fi
exec go run ./cmd/walletctl seed "$@"
