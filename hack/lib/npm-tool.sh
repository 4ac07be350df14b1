# Sourced by the hack/install-*.sh scripts that install a tool from the npm
# registry into bin/.
#
# ensure_node LOG_FUNCTION
#   Installs Debian's nodejs and npm when the machine has no node (CI
#   machines start with Go only).
ensure_node() {
  local log=$1
  if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    "${log}" "no node/npm: installing Debian's nodejs and npm"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq nodejs npm >&2
  fi
}

# ensure_npm_package DIR PACKAGE@VERSION PROOF LOG_FUNCTION
#   Makes sure node and npm are there (ensure_node) and npm-installs
#   PACKAGE@VERSION (production dependencies) under DIR (DIR/node_modules/...)
#   unless DIR/PROOF, a file of the installed package, exists already;
#   atomically: into DIR.tmp, then renamed.
ensure_npm_package() {
  local dir=$1 package=$2 proof=$3 log=$4
  ensure_node "${log}"
  [ -e "${dir}/${proof}" ] && return
  "${log}" "installing ${package} with $(node --version)"
  local tmp="${dir}.tmp"
  rm -rf "${tmp}"
  mkdir -p "${tmp}"
  npm install --prefix "${tmp}" --no-audit --no-fund --omit=dev --loglevel=error "${package}" >&2
  rm -rf "${dir}"
  mv "${tmp}" "${dir}"
  "${log}" "installed ${package} in ${dir}"
}
