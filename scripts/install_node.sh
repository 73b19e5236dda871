#!/usr/bin/env bash
# Node.js, for the syntax check of the k6 scripts in ./load (node --check; k6 itself is not needed).
# Installs Debian's nodejs package when node is missing; does nothing when it is there.
set -euo pipefail
if command -v node >/dev/null 2>&1; then
  exit 0
fi
SUDO=""; [[ $(id -u) -eq 0 ]] || SUDO="sudo"
if command -v apt-get >/dev/null 2>&1; then
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq nodejs >/dev/null
fi
command -v node >/dev/null 2>&1 || { echo "install_node.sh: could not install node (apt-get install nodejs)" >&2; exit 1; }
