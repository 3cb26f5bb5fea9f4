#!/usr/bin/env node
// Benchmark of the fleet: the queue's overhead per chunk (enqueue → a worker starts it) on Redis and on
// BullMQ's PostgreSQL backend, and the throughput of 1, 2, 4 … workers on the CPU-bound files → Parquet
// path. Needs Redis on 127.0.0.1:6379 and PostgreSQL (BACKFILL_BENCH_POSTGRES_URL, default
// postgres://postgres@127.0.0.1:5432/postgres; a database bench_fleet is created there). Run `npm run build` first.
//
//   node scripts/bench-fleet.mjs [--rows 1000000] [--days 32] [--workers 1,2,4] [--overhead 300] [--dir .bench/fleet] [--out docs/benchmarks-fleet.md]

import { spawn } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync, existsSync } from 'node:fs';
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
    workers: { type: 'string', default: '1,2,4' },
    overhead: { type: 'string', default: '300' },
    dir: { type: 'string', default: path.join(ROOT, '.bench', 'fleet') },
    out: { type: 'string' },
  },
});
const ROWS = Number(args.rows);
const DAYS = Number(args.days);
const WORKERS = args.workers.split(',').map(Number);
const OVERHEAD_JOBS = Number(args.overhead);
const REDIS = 'redis://127.0.0.1:6379';
const ADMIN = process.env.BACKFILL_BENCH_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const DB = (() => {
  const u = new URL(ADMIN);
  u.pathname = '/bench_fleet';
  return u.toString();
})();
const log = (text) => process.stderr.write(`${text}\n`);

async function admin(sql) {
  const client = new pg.Client({ connectionString: ADMIN });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

const quantile = (xs, q) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
};

/** Enqueue one job at a time to an idle worker (a no-op handler): from `add` to the handler starting. */
async function overhead(url, label) {
  const { openQueue, openWorker } = await import(pathToFileURL(path.join(ROOT, 'dist', 'fleet', 'fleet-queue.js')).href);
  const settings = { url, name: `bench-overhead-${process.pid}-${label}`, inFlight: undefined, rate: undefined, stalledAfterMs: 30_000, leaseMs: 60_000 };
  const queue = openQueue(settings);
  let started;
  const worker = openWorker(settings, async (job) => {
    started?.(performance.timeOrigin + performance.now() - job.data.t);
    return {};
  }, { concurrency: 1, name: 'bench' });
  void worker.run();
  await worker.waitUntilReady();
  const samples = [];
  for (let i = 0; i < OVERHEAD_JOBS + 20; i += 1) {
    const waited = new Promise((resolve) => (started = resolve));
    await queue.add('chunk', { t: performance.timeOrigin + performance.now() }, { jobId: `j-${i}`, removeOnComplete: true });
    const ms = await waited;
    if (i >= 20) samples.push(ms);
  }
  await worker.close();
  await queue.obliterate({ force: true });
  await queue.close();
  return { label, n: samples.length, median: quantile(samples, 0.5), p95: quantile(samples, 0.95) };
}

function writeHistory(dir) {
  if (existsSync(path.join(dir, 'data', `.done-${ROWS}-${DAYS}`))) return;
  rmSync(path.join(dir, 'data'), { recursive: true, force: true });
  mkdirSync(path.join(dir, 'data'), { recursive: true });
  const perDay = Math.ceil(ROWS / DAYS);
  let id = 0;
  for (let d = 0; d < DAYS; d += 1) {
    const day = new Date(Date.UTC(2024, 0, 1 + d)).toISOString().slice(0, 10);
    const lines = [];
    for (let i = 0; i < perDay && id < ROWS; i += 1) {
      id += 1;
      const s = Math.floor((i * 86_400) / perDay);
      lines.push(`${id},${day} ${String(Math.floor(s / 3600)).padStart(2, '0')}:${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}:${String(s % 60).padStart(2, '0')},${(id * 7919) % 100_000},user-${id % 5000},${(id % 13) * 1.5}`);
    }
    writeFileSync(path.join(dir, 'data', `e-${day}.csv`), `id,ts,amount,user,score\n${lines.join('\n')}\n`);
  }
  writeFileSync(path.join(dir, 'data', `.done-${ROWS}-${DAYS}`), '');
}

function job(dir, name, queue) {
  const file = path.join(dir, `${name}.yaml`);
  rmSync(path.join(dir, 'lake', name), { recursive: true, force: true });
  writeFileSync(file, `name: ${name}
source: { type: csv, path: data/e-*.csv, pruneBy: filename }
chunk: { column: ts, every: 1 day }
transform: select id, ts, amount, upper(user) as user, score * 2 as score from source
target: { type: parquet, path: lake/${name}, compression: zstd }
write: { mode: replace }
backup: never
concurrency: 1
duckdb: { threads: 1 }
ledger: "${DB}"
${queue === undefined ? '' : `queue: { url: "${queue}", name: ${name} }`}
`);
  return file;
}

function start(argv) {
  const child = spawn(process.execPath, [BIN, ...argv], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (err += d));
  const exited = new Promise((resolve) => child.on('close', (code) => resolve({ code, out, err })));
  const ready = new Promise((resolve) => child.stderr.on('data', () => err.includes('takes chunks') && resolve()));
  return { child, exited, ready };
}

/** N workers (one chunk at a time, one DuckDB thread each) started and ready first; the run timed alone. */
async function throughput(dir, n) {
  const name = `fleet_w${n}_${process.pid}`;
  const file = job(dir, name, REDIS);
  // The first run prepares the target and records the plan, so that workers can open their session before the timed run.
  const prep = start(['run', file, '--detach', '--quiet']);
  if ((await prep.exited).code !== 0) throw new Error('prepare failed');
  const { openQueue } = await import(pathToFileURL(path.join(ROOT, 'dist', 'fleet', 'fleet-queue.js')).href);
  const queue = openQueue({ url: REDIS, name });
  await queue.drain(true);
  await queue.close();
  const workers = Array.from({ length: n }, () => start(['worker', file, '--concurrency', '1']));
  await Promise.all(workers.map((w) => w.ready));
  const t0 = performance.now();
  const run = start(['run', file, '--quiet']);
  const r = await run.exited;
  const ms = performance.now() - t0;
  for (const w of workers) w.child.kill('SIGTERM');
  await Promise.all(workers.map((w) => w.exited));
  const done = openQueue({ url: REDIS, name });
  await done.obliterate({ force: true });
  await done.close();
  if (r.code !== 0) throw new Error(`run with ${n} workers failed: ${r.err}`);
  return { n, ms, rowsPerSecond: (ROWS * 1000) / ms };
}

async function single(dir) {
  const file = job(dir, `single_${process.pid}`, undefined);
  const t0 = performance.now();
  const r = await start(['run', file, '--quiet']).exited;
  const ms = performance.now() - t0;
  if (r.code !== 0) throw new Error(`single-process run failed: ${r.err}`);
  return { ms, rowsPerSecond: (ROWS * 1000) / ms };
}

mkdirSync(args.dir, { recursive: true });
process.chdir(args.dir);
await admin('DROP DATABASE IF EXISTS bench_fleet WITH (FORCE)');
await admin('CREATE DATABASE bench_fleet');
log('queue overhead …');
const overheads = [await overhead(REDIS, 'redis'), await overhead(DB, 'postgres')];
log(`history: ${ROWS} rows in ${DAYS} daily CSV files …`);
writeHistory(args.dir);
log('single process, one chunk at a time …');
const one = await single(args.dir);
const sweep = [];
for (const n of WORKERS) {
  log(`${n} worker(s) …`);
  sweep.push(await throughput(args.dir, n));
}
const base = sweep.find((s) => s.n === 1) ?? sweep[0];
const lines = [
  `Fleet benchmark (${new Date().toISOString().slice(0, 10)}, ${os.availableParallelism()} cores, load average at start ${os.loadavg()[0].toFixed(2)}; other work shared the machine)`,
  '',
  `Queue overhead per chunk, enqueue → a worker's handler starts, one job at a time to an idle worker, ${OVERHEAD_JOBS} jobs:`,
  '',
  '| backend | median | p95 |',
  '|---|---|---|',
  ...overheads.map((o) => `| ${o.label} | ${o.median.toFixed(2)} ms | ${o.p95.toFixed(2)} ms |`),
  '',
  `Files → Parquet, ${ROWS.toLocaleString('en')} rows in ${DAYS} daily chunks, each worker one chunk at a time with one DuckDB thread (workers started first; the run timed alone):`,
  '',
  '| workers | time | rows/s | × one worker | goal 0.8 × N |',
  '|---|---|---|---|---|',
  `| single process (no queue) | ${(one.ms / 1000).toFixed(1)} s | ${Math.round(one.rowsPerSecond).toLocaleString('en')} | ${(one.rowsPerSecond / base.rowsPerSecond).toFixed(2)} | |`,
  ...sweep.map((s) => `| ${s.n} | ${(s.ms / 1000).toFixed(1)} s | ${Math.round(s.rowsPerSecond).toLocaleString('en')} | ${(s.rowsPerSecond / base.rowsPerSecond).toFixed(2)} | ${(0.8 * s.n).toFixed(1)} |`),
];
const report = lines.join('\n');
process.stdout.write(`${report}\n`);
if (args.out !== undefined) writeFileSync(path.resolve(ROOT, args.out), `${report}\n`);
await admin('DROP DATABASE IF EXISTS bench_fleet WITH (FORCE)');
