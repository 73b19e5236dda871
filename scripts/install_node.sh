#!/usr/bin/env bash
# Node.js, for the k6 scripts in ./load (node --check, and each script run under Node against a real wallet-api; k6
# itself is not needed). Installs Debian's nodejs package when node is missing: once per machine, shared by every
# clone like any system package. A node in the tools cache (scripts/tools_dir.sh) or on PATH is used as it is.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=tools_dir.sh
source "${root}/scripts/tools_dir.sh"
if [[ -x "${WALLET_TOOLS_DIR}/bin/node" ]] || command -v node >/dev/null 2>&1; then
  exit 0
fi
SUDO=""; [[ $(id -u) -eq 0 ]] || SUDO="sudo"
if command -v apt-get >/dev/null 2>&1; then
  echo "install_node: installing Debian's nodejs package with apt-get (once per machine)" >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq nodejs >/dev/null
fi
command -v node >/dev/null 2>&1 || { echo "install_node.sh: could not install node (apt-get install nodejs)" >&2; exit 1; }
