#!/usr/bin/env node
// What checking costs: a backfill, `verify`, `plan --diff` and a run with `verify: true`, timed side by side
// for a Parquet lake and a PostgreSQL table (in-process, after `npm run build`).
//
//   node scripts/bench-verify.mjs [--rows 1000000]
//
// Needs the PostgreSQL server at 127.0.0.1:5432 (user postgres, database test); uses a schema of its own.

import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { DuckDBInstance } from '@duckdb/node-api';
import pg from 'pg';
import { defineJob, diffBackfill, runBackfill, verifyBackfill } from '../dist/index.js';

const { values: args } = parseArgs({ options: { rows: { type: 'string', default: '1000000' } } });
const rows = Number(args.rows);
const url = process.env.BACKFILL_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const dir = mkdtempSync(path.join(os.tmpdir(), 'backfill-bench-verify-'));
const schema = `bench_verify_${process.pid}`;

const duck = await DuckDBInstance.create(':memory:');
const conn = await duck.connect();
// Two-second steps: 43,200 rows a day.
await conn.run(`COPY (SELECT i AS id, TIMESTAMP '2024-01-01' + to_seconds(i * 2) AS ts, CAST(i * 1.5 AS DOUBLE) AS v, 'row ' || i AS label,
  CAST(i / 7 AS DECIMAL(12,2)) AS amount FROM range(${rows}) t(i)) TO '${path.join(dir, 'events.parquet')}' (FORMAT parquet)`);
conn.closeSync();
duck.closeSync();

const admin = new pg.Client({ connectionString: url });
await admin.connect();
await admin.query(`CREATE SCHEMA ${schema}`);

async function timed(fn) {
  const t0 = performance.now();
  const result = await fn();
  return { ms: Math.round(performance.now() - t0), result };
}

try {
  console.log(`${rows.toLocaleString('en-US')} rows × 5 columns, daily chunks, Parquet source`);
  console.log('| target | chunks | run | verify | plan --diff | run with verify: true |');
  console.log('|---|---|---|---|---|---|');
  for (const kind of ['parquet', 'postgres']) {
    const target = (n) => (kind === 'parquet' ? { type: 'parquet', path: path.join(dir, `lake${n}`) } : { type: 'postgres', connection: url, table: `${schema}.t${n}`, create: true });
    const job = (n, verify) =>
      defineJob({ name: `bench-verify-${kind}-${n}`, source: { type: 'parquet', path: 'events.parquet' }, chunk: { column: 'ts', every: '1 day' }, target: target(n), verify }, { baseDir: dir });
    const run = await timed(() => runBackfill(job(1, false)));
    const verify = await timed(() => verifyBackfill(job(1, false)));
    const diff = await timed(() => diffBackfill(job(1, false)));
    const gated = await timed(() => runBackfill(job(2, true)));
    if (!verify.result.ok || gated.result.failed > 0 || diff.result.totals.unchanged !== rows) throw new Error(`unexpected result for ${kind}`);
    const s = (ms) => `${(ms / 1000).toFixed(1)} s`;
    console.log(`| ${kind === 'parquet' ? 'Parquet lake' : 'PostgreSQL'} | ${run.result.total} | ${s(run.ms)} | ${s(verify.ms)} | ${s(diff.ms)} | ${s(gated.ms)} |`);
  }
} finally {
  await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  await admin.end();
  rmSync(dir, { recursive: true, force: true });
}
