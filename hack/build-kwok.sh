#!/usr/bin/env bash
# Builds KWOK (Kubernetes WithOut Kubelet) from source through the Go module
# proxy into bin/kwok-<version>, for `make bench-scale` (test/scale):
# it simulates nodes and pod lifecycles so a thousand builds need no real
# nodes. A binary already present is not rebuilt. The project's go.mod never
# sees KWOK: the build happens in a throwaway module.
#
# usage: hack/build-kwok.sh      prints the binary's path
set -euo pipefail

KWOK_VERSION="${KWOK_VERSION:-0.8.0}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="${ROOT}/bin/kwok-v${KWOK_VERSION}"

log() { echo "build-kwok: $*" >&2; }
# shellcheck source=lib/go-tool.sh
source "${ROOT}/hack/lib/go-tool.sh"

ensure_go_tool "${OUT}" "sigs.k8s.io/kwok@v${KWOK_VERSION}" "sigs.k8s.io/kwok/cmd/kwok"
