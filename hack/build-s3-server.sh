#!/usr/bin/env bash
# Builds versitygw (an S3-compatible gateway; its posix backend serves a local
# directory) from source through the Go module proxy into bin/versitygw, for
# the real-S3 tests of internal/storage and internal/commit. A binary already
# present is not rebuilt. The project's go.mod never sees versitygw: the build
# happens in a throwaway module.
#
# Wanted Make target (the Makefile belongs to the main engineer):
#
#   .PHONY: s3-server
#   s3-server: ## Build the S3-compatible test server into bin/versitygw.
#   	hack/build-s3-server.sh
#
# and `test: s3-server` so CI (CI=true) runs the S3 tests instead of skipping.
# The tests find the binary via $INDEXBUILD_S3_SERVER or bin/versitygw.
#
# versitygw was chosen over MinIO: it is published with semver tags in the
# module proxy, builds in a few minutes on 2 cores, and honours
# `If-None-Match: *` on PutObject (gocloud's WriterOptions.IfNotExist), which
# the commit marker relies on.
#
# usage: hack/build-s3-server.sh      prints the binary's path
set -euo pipefail

VERSITYGW_VERSION="${VERSITYGW_VERSION:-1.8.0}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="${ROOT}/bin/versitygw"

log() { echo "build-s3-server: $*" >&2; }

if [ -x "${OUT}" ]; then
  echo "${OUT}"
  exit 0
fi

mkdir -p "${ROOT}/bin"
workdir="$(mktemp -d)"
trap 'rm -rf "${workdir}"' EXIT
export GOFLAGS=-mod=mod CGO_ENABLED=0

log "building versitygw v${VERSITYGW_VERSION}"
(
  cd "${workdir}"
  go mod init indexbuild.local/s3-server-build >/dev/null 2>&1
  go get "github.com/versity/versitygw@v${VERSITYGW_VERSION}" >/dev/null 2>&1
  go build -trimpath -ldflags=-s -o "${OUT}.tmp" github.com/versity/versitygw/cmd/versitygw
)
mv "${OUT}.tmp" "${OUT}"
log "built ${OUT}"
echo "${OUT}"
