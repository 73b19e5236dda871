# syntax=docker/dockerfile:1
#
# One image for every process of the wallet ledger. Kubernetes (deploy/doks/helm/wallet-service) and
# Docker Compose (deploy/droplet) pick the process with the container command: wallet-api (the default),
# relay, audit, migrate, walletctl, loadgen, wallet-mcp.
#
# Build:  docker build -t ghcr.io/<org>/wallet-service:latest .
#
# Probes: the runtime image is distroless (no shell, no curl), so there is no HEALTHCHECK here; the
# orchestrator probes over HTTP instead:
#   wallet-api  liveness GET :8080/v1/health, readiness GET :8080/v1/ready (503 while PostgreSQL is unreachable)
#   relay       liveness GET :8081/v1/health, readiness GET :8081/v1/ready
# The chart wires these as httpGet probes. No secret is baked in: JWT_SECRET and DATABASE_URL come from the
# environment at run time.

# Keep the minor version equal to the go directive of go.mod (deploy/deploy_test.go checks it).
ARG GO_VERSION=1.26

FROM golang:${GO_VERSION}-bookworm AS build
WORKDIR /src
# Static binaries: no libc in the runtime image, so cgo must stay off.
ENV CGO_ENABLED=0 GOOS=linux GOFLAGS=-buildvcs=false
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
# Every folder of cmd/ ships in the image; deploy/deploy_test.go fails when this list and cmd/ differ.
ARG BINARIES="wallet-api relay audit migrate walletctl loadgen wallet-mcp"
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    mkdir -p /out && \
    for b in ${BINARIES}; do \
      go build -trimpath -ldflags="-s -w" -o "/out/${b}" "./cmd/${b}" || exit 1; \
    done

# distroless static, nonroot variant: uid/gid 65532, no shell, no package manager.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/ /usr/local/bin/
USER 65532:65532
# 8080: wallet-api HTTP_ADDR; 8081: relay RELAY_HTTP_ADDR (health and metrics).
EXPOSE 8080 8081
ENTRYPOINT []
CMD ["wallet-api"]
