#!/usr/bin/env bash
# Builds fake-gcs-server (a Google Cloud Storage emulator speaking the JSON
# API) from source through the Go module proxy into bin/fake-gcs-server, for
# the real-GCS tests of internal/storage, internal/output and internal/commit.
# A binary already present is not rebuilt. The project's go.mod never sees
# fake-gcs-server: the build happens in a throwaway module.
#
# `make gcs-server` runs it and `make test` depends on it; the tests find the
# binary via $INDEXBUILD_GCS_SERVER or bin/fake-gcs-server.
#
# usage: hack/build-gcs-server.sh      prints the binary's path
set -euo pipefail

FAKE_GCS_SERVER_VERSION="${FAKE_GCS_SERVER_VERSION:-1.56.1}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="${ROOT}/bin/fake-gcs-server"

log() { echo "build-gcs-server: $*" >&2; }
# shellcheck source=lib/go-tool.sh
source "${ROOT}/hack/lib/go-tool.sh"

ensure_go_tool "${OUT}" "github.com/fsouza/fake-gcs-server@v${FAKE_GCS_SERVER_VERSION}" github.com/fsouza/fake-gcs-server
