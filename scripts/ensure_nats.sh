#!/usr/bin/env bash
# Makes sure a NATS server with JetStream answers at NATS_URL (default nats://127.0.0.1:4222), for the relay and its
# tests: installs nats-server with apt (Debian package nats-server) when it is absent, and starts it with JetStream
# when nothing listens. Idempotent: when a server already answers it does nothing.
set -euo pipefail
cd "$(dirname "$0")/.."

NATS_URL="${NATS_URL:-nats://127.0.0.1:4222}"
log() { printf 'ensure_nats: %s\n' "$*" >&2; }
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

hostport="${NATS_URL#*://}"; hostport="${hostport##*@}"; hostport="${hostport%%/*}"
HOST="${hostport%%:*}"; PORT="4222"; [ "$hostport" != "$HOST" ] && PORT="${hostport#*:}"

answers() { (exec 3<>"/dev/tcp/${HOST}/${PORT}") >/dev/null 2>&1; }

if answers; then
  log "a server answers at ${HOST}:${PORT}"
  exit 0
fi
case "$HOST" in
  127.0.0.1|localhost) ;;
  *) log "nothing answers at ${HOST}:${PORT} and it is not local: start it there"; exit 1 ;;
esac

bin="$(command -v nats-server || true)"
[ -z "$bin" ] && [ -x /usr/sbin/nats-server ] && bin=/usr/sbin/nats-server
if [ -z "$bin" ]; then
  log "nats-server is not installed: installing it with apt-get"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nats-server >/dev/null
  bin="$(command -v nats-server || echo /usr/sbin/nats-server)"
fi

store="${NATS_STORE_DIR:-.dev/nats}"
mkdir -p "$store"
logfile="$store/nats-server.log"
log "starting $bin with JetStream on ${HOST}:${PORT} (store $store, log $logfile)"
# setsid: the server outlives this script and the shell that ran it.
setsid "$bin" -a "$HOST" -p "$PORT" -js -sd "$store" -l "$logfile" </dev/null >/dev/null 2>&1 &

for _ in $(seq 1 50); do
  if answers; then
    log "nats-server answers at ${HOST}:${PORT}"
    exit 0
  fi
  sleep 0.2
done
log "nats-server did not answer within 10s; see $logfile"
exit 1
