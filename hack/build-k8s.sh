#!/usr/bin/env bash
# Builds upstream Kubernetes control-plane binaries and etcd from source through
# the Go module proxy, into bin/k8s/<version>/. Nothing is downloaded from
# anywhere but the module proxy; a binary already present is not rebuilt.
#
# usage: hack/build-k8s.sh [component ...]
#   components: etcd kube-apiserver kube-controller-manager kube-scheduler kubelet
#   default: etcd kube-apiserver (what envtest needs)
# Prints the directory holding the binaries (use it as KUBEBUILDER_ASSETS).
set -euo pipefail

K8S_VERSION="${K8S_VERSION:-1.37.0}"
ETCD_VERSION="${ETCD_VERSION:-3.6.16}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="${ROOT}/bin/k8s/${K8S_VERSION}"
components=("$@")
[ ${#components[@]} -gt 0 ] || components=(etcd kube-apiserver)

log() { echo "build-k8s: $*" >&2; }
# shellcheck source=lib/go-tool.sh
source "${ROOT}/hack/lib/go-tool.sh"
mkdir -p "${OUT}"

missing_k8s=()
need_etcd=false
for c in "${components[@]}"; do
  case "$c" in
    etcd) [ -x "${OUT}/etcd" ] || need_etcd=true ;;
    kube-apiserver|kube-controller-manager|kube-scheduler|kubelet)
      [ -x "${OUT}/${c}" ] || missing_k8s+=("$c") ;;
    *) log "unknown component: $c"; exit 2 ;;
  esac
done

# A throwaway module per build: the project's go.mod never sees k8s.io/kubernetes.
workdir="$(mktemp -d)"
trap 'rm -rf "${workdir}"' EXIT
export GOFLAGS=-mod=mod CGO_ENABLED=0

if $need_etcd; then
  log "building etcd v${ETCD_VERSION}"
  build_go_tool "${OUT}/etcd" "go.etcd.io/etcd/server/v3@v${ETCD_VERSION}" go.etcd.io/etcd/server/v3
fi

if [ ${#missing_k8s[@]} -gt 0 ]; then
  log "building ${missing_k8s[*]} from k8s.io/kubernetes v${K8S_VERSION}"
  mkdir -p "${workdir}/k8s"
  cd "${workdir}/k8s"
  modfile="$(go mod download -json "k8s.io/kubernetes@v${K8S_VERSION}" | sed -n 's/.*"GoMod": "\(.*\)",*/\1/p')"
  staging_version="v0.${K8S_VERSION#1.}"
  {
    echo "module indexbuild.local/k8s-build"
    echo
    echo "go 1.26"
    echo
    echo "require k8s.io/kubernetes v${K8S_VERSION}"
    echo
    # k8s.io/kubernetes points each staging module at ./staging/...; pin each to
    # the matching published v0.X.Y instead.
    grep -oE '^\s*k8s\.io/[a-z0-9.-]+ => \./staging/src/k8s\.io/[a-z0-9.-]+' "${modfile}" \
      | awk -v v="${staging_version}" '{print "replace " $1 " => " $1 " " v}'
  } > go.mod
  : > go.sum
  for c in "${missing_k8s[@]}"; do
    log "  go build k8s.io/kubernetes/cmd/${c}"
    go build -trimpath -ldflags="-s -X k8s.io/component-base/version.gitVersion=v${K8S_VERSION} -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$(echo "${K8S_VERSION}" | cut -d. -f2)" \
      -o "${OUT}/${c}.tmp" "k8s.io/kubernetes/cmd/${c}"
    mv "${OUT}/${c}.tmp" "${OUT}/${c}"
  done
fi

log "binaries in ${OUT}"
echo "${OUT}"
