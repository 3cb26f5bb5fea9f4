#!/usr/bin/env node
// Benchmark of `backfill profile`: what the default profile costs against the backfill it sizes
// (goal ≤ 2%), and how close its duration estimate lands to the real run (goal ±30%), on the demo
// data (daily CSV files → Parquet lake) and on a skewed PostgreSQL table made here (the last month
// holds 100× the rows of the first). Run `npm run build` first (the engine is loaded from dist/).
//
//   node scripts/bench-profile.mjs [--rows 2000000] [--pg-rows 2000000] [--dir .bench-profile] [--postgres postgres://postgres@127.0.0.1:5432/test]
//
// Prints one line per scenario; progress goes to stderr. Figures are only meaningful on a quiet machine.

import { mkdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import pg from 'pg';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const lib = await import(pathToFileURL(path.join(ROOT, 'dist', 'index.js')).href);
const { values } = parseArgs({
  options: {
    rows: { type: 'string', default: '2000000' },
    'pg-rows': { type: 'string', default: '2000000' },
    dir: { type: 'string', default: '.bench-profile' },
    postgres: { type: 'string', default: process.env.BACKFILL_BENCH_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test' },
  },
});
const COST_GOAL = 0.02;
const ESTIMATE_GOAL = 0.3;
const dir = path.resolve(values.dir);
rmSync(dir, { recursive: true, force: true });
mkdirSync(dir, { recursive: true });
const log = (line) => process.stderr.write(`${line}\n`);

/** Profile the job (default: statistics, one sampled slice), then run the backfill from scratch; both timed. */
async function measure(label, job, clean) {
  const t0 = performance.now();
  const report = await lib.profileJob(job);
  const profileS = (performance.now() - t0) / 1000;
  clean();
  const t1 = performance.now();
  const result = await lib.runBackfill(job);
  const runS = (performance.now() - t1) / 1000;
  if (result.failed > 0) throw new Error(`${label}: the backfill failed`);
  const cost = profileS / runS;
  const error = report.estimate.seconds === undefined ? NaN : report.estimate.seconds / runS - 1;
  console.log(
    `${label}: rows ${result.rowsWritten}; profile ${profileS.toFixed(2)} s = ${(100 * cost).toFixed(1)}% of the run (goal ≤ ${100 * COST_GOAL}%: ${cost <= COST_GOAL ? 'met' : 'missed'}); ` +
      `estimate ${report.estimate.seconds?.toFixed(1)} s vs run ${runS.toFixed(1)} s = ${error >= 0 ? '+' : ''}${(100 * error).toFixed(0)}% (goal ±${100 * ESTIMATE_GOAL}%: ${Math.abs(error) <= ESTIMATE_GOAL ? 'met' : 'missed'}); ` +
      `rows per chunk from ${report.perChunk.source}; recommended ${report.recommended?.setting ?? '–'}`,
  );
}

// 1. The demo: daily CSV files (every third gzipped) → month-partitioned Parquet lake.
{
  const rows = Number(values.rows);
  log(`generating ${rows} demo events …`);
  await lib.generateEvents({ dir: path.join(dir, 'demo', 'events'), rows });
  const base = path.join(dir, 'demo');
  const job = lib.defineJob(
    {
      name: 'bench-profile-demo',
      source: { type: 'csv', path: 'events/events-*.csv*', pruneBy: 'filename' },
      chunk: { column: 'ts', every: '1 month', timezone: 'UTC' },
      transform: "select *, strftime(ts, '%Y-%m') as month from source",
      target: { type: 'parquet', path: 'lake', partitionBy: ['month'], compression: 'zstd' },
      write: { mode: 'replace' },
    },
    { baseDir: base },
  );
  await measure('demo csv → parquet', job, () => {
    rmSync(path.join(base, 'lake'), { recursive: true, force: true });
    rmSync(path.join(base, '.backfill'), { recursive: true, force: true });
  });
}

// 2. A skewed PostgreSQL table: twelve months, rows per day growing so the last month holds 100× the first.
{
  const rows = Number(values['pg-rows']);
  const schema = `bench_profile_${process.pid}`;
  const client = new pg.Client({ connectionString: values.postgres });
  await client.connect();
  try {
    await client.query(`CREATE SCHEMA ${schema}`);
    await client.query(`CREATE TABLE ${schema}.events (id bigint, ts timestamptz, kind text, amount numeric(12,2))`);
    // Month m gets a share proportional to 100^(m/11).
    const weights = Array.from({ length: 12 }, (_, m) => 100 ** (m / 11));
    const sum = weights.reduce((a, b) => a + b, 0);
    log(`filling ${schema}.events with ${rows} skewed rows …`);
    let id = 0;
    for (const [m, w] of weights.entries()) {
      const n = Math.round((rows * w) / sum);
      await client.query(
        `INSERT INTO ${schema}.events SELECT ${id} + s, timestamptz '2024-${String(m + 1).padStart(2, '0')}-01 00:00:00+00' + (s::float8 / ${n}) * interval '28 days', 'k' || (s % 7), (s % 10000) / 100.0 FROM generate_series(1, ${n}) s`,
      );
      id += n;
    }
    await client.query(`CREATE INDEX ON ${schema}.events (ts)`);
    await client.query(`ANALYZE ${schema}.events`);
    const base = path.join(dir, 'pg');
    mkdirSync(base, { recursive: true });
    const job = lib.defineJob(
      {
        name: 'bench-profile-pg',
        source: { type: 'postgres', connection: values.postgres, table: `${schema}.events` },
        chunk: { column: 'ts', every: '1 week', timezone: 'UTC' },
        target: { type: 'parquet', path: 'lake' },
        write: { mode: 'replace' },
      },
      { baseDir: base },
    );
    await measure('skewed postgres → parquet', job, () => {
      rmSync(path.join(base, 'lake'), { recursive: true, force: true });
      rmSync(path.join(base, '.backfill'), { recursive: true, force: true });
    });
  } finally {
    await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await client.end();
  }
}
rmSync(dir, { recursive: true, force: true });
