// Figures for README "Chunks sized by the data": a PostgreSQL table whose last month holds 100× the
// rows of the first, cut with chunk.rows; prints the chunks, the largest and smallest, and what rows
// past the end add. Usage: npm run build && node scripts/rows-cut-figures.mjs [--rows 2000] [--scale 200]
//   (BACKFILL_TEST_POSTGRES_URL, default postgres://postgres@127.0.0.1:5432/test)

import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { defineJob, planBackfill, runBackfill, SqliteLedger } from '../dist/index.js';

const { values } = parseArgs({ options: { rows: { type: 'string', default: '2000' }, scale: { type: 'string', default: '200' } } });
const ROWS = Number(values.rows);
const SCALE = Number(values.scale);
const URL = process.env.BACKFILL_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const schema = `rows_figures_${process.pid}`;
const db = new pg.Client({ connectionString: URL });
await db.connect();
const dir = mkdtempSync(path.join(os.tmpdir(), 'backfill-rows-figures-'));
try {
  await db.query(`CREATE SCHEMA ${schema}; CREATE TABLE ${schema}.events (id bigint PRIMARY KEY, ts timestamptz NOT NULL, v int); CREATE INDEX ON ${schema}.events (ts)`);
  let total = 0;
  const months = [];
  for (let m = 0; m < 12; m++) {
    const n = Math.round(SCALE * Math.pow(100, m / 11));
    months.push(n);
    total += n;
    await db.query(`INSERT INTO ${schema}.events SELECT ${m * 10_000_000} + i, make_timestamptz(2023, ${m + 1}, 1, 0, 0, 0, 'UTC') + (i * interval '27 days') / ${n}, i % 97 FROM generate_series(1, ${n}) g(i)`);
  }
  const job = defineJob(
    {
      name: 'rows-figures',
      source: { type: 'postgres', connection: URL, table: `${schema}.events` },
      target: { type: 'duckdb', database: path.join(dir, 'target.duckdb'), table: 'events' },
      chunk: { column: 'ts', rows: ROWS, timezone: 'Europe/Berlin' },
    },
    { baseDir: dir },
  );
  const t0 = performance.now();
  const result = await runBackfill(job);
  const ms = performance.now() - t0;
  const ledger = SqliteLedger.open(job.ledgerPath);
  const chunks = await ledger.listChunks(job.name);
  const sizes = chunks.map((c) => c.rowsWritten ?? 0);
  console.log(`rows per month: ${months[0]} … ${months[11]} (×${(months[11] / months[0]).toFixed(0)}), ${total} in all; chunk.rows ${ROWS}`);
  console.log(`run: ${result.status}, ${result.rowsWritten} rows in ${chunks.length} chunks, ${(ms / 1000).toFixed(2)} s`);
  console.log(`largest chunk ${Math.max(...sizes)} rows (${(Math.max(...sizes) / ROWS).toFixed(2)}× the target), smallest ${Math.min(...sizes)}, median ${sizes.sort((a, b) => a - b)[Math.floor(sizes.length / 2)]}`);
  console.log(`first chunks: ${chunks.slice(0, 3).map((c) => `${c.lo} … ${c.hi} (${c.rowsWritten})`).join('; ')}`);
  const again = await planBackfill(job);
  console.log(`second plan: ${again.chunks.length} chunks, identical: ${again.chunks.every((c, i) => c.key === chunks[i]?.key)}`);
  await db.query(`INSERT INTO ${schema}.events SELECT 900000000 + i, timestamptz '2024-02-01 00:00Z' + i * interval '1 minute', 1 FROM generate_series(1, ${ROWS + ROWS / 2}) g(i)`);
  const more = await runBackfill(job);
  const after = await ledger.listChunks(job.name);
  console.log(`${ROWS + ROWS / 2} rows past the end: ${more.rowsWritten} written in ${after.length - chunks.length} new chunks; old chunks unchanged: ${chunks.every((c, i) => after[i]?.key === c.key)}`);
  await ledger.close();
} finally {
  await db.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  await db.end();
  rmSync(dir, { recursive: true, force: true });
}
