#!/usr/bin/env bash
# Builds the Helm CLI from source through the Go module proxy into
# bin/helm-<version>, for `make lint-chart` and the chart's drift test
# (charts/indexbuild). A binary already present is not rebuilt. The project's
# go.mod never sees Helm: the build happens in a throwaway module (Helm pins
# newer k8s.io/* modules than the operator does).
#
# usage: hack/build-helm.sh      prints the binary's path
set -euo pipefail

HELM_VERSION="${HELM_VERSION:-4.3.1}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="${ROOT}/bin/helm-v${HELM_VERSION}"

log() { echo "build-helm: $*" >&2; }

if [ -x "${OUT}" ]; then
  echo "${OUT}"
  exit 0
fi

mkdir -p "${ROOT}/bin"
workdir="$(mktemp -d)"
trap 'rm -rf "${workdir}"' EXIT
export GOFLAGS=-mod=mod CGO_ENABLED=0

major="${HELM_VERSION%%.*}"
log "building helm v${HELM_VERSION}"
(
  cd "${workdir}"
  go mod init indexbuild.local/helm-build >/dev/null 2>&1
  go get "helm.sh/helm/v${major}@v${HELM_VERSION}" >/dev/null 2>&1
  go build -trimpath \
    -ldflags="-s -w -X helm.sh/helm/v${major}/internal/version.version=v${HELM_VERSION}" \
    -o "${OUT}.tmp" "helm.sh/helm/v${major}/cmd/helm"
)
mv "${OUT}.tmp" "${OUT}"
log "built ${OUT}"
echo "${OUT}"
