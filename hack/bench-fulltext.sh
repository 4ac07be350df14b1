#!/usr/bin/env bash
# make bench-fulltext: `indexbuild build` against SQLite on the same generated
# CSV table, side by side in one run, one partition:
#
#   sorted index, elements 1,2   vs  .import + CREATE INDEX x2
#   fulltext, element 5          vs  .import + FTS5 'rebuild' (external content)
#
# then the fulltext build's peak RSS at several table sizes and sort-memory
# settings. Every figure is the best of REPEAT runs (wall time; CPU and
# peak RSS of that run), measured with GNU time. Sizes: the staged element
# files for indexbuild, the database file's growth for SQLite.
#
# Settings (environment): ROWS (1000000), REPEAT (3), MEMORY_ROWS ("1000000
# 3000000"), MEMORY_BUDGETS ("16777216 67108864", bytes of --sort-memory),
# BENCH_DIR (a new temporary directory, removed at the end).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ROWS="${ROWS:-1000000}"
REPEAT="${REPEAT:-3}"
MEMORY_ROWS="${MEMORY_ROWS:-1000000 3000000}"
MEMORY_BUDGETS="${MEMORY_BUDGETS:-16777216 67108864}"
WORK="${BENCH_DIR:-$(mktemp -d /tmp/indexbuild-bench-fulltext.XXXXXX)}"
[[ -n "${BENCH_DIR:-}" ]] || trap 'rm -rf "${WORK}"' EXIT
mkdir -p "${WORK}"

need() { # need COMMAND DEBIAN_PACKAGE
  command -v "$1" >/dev/null && return
  echo "bench: installing $2 (apt-get)" >&2
  apt-get update -qq >/dev/null && apt-get install -y -qq "$2" >/dev/null
}
need sqlite3 sqlite3
[[ -x /usr/bin/time ]] || need /usr/bin/time time

IB="${WORK}/indexbuild"
(cd "${ROOT}" && go build -o "${IB}" ./cmd/indexbuild)

# table ROWS: a generated CSV table, made once per size.
table() {
  local dir="${WORK}/table-$1"
  if [[ ! -f "${dir}/part-00000.csv" ]]; then
    "${IB}" gen-table --rows "$1" --format csv --out "file://${dir}" >/dev/null
  fi
  echo "${dir}"
}

# measure OUT CMD...: runs CMD, writes "wall user+sys maxrss_kb" to OUT.
measure() {
  local out="$1"; shift
  /usr/bin/time -f '%e %U %S %M' -o "${out}.raw" "$@" >/dev/null 2>"${out}.err" || {
    echo "bench: failed: $*" >&2; cat "${out}.err" >&2; exit 1; }
  tail -1 "${out}.raw" | awk '{printf "%s %.2f %s\n", $1, $2 + $3, $4}' >"${out}"
}

# best FILE...: the line with the smallest wall time.
best() { sort -n -k1,1 "$@" | head -1; }

# ib_build TABLE TYPE ELEMENTS BUDGET RUN: one indexbuild build; prints the
# element files' size in bytes.
ib_build() {
  local out="${WORK}/out-$5"
  rm -rf "${out}"
  measure "${WORK}/m-$5" "${IB}" build --source "file://$1" --output "file://${out}" \
    --tmp-dir "${WORK}" --termination-log= --progress-interval=1h --sort-memory "$4" \
    --job-id 1 --schema-id 1 --table-id 100 --element-type "$2" --element-ids "$3"
  find "${out}/staging" -name 'part_*_*.*' -printf '%s\n' | awk '{s += $1} END {print s}'
}

# sqlite_build TABLE SQL RUN: .import into a new database, then SQL; prints
# the database growth SQL caused, in bytes.
sqlite_build() {
  local db="${WORK}/sqlite-$3.db"
  rm -f "${db}"
  measure "${WORK}/s-import-$3" sqlite3 "${db}" ".mode csv" ".import $1/part-00000.csv books"
  local before; before=$(stat -c %s "${db}")
  measure "${WORK}/s-build-$3" sqlite3 "${db}" "$2"
  echo $(( $(stat -c %s "${db}") - before ))
  rm -f "${db}"
}

SQL_INDEX="CREATE INDEX idx_year ON books(year); CREATE INDEX idx_author_title ON books(author, title);"
SQL_FTS5="CREATE VIRTUAL TABLE ft USING fts5(description, content='books', content_rowid='id'); INSERT INTO ft(ft) VALUES('rebuild');"

mib() { awk -v b="$1" 'BEGIN {printf "%.1f MB", b / 1e6}'; }

# row LABEL TYPE ELEMENTS SQL: REPEAT alternating runs of both, one table row.
row() {
  local t; t=$(table "${ROWS}")
  local ib_size sq_size
  for i in $(seq "${REPEAT}"); do
    ib_size=$(ib_build "${t}" "$2" "$3" 67108864 "$2-$i")
    sq_size=$(sqlite_build "${t}" "$4" "$2-$i")
    # SQLite's import and build count as one job: sum them per run.
    paste -d' ' "${WORK}/s-import-$2-$i" "${WORK}/s-build-$2-$i" |
      awk '{printf "%.2f %.2f %d %.2f %.2f %.2f\n", $1 + $4, $2 + $5, ($3 > $6 ? $3 : $6), $1, $4, $5}' >"${WORK}/s-$2-$i"
  done
  read -r iw ic ir < <(best "${WORK}"/m-"$2"-*[0-9])
  read -r sw sc sr s_imp s_build s_build_cpu < <(best "${WORK}"/s-"$2"-*[0-9])
  printf '| %s | %.2f s wall, %.2f s CPU, %d MiB peak RSS, %s | .import %.2f s + %s %.2f s = %.2f s wall (%.2f s CPU, %.2f s CPU without .import), %d MiB peak RSS, %s | %.2f× time (%.2f× CPU), %.2f× of %s alone (%.2f× CPU), %.2f× size |\n' \
    "$1" "${iw}" "${ic}" $((ir / 1024)) "$(mib "${ib_size}")" \
    "${s_imp}" "$5" "${s_build}" "${sw}" "${sc}" "${s_build_cpu}" $((sr / 1024)) "$(mib "${sq_size}")" \
    "$(awk -v a="${iw}" -v b="${sw}" 'BEGIN {print a / b}')" "$(awk -v a="${ic}" -v b="${sc}" 'BEGIN {print a / b}')" \
    "$(awk -v a="${iw}" -v b="${s_build}" 'BEGIN {print a / b}')" "$5" "$(awk -v a="${ic}" -v b="${s_build_cpu}" 'BEGIN {print a / b}')" \
    "$(awk -v a="${ib_size}" -v b="${sq_size}" 'BEGIN {print a / b}')"
}

echo
echo "indexbuild vs SQLite $(sqlite3 --version | cut -d' ' -f1), ${ROWS} rows ($(du -m "$(table "${ROWS}")/part-00000.csv" | cut -f1) MB CSV), one partition, $(nproc) CPUs, best of ${REPEAT}"
echo
echo "| job | indexbuild build | SQLite | indexbuild / SQLite |"
echo "|---|---|---|---|"
row "sorted index, elements 1,2" index 1,2 "${SQL_INDEX}" "CREATE INDEX ×2"
row "fulltext, element 5" fulltext 5 "${SQL_FTS5}" "FTS5 rebuild"

echo
echo "Fulltext element 5, peak RSS by table size and --sort-memory (one run each)"
echo
echo "| rows | --sort-memory | wall | CPU | peak RSS | element file |"
echo "|---|---|---|---|---|---|"
for n in ${MEMORY_ROWS}; do
  t=$(table "${n}")
  for b in ${MEMORY_BUDGETS}; do
    size=$(ib_build "${t}" fulltext 5 "${b}" "mem-${n}-${b}")
    read -r w c r <"${WORK}/m-mem-${n}-${b}"
    printf '| %d | %d MiB | %.2f s | %.2f s | %d MiB | %s |\n' "${n}" $((b >> 20)) "${w}" "${c}" $((r / 1024)) "$(mib "${size}")"
  done
done
