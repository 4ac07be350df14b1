#!/usr/bin/env bash
# Builds Flux's kustomize-controller from its upstream module source through
# the Go module proxy into bin/flux/<version>/, with the CRDs it needs taken
# from module sources too: Kustomization from the same module, the source
# kinds it watches (ExternalArtifact, GitRepository, Bucket, ...) from
# github.com/fluxcd/source-controller at the version of the
# source-controller/api module kustomize-controller requires. The e2e
# GitOps specs (test/e2e/flux_test.go) run the controller as a process
# against the local cluster. A binary already present is not rebuilt.
#
# The controller is built in a throwaway module (hack/lib/go-tool.sh) whose
# go.mod carries the controller's own replace directives, with its ./api
# submodule pointed at the published .../api module of the same version.
#
# Why kustomize-controller v1.9.5 and no source-controller: the module proxy
# this project builds from refuses the zips of modules every
# source-controller release it lists (v1.8.5 to v1.10.1) imports
# (github.com/fluxcd/pkg/artifact v0.8.1 to v0.27.1) and of modules
# kustomize-controller v1.10.x imports
# (github.com/fluxcd/pkg/{auth@v0.66.0,spiffe@v0.2.0,masktoken@v0.10.0,
# apis/crypto@v0.5.0,http/fetch@v0.30.1}): "403 This module version is not
# available". v1.9.5 is the newest release whose whole build list it serves.
# The source is therefore an ExternalArtifact (the source-controller API
# kustomize-controller consumes; the specs publish its artifact themselves),
# not a Bucket. FLUX_KUSTOMIZE_CONTROLLER_VERSION=1.10.1 GOTOOLCHAIN=go1.27.4
# tries a newer one (v1.10 needs Go 1.27; the toolchain is a module too).
#
# usage: hack/build-flux.sh      prints the directory holding the binary and crds/
set -euo pipefail

FLUX_KUSTOMIZE_CONTROLLER_VERSION="${FLUX_KUSTOMIZE_CONTROLLER_VERSION:-1.9.5}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="${ROOT}/bin/flux/kustomize-controller-v${FLUX_KUSTOMIZE_CONTROLLER_VERSION}"
KC="github.com/fluxcd/kustomize-controller@v${FLUX_KUSTOMIZE_CONTROLLER_VERSION}"

log() { echo "build-flux: $*" >&2; }
# shellcheck source=lib/go-tool.sh
source "${ROOT}/hack/lib/go-tool.sh"

# module_dir MODULE@VERSION: the module's source directory in the module cache.
module_dir() { go mod download -json "$1" | sed -n 's/.*"Dir": "\(.*\)",*/\1/p'; }

# copy_crds MODULE@VERSION: every CRD of the module's config/crd/bases.
copy_crds() {
  local dir
  dir="$(module_dir "$1")"
  mkdir -p "${OUT}/crds"
  cp "${dir}"/config/crd/bases/*.yaml "${OUT}/crds/"
  chmod u+w "${OUT}"/crds/*.yaml
}

if [ ! -x "${OUT}/kustomize-controller" ]; then
  log "building kustomize-controller v${FLUX_KUSTOMIZE_CONTROLLER_VERSION}"
  GO_TOOL_REPLACES="$(module_replaces "${KC}")" \
    build_go_tool "${OUT}/kustomize-controller" "${KC}" github.com/fluxcd/kustomize-controller "-s -w"
fi

copy_crds "${KC}"
kc_mod="$(go mod download -json "${KC}" | sed -n 's/.*"GoMod": "\(.*\)",*/\1/p')"
source_api="$(awk '$1 == "github.com/fluxcd/source-controller/api" && $2 ~ /^v/ {print $2; exit}' "${kc_mod}")"
[ -n "${source_api}" ] || { log "${KC} does not require github.com/fluxcd/source-controller/api"; exit 1; }
copy_crds "github.com/fluxcd/source-controller@${source_api}"

log "kustomize-controller and CRDs in ${OUT}"
echo "${OUT}"
