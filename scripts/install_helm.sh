#!/usr/bin/env bash
# Builds the helm CLI from source through the Go module proxy (no prebuilt download: the module proxy is the only
# registry CI and developer machines reach) into the tools cache shared by every clone (scripts/tools_dir.sh), and
# links it as bin/helm for this clone. deploy/'s tests find it there (internal/devtools). Built once per machine and
# helm version: a cached helm of the pinned version is kept.
set -euo pipefail

HELM_VERSION="${HELM_VERSION:-v3.22.0}"
# Default Kubernetes version for `helm template`/`helm lint` without a cluster. Helm's own release build
# derives it from its client-go (v0.37 -> 1.37); a plain `go install` would leave it at 1.20.
K8S_MAJOR=1
K8S_MINOR=37

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=tools_dir.sh
source "${root}/scripts/tools_dir.sh"
dir="${WALLET_TOOLS_DIR}/helm/${HELM_VERSION}"

if [[ ! -x "${dir}/helm" ]] || [[ "$("${dir}/helm" version --template '{{.Version}}' 2>/dev/null)" != "${HELM_VERSION}" ]]; then
  ldflags="-s -w"
  ldflags+=" -X helm.sh/helm/v3/internal/version.version=${HELM_VERSION}"
  ldflags+=" -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=${K8S_MAJOR}"
  ldflags+=" -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=${K8S_MINOR}"
  ldflags+=" -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=${K8S_MAJOR}"
  ldflags+=" -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=${K8S_MINOR}"

  echo "install_helm: building helm ${HELM_VERSION} from source into ${dir} (once per machine: a few minutes)" >&2
  mkdir -p "${dir}"
  # `go install pkg@version` resolves helm's own module graph: our go.mod is never touched.
  GOBIN="${dir}" GOFLAGS=-buildvcs=false CGO_ENABLED=0 \
    go install -trimpath -ldflags "${ldflags}" "helm.sh/helm/v3/cmd/helm@${HELM_VERSION}"
  "${dir}/helm" version --short >&2
fi
ln -sfn "${dir}/helm" "${WALLET_TOOLS_DIR}/bin/helm"
mkdir -p "${root}/bin"
ln -sfn "${dir}/helm" "${root}/bin/helm"
