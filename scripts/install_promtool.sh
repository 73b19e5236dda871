#!/usr/bin/env bash
# Installs promtool (Debian package "prometheus"), which the observability config tests run
# (promtool check config / check rules). Idempotent: does nothing when promtool is already on PATH.
set -euo pipefail

if command -v promtool >/dev/null 2>&1; then
	exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
	echo "install_promtool: promtool missing and apt-get unavailable; install the Debian/Ubuntu package 'prometheus' or put promtool on PATH" >&2
	exit 1
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
	SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends prometheus >/dev/null
command -v promtool >/dev/null 2>&1 || { echo "install_promtool: package installed but promtool not on PATH" >&2; exit 1; }
