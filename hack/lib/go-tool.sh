# Sourced by the hack/build-*.sh scripts.
#
# build_go_tool OUT MODULE@VERSION PACKAGE [LDFLAGS]
#   Builds PACKAGE from MODULE@VERSION through the Go module proxy into OUT, in
#   a throwaway module so the project's go.mod never sees the tool. OUT is
#   written atomically (OUT.tmp, then rename).
build_go_tool() {
  local out=$1 module=$2 package=$3 ldflags=${4:--s}
  local workdir
  workdir="$(mktemp -d)"
  mkdir -p "$(dirname "${out}")"
  (
    cd "${workdir}"
    export GOFLAGS=-mod=mod CGO_ENABLED=0
    go mod init indexbuild.local/tool-build >/dev/null 2>&1
    go get "${module}" >/dev/null 2>&1
    go build -trimpath -ldflags="${ldflags}" -o "${out}.tmp" "${package}"
  ) || { rm -rf "${workdir}"; return 1; }
  rm -rf "${workdir}"
  mv "${out}.tmp" "${out}"
}
