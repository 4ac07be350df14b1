#!/usr/bin/env bash
# Builds versitygw (an S3-compatible gateway; its posix backend serves a local
# directory) from source through the Go module proxy into bin/versitygw, for
# the real-S3 tests of internal/storage and internal/commit. A binary already
# present is not rebuilt. The project's go.mod never sees versitygw: the build
# happens in a throwaway module.
#
# `make s3-server` runs it and `make test` depends on it; the tests find the
# binary via $INDEXBUILD_S3_SERVER or bin/versitygw.
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
# shellcheck source=lib/go-tool.sh
source "${ROOT}/hack/lib/go-tool.sh"

ensure_go_tool "${OUT}" "github.com/versity/versitygw@v${VERSITYGW_VERSION}" github.com/versity/versitygw/cmd/versitygw
