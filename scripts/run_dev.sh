#!/usr/bin/env bash
# make run: prepare PostgreSQL, migrate, build, and start the wallet-api (and the relay once it exists) on
# 127.0.0.1:8080, printing a dev token and a curl example.
set -euo pipefail
cd "$(dirname "$0")/.."

export DATABASE_URL="${DATABASE_URL:-postgres://postgres@localhost:5432/wallet_service?sslmode=disable}"
export JWT_SECRET="${JWT_SECRET:-dev-secret-change-me}"
export JWT_AUDIENCE="${JWT_AUDIENCE:-agentic-commerce}"
export HTTP_ADDR="${HTTP_ADDR:-:8080}"
# Webhooks (docs/webhooks.md): a development key to seal endpoint secrets, and http:// to loopback allowed so the
# reference receiver can run beside. Never set WEBHOOK_ALLOW_INSECURE outside local development.
export WEBHOOK_SECRET_KEY="${WEBHOOK_SECRET_KEY:-ZGV2LXdlYmhvb2sta2V5LWNoYW5nZS1tZS0wMTIzNDU=}"
export WEBHOOK_ALLOW_INSECURE="${WEBHOOK_ALLOW_INSECURE:-1}"

scripts/bootstrap_db.sh
make --no-print-directory build
bin/migrate

TOKEN="$(bin/walletctl token --sub demo --scope 'wallet:read wallet:write wallet:admin' --ttl 24h)"
port="${HTTP_ADDR##*:}"
cat <<MSG

wallet-api starting on http://localhost:${port}
A dev token for sub "demo" with every scope (24h):

export TOKEN=${TOKEN}

curl -X POST http://localhost:${port}/v1/wallets \\
  -H "Authorization: Bearer \$TOKEN" \\
  -H "Content-Type: application/json" \\
  -H "Idempotency-Key: \$(uuidgen 2>/dev/null || date +%s%N)" \\
  -d '{"wallet_id":"11111111-1111-4111-8111-111111111111","asset":"USD"}'

MSG
cat <<MSG
To try a webhook locally: add an endpoint pointing at the reference receiver, note its "secret", and run the
receiver with it in another terminal; every event then prints there (docs/webhooks.md).

curl -X POST http://localhost:${port}/v1/webhook_endpoints \\
  -H "Authorization: Bearer \$TOKEN" \\
  -H "Content-Type: application/json" \\
  -H "Idempotency-Key: \$(uuidgen 2>/dev/null || date +%s%N)" \\
  -d '{"url":"http://127.0.0.1:9000/webhooks"}'

WEBHOOK_SECRET=whsec_... go run ./relay/example/webhook-receiver

MSG
# The relay beside the API: outbox events to the Watermill SQL topic wallet_events (RELAY_PUBLISHER=nats for NATS
# JetStream), health on RELAY_HTTP_ADDR (:8081). It stops with the API.
export RELAY_PUBLISHER="${RELAY_PUBLISHER:-sql}"
if [ "$RELAY_PUBLISHER" = nats ]; then scripts/ensure_nats.sh; fi
bin/relay &
relay_pid=$!
trap 'kill "$relay_pid" 2>/dev/null || true' EXIT
bin/wallet-api
