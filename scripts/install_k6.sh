#!/usr/bin/env bash
# Install k6 for running load/k6/*.js against a cluster. k6 is optional here: the suites in this repository
# use cmd/loadgen (Go, vegeta), which needs nothing installed. This script only uses a package manager that
# is already configured; it never downloads binaries from elsewhere.
set -euo pipefail
if command -v k6 >/dev/null 2>&1; then
  echo "k6 already installed: $(k6 version)"
  exit 0
fi
if command -v apt-get >/dev/null 2>&1; then
  SUDO=""; [[ $(id -u) -eq 0 ]] || SUDO="sudo"
  $SUDO apt-get update -qq >/dev/null 2>&1 || true
  if apt-cache show k6 >/dev/null 2>&1; then
    $SUDO apt-get install -y -qq k6
    k6 version
    exit 0
  fi
elif command -v brew >/dev/null 2>&1; then
  brew install k6
  exit 0
fi
cat >&2 <<'MSG'
k6 is not available from the package sources configured on this machine.
Options:
  - Debian/Ubuntu: add Grafana's k6 apt repository (see the k6 installation docs), then re-run this script.
  - macOS: brew install k6.
  - Or skip k6: `make load` runs the same scenarios with cmd/loadgen (go run ./cmd/loadgen list).
The k6 scripts are still syntax-checked by `go test ./load/` with Node.
MSG
exit 1
