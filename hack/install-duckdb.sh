#!/usr/bin/env bash
# Installs DuckDB's Node.js client (@duckdb/node-api, which ships the DuckDB
# library in its platform package) from the npm registry into
# bin/duckdb-node-<version>/, for `make bench-global-sort`, which runs DuckDB
# beside indexbuild on the same CSV table (hack/bench-duckdb.cjs). Node.js
# and npm come from Debian when the machine has no node. An installation
# already present is not redone.
#
# usage: hack/install-duckdb.sh      prints the node_modules directory (for NODE_PATH)
set -euo pipefail

DUCKDB_NODE_VERSION="${DUCKDB_NODE_VERSION:-1.5.6-r.1}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DIR="${ROOT}/bin/duckdb-node-${DUCKDB_NODE_VERSION}"

# shellcheck source=hack/lib/npm-tool.sh
source "${ROOT}/hack/lib/npm-tool.sh"

log() { echo "install-duckdb: $*" >&2; }

ensure_npm_package "${DIR}" "@duckdb/node-api@${DUCKDB_NODE_VERSION}" node_modules/@duckdb/node-api/package.json log
echo "${DIR}/node_modules"
