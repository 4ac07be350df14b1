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

# install_npm_package DIR PACKAGE@VERSION LOG_FUNCTION
#   npm-installs PACKAGE@VERSION (production dependencies) under DIR
#   (DIR/node_modules/...), atomically: into DIR.tmp, then renamed. An
#   installation already in DIR is not redone; the caller says which file
#   proves it by not calling this when that file is there. Needs node and
#   npm (ensure_node).
install_npm_package() {
  local dir=$1 package=$2 log=$3
  "${log}" "installing ${package} with $(node --version)"
  local tmp="${dir}.tmp"
  rm -rf "${tmp}"
  mkdir -p "${tmp}"
  npm install --prefix "${tmp}" --no-audit --no-fund --omit=dev --loglevel=error "${package}" >&2
  rm -rf "${dir}"
  mv "${tmp}" "${dir}"
}
