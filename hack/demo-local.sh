#!/usr/bin/env bash
# make demo-local: runs the IndexBuild data plane end to end on the shipped sample
# table, the way the operator's pods run it — one `indexbuild build` per
# partition, `indexbuild merge` per key range for the index build, then
# `indexbuild finalize`, `indexbuild verify` and queries —
# with a file:// store under .dev/demo/. The two builds match the specs in
# config/samples/ (books-index: index elements 1,2 in 4 partitions;
# books-fulltext: fulltext elements 5,6 in 2 partitions).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEMO="${DEMO_DIR:-${ROOT}/.dev/demo}"
IB="${ROOT}/bin/indexbuild"

step() { printf '\n== %s\n' "$*"; }
fail() {
  echo "demo: $1 failed (exit $2)." >&2
  echo "demo: the command and its output are above; the store is under ${DEMO}." >&2
  exit "$2"
}

step "building bin/indexbuild"
go build -o "${IB}" ./cmd/indexbuild

step "copying the sample table to file://${DEMO}/tables/books"
rm -rf "${DEMO}"
mkdir -p "${DEMO}/tables" "${DEMO}/indexes"
cp -r "${ROOT}/hack/sample-data/books" "${DEMO}/tables/books"

# build_index NAME TYPE ELEMENTS PARTITIONS
build_index() {
  local name=$1 type=$2 elements=$3 partitions=$4
  local task=(--job-id=1 --schema-id=1 --table-id=100 --element-type="${type}" --element-ids="${elements}" --partitions="${partitions}"
    --source="file://${DEMO}/tables/books" --source-format=jsonl)
  local out="file://${DEMO}/indexes/${name}"
  step "${name}: ${partitions} workers (${type} elements ${elements})"
  for ((p = 0; p < partitions; p++)); do
    "${IB}" build "${task[@]}" --partition="${p}" --output="${out}" --termination-log= --progress-interval=0 || fail "worker for partition ${p} of ${name}" $?
  done
  # Global sort: an index task of several partitions is merged by key range
  # (as with spec.merge.ranges: 2), so each element commits 2 files of
  # disjoint key ranges and a unique index is checked across the table.
  local merge=()
  if [ "${type}" = index ] && [ "${partitions}" -gt 1 ]; then
    step "${name}: 2 merge ranges (global sort)"
    for r in 0 1; do
      "${IB}" merge "${task[@]}" --range="${r}" --ranges=2 --output="${out}" --termination-log= || fail "merge of range ${r} of ${name}" $?
    done
    merge=(--merge-ranges=2)
  fi
  step "${name}: finalize"
  "${IB}" finalize "${task[@]}" "${merge[@]}" --output="${out}" --termination-log= || fail "finalize of ${name}" $?
  step "${name}: verify"
  "${IB}" verify --output="${out}" || fail "verify of ${name}" $?
}

build_index books-index index 1,2 4
build_index books-fulltext fulltext 5,6 2

step "query books-index: books from 2000 to 2002 (element 1, idx_year)"
"${IB}" query --index="file://${DEMO}/indexes/books-index" --element=1 --range 2000 2002 || fail "range query" $?
step "query books-fulltext: 'garden river' (element 5, ft_description), best 5"
"${IB}" query --index="file://${DEMO}/indexes/books-fulltext" --element=5 --match "garden river" --limit=5 || fail "match query" $?

step "done: committed indexes under ${DEMO}/indexes (current.json names the published version, versions/<jobID>/metadata.json its commit marker)"
