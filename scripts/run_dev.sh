#!/usr/bin/env bash
# make run: make sure PostgreSQL answers, build the binaries, migrate, then start wallet-api and the relay beside it,
# both on the loopback interface only (127.0.0.1:8080 and 127.0.0.1:8081; HTTP_ADDR and RELAY_HTTP_ADDR move them),
# because they run with the well-known dev secret. Once the API is ready it prints a dev token, the URL, the
# README's quick start and how to stop. Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."

export DATABASE_URL="${DATABASE_URL:-postgres://postgres@localhost:5432/wallet_service?sslmode=disable}"
export JWT_SECRET="${JWT_SECRET:-dev-secret-change-me}"
export JWT_AUDIENCE="${JWT_AUDIENCE:-agentic-commerce}"
export HTTP_ADDR="${HTTP_ADDR:-127.0.0.1:8080}"
export RELAY_HTTP_ADDR="${RELAY_HTTP_ADDR:-127.0.0.1:8081}"
# The relay beside the API: outbox events to the Watermill SQL topic wallet_events (RELAY_PUBLISHER=nats for NATS
# JetStream at NATS_URL).
export RELAY_PUBLISHER="${RELAY_PUBLISHER:-sql}"
# Webhooks (docs/webhooks.md): a development key to seal endpoint secrets, and http:// to loopback allowed so the
# reference receiver can run beside. Never set WEBHOOK_ALLOW_INSECURE outside local development.
export WEBHOOK_SECRET_KEY="${WEBHOOK_SECRET_KEY:-ZGV2LXdlYmhvb2sta2V5LWNoYW5nZS1tZS0wMTIzNDU=}"
export WEBHOOK_ALLOW_INSECURE="${WEBHOOK_ALLOW_INSECURE:-1}"
# No collector runs on a development machine: telemetry stays off (stderr logs only) unless an OTLP endpoint is set,
# instead of logging failed exports. OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4318 make run exports there.
if [ -z "${OTEL_EXPORTER_OTLP_ENDPOINT:-}" ]; then export OTEL_SDK_DISABLED="${OTEL_SDK_DISABLED:-true}"; fi

began=$SECONDS
step_began=$SECONDS
step() { # step N TEXT: announce a step, and how long the previous one took
  if [ "$1" -gt 1 ]; then printf '    done in %ds\n' $((SECONDS - step_began)); fi
  step_began=$SECONDS
  printf '\n==> [%s/4] %s\n' "$1" "$2"
}

host_of() { local h="${1%:*}"; h="${h#[}"; printf '%s' "${h%]}"; }
for addr in "$HTTP_ADDR" "$RELAY_HTTP_ADDR"; do
  case "$(host_of "$addr")" in
    127.*|localhost|::1) ;;
    *) printf 'run_dev: warning: %s listens beyond this machine, with the dev JWT secret unless JWT_SECRET is set\n' "$addr" >&2 ;;
  esac
done

step 1 "PostgreSQL at ${DATABASE_URL%%\?*} (installed with apt and started if none answers)"
scripts/bootstrap_db.sh

step 2 "building wallet-api, relay, migrate and walletctl into bin/ (the first build downloads modules and compiles a few hundred packages: minutes; later ones: seconds)"
mkdir -p bin
# go build -v names each package it compiles and each module it downloads: count them instead of printing hundreds
# of lines (on one line that updates itself on a terminal, every hundred otherwise). Errors are printed as they are.
tty=0
[ -t 1 ] && tty=1
if ! CGO_ENABLED=0 go build -v -trimpath -o bin/ ./cmd/wallet-api ./cmd/relay ./cmd/migrate ./cmd/walletctl 2>&1 |
  awk -v tty="$tty" '
    function show() { status = sprintf("    %d modules downloaded, %d packages compiled", d, c)
                      if (tty) { printf "\r%s", status; fflush(); shown = 1 } else if ((d + c) % 100 == 0) print status }
    /^go: downloading / { d++; show(); next }
    /^(#|[^ ]+\.go:|go: )/ { if (shown) printf "\n"; shown = 0; print; next }
    { c++; show() }
    END { if (shown) printf "\n"
          if (d + c) printf "    %d modules downloaded, %d packages compiled in all\n", d, c; else print "    up to date" }'
then
  echo "run_dev: go build failed" >&2
  exit 1
fi

step 3 "migrating the schema"
bin/migrate

step 4 "starting the relay (health on $RELAY_HTTP_ADDR) and wallet-api on $HTTP_ADDR"
if [ "$RELAY_PUBLISHER" = nats ]; then scripts/ensure_nats.sh; fi
pids=()
stop() {
  trap - INT TERM EXIT
  if [ ${#pids[@]} -gt 0 ]; then
    printf '\n==> stopping wallet-api and the relay\n'
    kill -TERM "${pids[@]}" 2>/dev/null || true
    wait "${pids[@]}" 2>/dev/null || true
  fi
}
trap 'stop; exit 0' INT TERM
trap stop EXIT
bin/relay &
pids+=($!)
bin/wallet-api &
pids+=($!)

url_of() { # a listen address -> the URL to reach it from this machine
  local h
  h="$(host_of "$1")"
  case "$h" in ""|0.0.0.0|::) h=127.0.0.1 ;; esac
  [[ $h == *:* ]] && h="[$h]"
  printf 'http://%s:%s' "$h" "${1##*:}"
}
url="$(url_of "$HTTP_ADDR")"
port="${HTTP_ADDR##*:}"
for _ in $(seq 1 300); do
  if curl -fsS -o /dev/null "$url/v1/ready" 2>/dev/null; then break; fi
  for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null || { echo "run_dev: a process exited during start-up" >&2; exit 1; }; done
  sleep 0.2
done
curl -fsS -o /dev/null "$url/v1/ready" || { echo "run_dev: wallet-api did not become ready in 60 s" >&2; exit 1; }
printf '    ready in %ds (%ds in all)\n' $((SECONDS - step_began)) $((SECONDS - began))

TOKEN="$(bin/walletctl token --sub demo --scope 'wallet:read wallet:write wallet:admin' --ttl 24h)"
# The quick start is README.md's own block, so the two never drift apart: the same wallets, amounts and keys. Only
# the token (minted above) and, when HTTP_ADDR moved the API, the address differ.
example_url="http://localhost:8080"
[ "$port" = 8080 ] || example_url="$url"
example="$(awk '/<!-- test: quick-start -->/ { f = 1; next } f && /^```bash/ { next } f && /^```/ { exit } f' README.md |
  sed -e "s|^export TOKEN=.*|export TOKEN=${TOKEN}|" -e "s|http://localhost:8080|${example_url}|g")"
cat <<MSG

================================================================================
wallet-api is ready at ${url} (relay health: $(url_of "$RELAY_HTTP_ADDR")/v1/ready)
wallet-api listens on ${HTTP_ADDR}, the relay on ${RELAY_HTTP_ADDR}. Press Ctrl-C here to stop both.

The README's quick start, with a dev token for sub "demo" with every scope (valid 24 h) in its first line.
In another terminal, from $(pwd), paste:

${example}

The last three commands print wallet 1111... at 7500 (75.00 USD), wallet 2222... at 2500, and "consistent":true.

To try a webhook locally: add an endpoint pointing at the reference receiver, note its "secret", and run the
receiver with it in another terminal; every event then prints there (docs/webhooks.md).

curl -X POST ${url}/v1/webhook_endpoints \\
  -H "Authorization: Bearer \$TOKEN" \\
  -H "Content-Type: application/json" \\
  -H "Idempotency-Key: \$(uuidgen 2>/dev/null || date +%s%N)" \\
  -d '{"url":"http://127.0.0.1:9000/webhooks"}'

WEBHOOK_SECRET=whsec_... go run ./relay/example/webhook-receiver
================================================================================

MSG
# Run until Ctrl-C, or until either process exits: then the EXIT trap stops the other.
set +e
wait -n "${pids[@]}"
rc=$?
if [ "$rc" -ne 0 ]; then echo "run_dev: wallet-api or the relay exited with status $rc" >&2; fi
exit "$rc"
