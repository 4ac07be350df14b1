# Sourced by the hack/build-*.sh scripts.
#
# build_go_tool OUT MODULE@VERSION PACKAGE [LDFLAGS]
#   Builds PACKAGE from MODULE@VERSION through the Go module proxy into OUT, in
#   a throwaway module so the project's go.mod never sees the tool. OUT is
#   written atomically (OUT.tmp, then rename). GO_TOOL_REPLACES, when set,
#   holds replace directives (go.mod lines) for the throwaway module: a
#   dependency's own replace directives are ignored by Go, so a tool that
#   needs them passes them here (see module_replaces).
build_go_tool() {
  local out=$1 module=$2 package=$3 ldflags=${4:--s}
  local workdir
  workdir="$(mktemp -d)"
  mkdir -p "$(dirname "${out}")"
  (
    cd "${workdir}"
    export GOFLAGS=-mod=mod CGO_ENABLED=0
    go mod init indexbuild.local/tool-build >/dev/null 2>&1
    [ -z "${GO_TOOL_REPLACES:-}" ] || printf '\n%s\n' "${GO_TOOL_REPLACES}" >> go.mod
    go get "${module}" >/dev/null 2>&1
    go build -trimpath -ldflags="${ldflags}" -o "${out}.tmp" "${package}"
  ) || { rm -rf "${workdir}"; return 1; }
  rm -rf "${workdir}"
  mv "${out}.tmp" "${out}"
}

# ensure_go_tool OUT MODULE@VERSION PACKAGE [LDFLAGS]
#   Prints OUT, building it first with build_go_tool unless it is there
#   already; progress goes to the caller's log function.
ensure_go_tool() {
  local out=$1
  if [ ! -x "${out}" ]; then
    log "building $2"
    build_go_tool "$@"
    log "built ${out}"
  fi
  echo "${out}"
}

# module_replaces MODULE@VERSION
#   Prints the replace directives of MODULE@VERSION's go.mod, one per line, with
#   each local-path replacement of a submodule (MODULE/api => ./api) pointed at
#   the published submodule of the same VERSION instead.
module_replaces() {
  local module=${1%@*} version=${1#*@} modfile
  modfile="$(go mod download -json "$1" | sed -n 's/.*"GoMod": "\(.*\)",*/\1/p')"
  [ -f "${modfile}" ] || return 1
  awk '
    /^replace[ \t]*\(/ { block = 1; next }
    block && /^\)/     { block = 0; next }
    block && /=>/      { sub(/^[ \t]+/, ""); print "replace " $0; next }
    /^replace[ \t]/ && /=>/ { print }
  ' "${modfile}" \
    | sed -E "s#^replace ([^ ]+) => \./([^ ]+)\$#replace \1 => ${module}/\2 ${version}#"
}
