#!/usr/bin/env node
// Benchmark of the fleet on an I/O-bound source: a PostgreSQL source whose every chunk query waits on the server
// (`pg_sleep`, standing in for a slow or distant source: the worker waits, it does not compute) into a local Parquet
// lake, with 1, 2, 4, 8 workers. Link latency through `tc qdisc … netem delay` would be the closer model; kernels
// without the netem qdisc (the development VM's) cannot add it, hence the server-side wait. Needs Redis on
// 127.0.0.1:6379 and PostgreSQL (BACKFILL_BENCH_POSTGRES_URL; a database bench_fleet_io is created). `npm run build` first.
//
//   node scripts/bench-fleet-io.mjs [--rows 1000000] [--days 32] [--wait 1] [--workers 1,2,4,8] [--dir .bench/fleet-io]

import { spawn } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import pg from 'pg';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const BIN = path.join(ROOT, 'bin', 'backfill.js');
const { values: args } = parseArgs({
  options: {
    rows: { type: 'string', default: '1000000' },
    days: { type: 'string', default: '32' },
    wait: { type: 'string', default: '1' },
    workers: { type: 'string', default: '1,2,4,8' },
    dir: { type: 'string', default: path.join(ROOT, '.bench', 'fleet-io') },
  },
});
const ROWS = Number(args.rows);
const DAYS = Number(args.days);
const WAIT_S = Number(args.wait);
const WORKERS = args.workers.split(',').map(Number);
const REDIS = 'redis://127.0.0.1:6379';
const ADMIN = process.env.BACKFILL_BENCH_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const DB = (() => {
  const u = new URL(ADMIN);
  u.pathname = '/bench_fleet_io';
  return u.toString();
})();
const log = (text) => process.stderr.write(`${text}\n`);

async function sql(url, text) {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(text);
  } finally {
    await client.end();
  }
}

function spawnCli(argv) {
  const child = spawn(process.execPath, [BIN, ...argv], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.ready = new Promise((resolve) => child.stderr.on('data', (d) => ((err += d), err.includes('takes chunks') && resolve())));
  child.exited = new Promise((resolve) => child.on('close', (code) => resolve({ code, err })));
  return child;
}

mkdirSync(args.dir, { recursive: true });
process.chdir(args.dir);
await sql(ADMIN, 'DROP DATABASE IF EXISTS bench_fleet_io WITH (FORCE)');
await sql(ADMIN, 'CREATE DATABASE bench_fleet_io');
log(`source: ${ROWS} rows over ${DAYS} days; each chunk's query waits ${WAIT_S} s on the server …`);
await sql(DB, `CREATE TABLE events AS SELECT i AS id, timestamp '2024-01-01' + (i * (${DAYS} * 86400.0 / ${ROWS})) * interval '1 second' AS ts,
  (i::bigint * 7919) % 100000 AS amount, 'user-' || (i % 5000) AS "user", (i % 13) * 1.5 AS score FROM generate_series(0, ${ROWS - 1}) i;
  CREATE INDEX ON events (ts); ANALYZE events`);
const results = [];
try {
  for (const n of WORKERS) {
    const name = `io_w${n}_${process.pid}`;
    rmSync(path.join(args.dir, 'lake', name), { recursive: true, force: true });
    const file = path.join(args.dir, `${name}.yaml`);
    writeFileSync(file, `name: ${name}
source: { type: postgres, connection: "${DB}", query: "SELECT e.* FROM public.events e CROSS JOIN (SELECT pg_sleep(${WAIT_S})) w" }
chunk: { column: ts, every: 1 day }
target: { type: parquet, path: lake/${name}, compression: zstd }
write: { mode: replace }
backup: never
concurrency: 1
duckdb: { threads: 1 }
ledger: "${DB}"
queue: { url: "${REDIS}", name: ${name} }
`);
    // Plan and prepare first, then withdraw the queued chunks: workers open their session before the timed run.
    if ((await spawnCli(['run', file, '--detach', '--quiet']).exited).code !== 0) throw new Error('prepare failed');
    const { openQueue } = await import(pathToFileURL(path.join(ROOT, 'dist', 'fleet', 'fleet-queue.js')).href);
    const queue = openQueue({ url: REDIS, name });
    await queue.drain(true);
    const workers = Array.from({ length: n }, () => spawnCli(['worker', file, '--concurrency', '1']));
    await Promise.all(workers.map((w) => w.ready));
    const t0 = performance.now();
    const r = await spawnCli(['run', file, '--quiet']).exited;
    const ms = performance.now() - t0;
    for (const w of workers) w.kill('SIGTERM');
    await Promise.all(workers.map((w) => w.exited));
    await queue.obliterate({ force: true });
    await queue.close();
    if (r.code !== 0) throw new Error(`run with ${n} workers exited ${r.code}: ${r.err}`);
    results.push({ n, ms });
    log(`${n} worker(s): ${(ms / 1000).toFixed(1)} s`);
  }
} finally {
  await sql(ADMIN, 'DROP DATABASE IF EXISTS bench_fleet_io WITH (FORCE)');
}
const base = results[0];
process.stdout.write(`${[
  `PostgreSQL source (each chunk's query waits ${WAIT_S} s on the server) → Parquet, ${ROWS.toLocaleString('en')} rows in ${DAYS} daily chunks, each worker one chunk at a time with one DuckDB thread (${os.availableParallelism()} cores, load average at the end ${os.loadavg()[0].toFixed(2)}):`,
  '',
  '| workers | time | rows/s | × one worker | goal 0.8 × N |',
  '|---|---|---|---|---|',
  ...results.map((s) => `| ${s.n} | ${(s.ms / 1000).toFixed(1)} s | ${Math.round((ROWS * 1000) / s.ms).toLocaleString('en')} | ${(base.ms / s.ms).toFixed(2)} | ${(0.8 * s.n).toFixed(1)} |`),
].join('\n')}\n`);
