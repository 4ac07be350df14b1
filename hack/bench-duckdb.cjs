// DuckDB's side of `make bench-global-sort`: the same job as an indexbuild
// `index` task on one CSV table, one sorted Parquet file per index: the
// index's columns and the row handle (the primary key), ORDER BY all of
// them, as indexbuild's SSTables hold key and handle in key order.
//
// usage: NODE_PATH=$(hack/install-duckdb.sh) node hack/bench-duckdb.cjs MODE CONFIG_JSON
//
// CONFIG_JSON: {"csv": path, "outDir": dir, "threads": n, "primaryKey": column,
// "indexes": [{"name": ..., "columns": [...]}]}
//
// MODE per-index: one COPY (SELECT ... FROM read_csv(...) ORDER BY ...) TO
// parquet per index, each reading the CSV (the spelling of the job).
// MODE load-once: the CSV loaded once into an in-memory table (CREATE TABLE
// AS read_csv), then one COPY ... ORDER BY ... per index from it.
//
// Prints one JSON line: {"version", "threads", "loadSeconds", "indexes":
// [{"name", "seconds", "bytes", "rows"}], "totalSeconds"}. Row counts are
// read back from the written files after the timing.
'use strict';

const fs = require('node:fs');
const path = require('node:path');
const { DuckDBInstance } = require('@duckdb/node-api');

function quoteIdent(s) {
  return '"' + s.replaceAll('"', '""') + '"';
}

function quoteString(s) {
  return "'" + s.replaceAll("'", "''") + "'";
}

async function main() {
  const [mode, configJSON] = process.argv.slice(2);
  if (mode !== 'per-index' && mode !== 'load-once') {
    throw new Error(`mode ${JSON.stringify(mode)}: want per-index or load-once`);
  }
  const cfg = JSON.parse(configJSON);
  const db = await DuckDBInstance.create(':memory:', { threads: String(cfg.threads) });
  const conn = await db.connect();
  const scalar = async (sql) => (await conn.runAndReadAll(sql)).getRows()[0][0];

  const start = performance.now();
  let from = `read_csv(${quoteString(cfg.csv)}, header = true)`;
  let loadSeconds = 0;
  if (mode === 'load-once') {
    await conn.run(`CREATE TABLE books AS SELECT * FROM ${from}`);
    loadSeconds = (performance.now() - start) / 1000;
    from = 'books';
  }
  const indexes = [];
  for (const ix of cfg.indexes) {
    const cols = [...ix.columns, cfg.primaryKey].map(quoteIdent).join(', ');
    const file = path.join(cfg.outDir, `${mode}-${ix.name}.parquet`);
    const t = performance.now();
    await conn.run(`COPY (SELECT ${cols} FROM ${from} ORDER BY ${cols}) TO ${quoteString(file)} (FORMAT parquet)`);
    indexes.push({ name: ix.name, seconds: (performance.now() - t) / 1000, file });
  }
  const totalSeconds = (performance.now() - start) / 1000;
  for (const ix of indexes) {
    ix.bytes = fs.statSync(ix.file).size;
    ix.rows = Number(await scalar(`SELECT count(*) FROM read_parquet(${quoteString(ix.file)})`));
    delete ix.file;
  }
  const version = await scalar('SELECT version()');
  console.log(JSON.stringify({ version, threads: cfg.threads, loadSeconds, indexes, totalSeconds }));
}

main().catch((err) => {
  console.error(`bench-duckdb: ${err.stack || err}`);
  process.exit(1);
});
