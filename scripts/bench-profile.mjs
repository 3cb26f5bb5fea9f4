#!/usr/bin/env node
// Benchmark of `backfill profile`: what the default profile costs against the backfill it sizes
// (goal ≤ 2%), and how close its duration estimate lands to the real run (goal ±30%), on the demo
// data (daily CSV files → Parquet lake) and on a skewed PostgreSQL table made here (the last month
// holds 100× the rows of the first). Run `npm run build` first (the engine is loaded from dist/).
//
//   node scripts/bench-profile.mjs [--rows 5000000,10000000] [--pg-rows 5000000,10000000] [--reps 3]
//                                  [--dir .bench-profile] [--keep] [--postgres postgres://postgres@127.0.0.1:5432/test]
//
// Each data set is made once; then, rep after rep, every data set is profiled and backfilled in
// turn (interleaved, so a machine busy with other work slows every configuration alike). The run
// is the job the profile sized, from scratch (empty target, no ledger). `--rows 0` or `--pg-rows 0`
// leaves a scenario out. `--keep` keeps the data (files in --dir, tables bench_profile_<rows>)
// and reuses what an earlier --keep left. One line per measurement, then the medians; progress
// goes to stderr.

import { execFileSync, fork } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import pg from 'pg';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const lib = await import(pathToFileURL(path.join(ROOT, 'dist', 'index.js')).href);

// A child process profiles or runs one job and reports back: each starts cold, as `backfill
// profile` and `backfill run` do, so neither inherits the other's warmed-up process.
const CHILD = process.env.BENCH_PROFILE_CHILD === '1';
if (CHILD) {
  process.once('message', async ({ what, job }) => {
    const t0 = performance.now();
    const cpu0 = process.cpuUsage();
    const out = what === 'profile' ? { report: await lib.profileJob(job) } : { result: await lib.runBackfill(job) };
    const cpu = process.cpuUsage(cpu0);
    // CPU time of every thread of the process (DuckDB's included; a database server's not).
    process.send({ ...out, seconds: (performance.now() - t0) / 1000, cpuSeconds: (cpu.user + cpu.system) / 1e6 }, () => process.exit(0));
  });
}
const { values } = parseArgs({
  options: {
    rows: { type: 'string', default: '5000000' },
    'pg-rows': { type: 'string', default: '5000000' },
    reps: { type: 'string', default: '3' },
    dir: { type: 'string', default: '.bench-profile' },
    keep: { type: 'boolean', default: false },
    postgres: { type: 'string', default: process.env.BACKFILL_BENCH_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test' },
  },
});
const COST_GOAL = 0.02;
const ESTIMATE_GOAL = 0.3;
const sizes = (text) => text.split(',').map(Number).filter((n) => n > 0);
const reps = Number(values.reps);
const dir = path.resolve(values.dir);
const log = (line) => process.stderr.write(`${line}\n`);
const pct = (x) => `${x >= 0 ? '+' : ''}${(100 * x).toFixed(0)}%`;

/** Profile or run the job in a fresh process; the time is the library call's (process start and imports left out of both). */
function inChild(what, job) {
  return new Promise((resolve, reject) => {
    const child = fork(fileURLToPath(import.meta.url), [], { env: { ...process.env, BENCH_PROFILE_CHILD: '1' }, serialization: 'advanced' });
    let reply;
    child.on('message', (m) => (reply = m));
    child.on('exit', (code) => (reply === undefined ? reject(new Error(`${what} stopped (exit ${code})`)) : resolve(reply)));
    child.send({ what, job });
  });
}

/**
 * Before each measurement the page cache's dirty pages are written out (`sync`): a run writes its
 * lake (gigabytes at 50M rows), and the disk still taking it in would slow whatever comes next.
 */
function settle() {
  execFileSync('sync');
}

/** Profile the job (default: statistics, the sampled slices), then run the backfill from scratch; both timed. */
async function measure(scenario, rep) {
  settle();
  const { report, seconds: profileS, cpuSeconds: profileCpu } = await inChild('profile', scenario.job);
  scenario.clean();
  settle();
  const { result, seconds: runS, cpuSeconds: runCpu } = await inChild('run', scenario.job);
  scenario.clean();
  if (result.failed > 0) throw new Error(`${scenario.label}: the backfill failed`);
  const m = { profileS, runS, cost: profileS / runS, cpuCost: profileCpu / runCpu, error: (report.estimate.seconds ?? NaN) / runS - 1, estimateS: report.estimate.seconds, sampleS: report.estimate.sample?.seconds ?? 0 };
  const fit = report.estimate.fit;
  console.log(
    `${scenario.label} rep ${rep + 1} (load average ${loadavg()[0].toFixed(1)} on ${availableParallelism()} cores): rows ${result.rowsWritten.toLocaleString('en-US')} in ${result.total} chunks; ` +
      `profile ${profileS.toFixed(2)} s (statistics ${(profileS - m.sampleS).toFixed(2)} s, sample ${m.sampleS.toFixed(2)} s) = ${(100 * m.cost).toFixed(1)}% of the run (CPU time ${(100 * m.cpuCost).toFixed(1)}%); ` +
      `estimate ${m.estimateS?.toFixed(1)} s vs run ${runS.toFixed(1)} s = ${pct(m.error)}` +
      (fit === undefined
        ? ''
        : ` (fit ${fit.perChunkMs.toFixed(0)} ms/chunk + ${fit.perRowUs.toFixed(2)} µs/row${fit.largeRows > 0 ? `, the large slices' rate past ${Math.round(fit.largeRows).toLocaleString('en-US')} rows` : ''}, warm-up ${fit.warmSeconds.toFixed(2)} s, outside chunks ${fit.outsideSeconds.toFixed(2)} s)`) +
      `; rows per chunk from ${report.perChunk.source}`,
  );
  return m;
}

/** The demo: daily CSV files (every third gzipped) → month-partitioned Parquet lake. */
async function demoScenario(rows) {
  const base = path.join(dir, `demo-${rows}`);
  const made = path.join(base, 'generated');
  if (!existsSync(made)) {
    log(`generating ${rows} demo events …`);
    await lib.generateEvents({ dir: path.join(base, 'events'), rows });
    writeFileSync(made, `${rows}\n`);
  }
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
  const clean = () => {
    rmSync(path.join(base, 'lake'), { recursive: true, force: true });
    rmSync(path.join(base, '.backfill'), { recursive: true, force: true });
  };
  const drop = async () => (values.keep ? undefined : rmSync(base, { recursive: true, force: true }));
  return { label: `demo csv → parquet, ${rows.toLocaleString('en-US')} rows`, job, clean, drop };
}

/** A skewed PostgreSQL table: twelve months, rows per day growing so the last month holds 100× the first. */
async function fill(client, schema, rows) {
  await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
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
}

/** The skewed table → Parquet in weekly chunks. */
async function pgScenario(rows) {
  const schema = `bench_profile_${rows}`;
  const client = new pg.Client({ connectionString: values.postgres });
  await client.connect();
  const kept = await client.query(`SELECT 1 FROM pg_tables WHERE schemaname = $1 AND tablename = 'events'`, [schema]);
  if (kept.rowCount === 0 || !values.keep) await fill(client, schema, rows);
  const base = path.join(dir, `pg-${rows}`);
  mkdirSync(base, { recursive: true });
  const job = lib.defineJob(
    {
      name: 'bench-profile-pg',
      source: { type: 'postgres', connection: values.postgres, table: `${schema}.events` },
      chunk: { column: 'ts', every: '1 week', timezone: 'UTC' },
      target: { type: 'parquet', path: 'lake' },
      write: { mode: 'replace' },
      // Unthrottled: under a database source's default (adaptive) the run's length is the machine's load, which no estimate foresees.
      concurrency: 'auto',
    },
    { baseDir: base },
  );
  const clean = () => {
    rmSync(path.join(base, 'lake'), { recursive: true, force: true });
    rmSync(path.join(base, '.backfill'), { recursive: true, force: true });
  };
  const drop = async () => {
    if (!values.keep) await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await client.end();
  };
  return { label: `skewed postgres → parquet, ${rows.toLocaleString('en-US')} rows`, job, clean, drop };
}

// The parent: make the data, then measure.
if (!CHILD) {
  if (!values.keep) rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const scenarios = [];
  try {
    for (const rows of sizes(values.rows)) scenarios.push(await demoScenario(rows));
    for (const rows of sizes(values['pg-rows'])) scenarios.push(await pgScenario(rows));
    const results = new Map(scenarios.map((s) => [s, []]));
    for (let rep = 0; rep < reps; rep++) {
      for (const s of scenarios) results.get(s).push(await measure(s, rep));
    }
    const median = (xs) => {
      const sorted = [...xs].sort((a, b) => a - b);
      const mid = Math.floor(sorted.length / 2);
      return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
    };
    console.log(`\nmedians of ${reps} interleaved rep(s):`);
    for (const s of scenarios) {
      const ms = results.get(s);
      const cost = median(ms.map((m) => m.cost));
      const cpuCost = median(ms.map((m) => m.cpuCost));
      const errors = ms.map((m) => m.error);
      const worst = errors.reduce((a, b) => (Math.abs(b) > Math.abs(a) ? b : a), 0);
      console.log(
        `${s.label}: run ${median(ms.map((m) => m.runS)).toFixed(1)} s, profile ${median(ms.map((m) => m.profileS)).toFixed(2)} s = ${(100 * cost).toFixed(1)}% ` +
          `(goal ≤ ${100 * COST_GOAL}%: ${cost <= COST_GOAL ? 'met' : 'missed'}; CPU time ${(100 * cpuCost).toFixed(1)}%); estimate ${pct(median(errors))} (worst ${pct(worst)}; goal ±${100 * ESTIMATE_GOAL}%: ` +
          `${errors.every((e) => Math.abs(e) <= ESTIMATE_GOAL) ? 'met' : 'missed'})`,
      );
    }
  } finally {
    for (const s of scenarios) await s.drop().catch((err) => log(`cleanup: ${err.message}`));
    if (!values.keep) rmSync(dir, { recursive: true, force: true });
  }
}
