#!/usr/bin/env bash
# promtool, for the Prometheus config and alert-rule checks in ./internal/telemetry (promtool check config, check
# rules, test rules). Taken from Debian's "prometheus" package without installing it (no Prometheus service is
# started), into the tools cache shared by every clone (scripts/tools_dir.sh); once per machine. A promtool already
# on PATH is used as it is.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=tools_dir.sh
source "${root}/scripts/tools_dir.sh"
cached="${WALLET_TOOLS_DIR}/bin/promtool"

if [[ -x "${cached}" ]] || command -v promtool >/dev/null 2>&1; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "install_promtool: promtool missing and apt-get unavailable; put promtool on PATH or in ${WALLET_TOOLS_DIR}/bin" >&2
  exit 1
fi
echo "install_promtool: extracting promtool from Debian's prometheus package into ${WALLET_TOOLS_DIR}/bin (once per machine)" >&2
work="$(mktemp -d)"
trap 'rm -rf "${work}"' EXIT
# apt-get download needs only the package lists; refresh them when it cannot find the package.
if ! (cd "${work}" && apt-get download -qq prometheus >/dev/null 2>&1); then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  (cd "${work}" && apt-get download -qq prometheus >/dev/null)
fi
dpkg-deb -x "${work}"/prometheus_*.deb "${work}/root"
install -m 0755 "${work}/root/usr/bin/promtool" "${cached}"
"${cached}" --version 2>&1 | head -1 >&2
