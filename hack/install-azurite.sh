#!/usr/bin/env bash
# Installs Azurite (the Azure Storage emulator; only its blob service is
# used) from the npm registry into bin/azurite-<version>/, for the real-Azure
# tests of internal/storage, internal/output and internal/commit. Node.js and
# npm come from Debian when the machine has no node (CI machines start with
# Go only). An installation already present is not redone.
#
# `make azure-server` runs it and `make test` depends on it; the tests find
# the server via $INDEXBUILD_AZURE_SERVER or bin/azurite/azurite-blob (a
# link to the installed version's).
#
# Azurite 3.35 is the newest release that runs on the Node.js of Debian 12
# (18) and of this machine (20); 3.36 and later want Node.js 21 or 22.
#
# usage: hack/install-azurite.sh      prints the azurite-blob command's path
set -euo pipefail

AZURITE_VERSION="${AZURITE_VERSION:-3.35.0}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DIR="${ROOT}/bin/azurite-${AZURITE_VERSION}"
LINK="${ROOT}/bin/azurite"

# shellcheck source=hack/lib/npm-tool.sh
source "${ROOT}/hack/lib/npm-tool.sh"

log() { echo "install-azurite: $*" >&2; }

ensure_npm_package "${DIR}" "azurite@${AZURITE_VERSION}" node_modules/.bin/azurite-blob log
mkdir -p "${LINK}"
# Relative: bin/ may be shared by several checkouts through a symlink.
ln -sfn "../azurite-${AZURITE_VERSION}/node_modules/.bin/azurite-blob" "${LINK}/azurite-blob"
echo "${LINK}/azurite-blob"
