#!/usr/bin/env bash
# Builds the helm CLI from source through the Go module proxy into bin/helm (no prebuilt download: the
# module proxy is the only registry CI and developer machines reach). deploy/deploy_test.go runs it.
# Idempotent: a bin/helm of the pinned version is kept.
set -euo pipefail

HELM_VERSION="${HELM_VERSION:-v3.22.0}"
# Default Kubernetes version for `helm template`/`helm lint` without a cluster. Helm's own release build
# derives it from its client-go (v0.37 -> 1.37); a plain `go install` would leave it at 1.20.
K8S_MAJOR=1
K8S_MINOR=37

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="${root}/bin"

if [[ -x "${bin}/helm" ]] && [[ "$("${bin}/helm" version --template '{{.Version}}' 2>/dev/null)" == "${HELM_VERSION}" ]]; then
  exit 0
fi

ldflags="-s -w"
ldflags+=" -X helm.sh/helm/v3/internal/version.version=${HELM_VERSION}"
ldflags+=" -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=${K8S_MAJOR}"
ldflags+=" -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=${K8S_MINOR}"
ldflags+=" -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=${K8S_MAJOR}"
ldflags+=" -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=${K8S_MINOR}"

echo "installing helm ${HELM_VERSION} into ${bin} (go install, a minute or two on first run)" >&2
mkdir -p "${bin}"
# `go install pkg@version` resolves helm's own module graph: our go.mod is never touched.
GOBIN="${bin}" GOFLAGS=-buildvcs=false CGO_ENABLED=0 \
  go install -trimpath -ldflags "${ldflags}" "helm.sh/helm/v3/cmd/helm@${HELM_VERSION}"
"${bin}/helm" version --short >&2
