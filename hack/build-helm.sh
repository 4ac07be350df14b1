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
# shellcheck source=lib/go-tool.sh
source "${ROOT}/hack/lib/go-tool.sh"

major="${HELM_VERSION%%.*}"
ensure_go_tool "${OUT}" "helm.sh/helm/v${major}@v${HELM_VERSION}" "helm.sh/helm/v${major}/cmd/helm" \
  "-s -w -X helm.sh/helm/v${major}/internal/version.version=v${HELM_VERSION}"
