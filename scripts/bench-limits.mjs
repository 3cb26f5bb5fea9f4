#!/usr/bin/env node
// What a backfill costs the users of its source, and what its limits buy back (docs/limits.md): while a
// backfill reads a PostgreSQL table, a second process runs a fixed user query in a loop and records its
// latency. p50/p95 with no backfill, with the backfill unlimited, and with each set of limits; the
// backfill's own wall time beside them. Scenarios are interleaved within each repetition (the order
// rotates), because the machine is shared and its load drifts.
//
//   node scripts/bench-limits.mjs [--rows 3000000] [--reps 3] [--dir .bench/limits] [--only unlimited,default]
//
// Needs the PostgreSQL server at 127.0.0.1:5432 (user postgres, database test) and a built dist/.

import { spawn } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import pg from 'pg';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const BIN = path.join(ROOT, 'bin', 'backfill.js');
const URL = 'postgres://postgres@127.0.0.1:5432/test';
const SCHEMA = 'bench_limits';
/** The user's query: one day of one customer's orders, served by an index (about 1 ms on an idle server). */
const USER_QUERY = `SELECT count(*), sum(amount) FROM ${SCHEMA}.orders WHERE customer = $1 AND ts >= $2 AND ts < $2::timestamp + interval '30 days'`;

const { values: args } = parseArgs({
  options: {
    rows: { type: 'string' },
    reps: { type: 'string' },
    dir: { type: 'string' },
    only: { type: 'string' },
    probe: { type: 'boolean', default: false },
    seconds: { type: 'string' },
  },
});

/** The limits each scenario's job sets (`null`: no backfill at all). */
const SCENARIOS = {
  'no backfill': null,
  // Unthrottled: `concurrency: auto` is the cores (2 on the machine measured).
  unlimited: { concurrency: 'auto' },
  // What a job that says nothing does: a database source's default is `concurrency: adaptive`.
  default: {},
  'adaptive with user query probe': { concurrency: `{ adaptive: { max: 2, probe: "${USER_QUERY.replace('$1', '17').replace(/\$2/g, "'2024-03-01'")}" } }` },
  'example limits': { concurrency: 'auto', limits: ['rowsPerSecond: 200000', "maxLoad: { query: \"select count(*) from pg_stat_activity where state = 'active'\", above: 40 }"] },
  'rate 100k/s': { concurrency: 'auto', limits: ['rowsPerSecond: 100000'] },
  'rate 50k/s': { concurrency: 'auto', limits: ['rowsPerSecond: 50000'] },
};

if (args.probe) await probe(Number(args.seconds ?? '0'));
else await main();

/** The second process: run the user query back to back (with a short think time) until told to stop, then print latencies. */
async function probe(seconds) {
  const client = new pg.Client({ connectionString: URL, application_name: 'bench-user-query' });
  await client.connect();
  const times = [];
  let stop = false;
  process.on('SIGTERM', () => (stop = true));
  const until = seconds > 0 ? Date.now() + seconds * 1000 : Infinity;
  let i = 0;
  while (!stop && Date.now() < until) {
    const customer = (i * 7919) % 1000;
    const day = new Date(Date.UTC(2024, 0, 1 + ((i * 31) % 300))).toISOString().slice(0, 10);
    const t0 = performance.now();
    await client.query({ text: USER_QUERY, values: [customer, day] });
    times.push(performance.now() - t0);
    i++;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  await client.end();
  process.stdout.write(JSON.stringify(times));
}

async function main() {
  const rows = Number(args.rows ?? 3_000_000);
  const reps = Number(args.reps ?? 3);
  const work = path.resolve(args.dir ?? path.join(ROOT, '.bench', 'limits'));
  const names = args.only === undefined ? Object.keys(SCENARIOS) : ['no backfill', ...args.only.split(',').filter((n) => n !== 'no backfill')];
  for (const n of names) if (!(n in SCENARIOS)) throw new Error(`--only: unknown scenario "${n}"; one of ${Object.keys(SCENARIOS).join(', ')}`);
  mkdirSync(work, { recursive: true });
  await setup(rows);
  const results = Object.fromEntries(names.map((n) => [n, { latencies: [], seconds: [], p95: [] }]));
  for (let rep = 0; rep < reps; rep++) {
    const order = names.map((_, i) => names[(i + rep) % names.length]);
    for (const name of order) {
      const r = await scenario(name, work, rep);
      results[name].latencies.push(...r.latencies);
      results[name].p95.push(pct(r.latencies, 95));
      if (r.seconds !== undefined) results[name].seconds.push(r.seconds);
      process.stderr.write(`rep ${rep + 1} ${name}: p50 ${pct(r.latencies, 50).toFixed(2)} ms, p95 ${pct(r.latencies, 95).toFixed(2)} ms over ${r.latencies.length} queries${r.seconds === undefined ? '' : `, backfill ${r.seconds.toFixed(1)} s`}\n`);
    }
  }
  const base = results['no backfill'];
  const unlimited = results.unlimited;
  const pctChange = (x) => `${x >= 0 ? '+' : ''}${Math.round(x * 100)}%`;
  const out = [
    `${rows.toLocaleString('en-US')} rows, PostgreSQL → Parquet lake, ${reps} repetition(s) interleaved. p50 and p95 pooled over the repetitions; "p95 rise" is the median over`,
    'the repetitions of the p95 against the same repetition\'s p95 without a backfill (each in brackets); backfill time the median.',
    '',
    '| scenario | user query p50 | p95 | p95 rise | backfill time | rows/s | throughput vs unlimited |',
    '|---|---|---|---|---|---|---|',
  ];
  for (const name of names) {
    const r = results[name];
    const secs = r.seconds.length === 0 ? undefined : median(r.seconds);
    const full = unlimited?.seconds.length ? median(unlimited.seconds) : undefined;
    const rises = r.p95.map((p, i) => p / base.p95[i] - 1);
    const rise = name === 'no backfill' ? '' : `${pctChange(median(rises))} (${rises.map(pctChange).join(', ')})`;
    out.push(`| ${name} | ${pct(r.latencies, 50).toFixed(2)} ms | ${pct(r.latencies, 95).toFixed(2)} ms | ${rise} | ${secs === undefined ? '' : `${secs.toFixed(1)} s`} | ${secs === undefined ? '' : Math.round(rows / secs).toLocaleString('en-US')} | ${secs === undefined || full === undefined ? '' : `${((full / secs) * 100).toFixed(0)}%`} |`);
  }
  process.stdout.write(`${out.join('\n')}\n`);
  await sql(`DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE`);
}

async function scenario(name, work, rep) {
  const spec = SCENARIOS[name];
  const seconds = 15;
  if (spec === null) return { latencies: await runProbe(seconds) };
  const dir = path.join(work, `${name.replace(/\W+/g, '-')}-${rep}`);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, 'job.yaml'), [
    `name: bench-limits`,
    `source: { type: postgres, connection: "${URL}", table: ${SCHEMA}.events }`,
    `chunk: { column: id, size: 100000 }`,
    `target: { type: parquet, path: lake }`,
    `write: { mode: append }`,
    ...(spec.concurrency === undefined ? [] : [`concurrency: ${spec.concurrency}`]),
    ...(spec.limits === undefined ? [] : ['limits:', ...spec.limits.map((l) => `  ${l}`)]),
    '',
  ].join('\n'));
  const probing = startProbe();
  const t0 = performance.now();
  const code = await new Promise((resolve) => spawn(process.execPath, [BIN, 'run', path.join(dir, 'job.yaml'), '--quiet'], { stdio: ['ignore', 'ignore', 'inherit'] }).on('close', resolve));
  const secs = (performance.now() - t0) / 1000;
  const latencies = await probing.stop();
  if (code !== 0) throw new Error(`scenario ${name}: backfill exited ${code}`);
  rmSync(dir, { recursive: true, force: true });
  return { latencies, seconds: secs };
}

function startProbe() {
  const child = spawn(process.execPath, [fileURLToPath(import.meta.url), '--probe'], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  const done = new Promise((resolve) => child.on('close', () => resolve(JSON.parse(out))));
  return { stop: () => (child.kill('SIGTERM'), done) };
}

function runProbe(seconds) {
  const child = spawn(process.execPath, [fileURLToPath(import.meta.url), '--probe', '--seconds', String(seconds)], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  return new Promise((resolve) => child.on('close', () => resolve(JSON.parse(out))));
}

async function setup(rows) {
  await sql(`DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE`);
  await sql(`CREATE SCHEMA ${SCHEMA}`);
  await sql(`CREATE TABLE ${SCHEMA}.events AS SELECT i::bigint AS id, timestamp '2024-01-01' + i * interval '1 second' AS ts, (i % 1000)::int AS user_id,
    round((random() * 1000)::numeric, 2) AS amount, md5(i::text) AS note FROM generate_series(0, ${rows - 1}) AS g(i)`);
  await sql(`ALTER TABLE ${SCHEMA}.events ADD PRIMARY KEY (id)`);
  await sql(`CREATE TABLE ${SCHEMA}.orders AS SELECT i AS id, (i % 1000) AS customer, timestamp '2024-01-01' + (i % 300) * interval '1 day' + (i % 86400) * interval '1 second' AS ts,
    round((random() * 100)::numeric, 2) AS amount FROM generate_series(0, 1999999) AS g(i)`);
  await sql(`CREATE INDEX ON ${SCHEMA}.orders (customer, ts)`);
  await sql(`VACUUM ANALYZE ${SCHEMA}.events`);
  await sql(`VACUUM ANALYZE ${SCHEMA}.orders`);
}

async function sql(text) {
  const client = new pg.Client({ connectionString: URL });
  await client.connect();
  try {
    return (await client.query(text)).rows;
  } finally {
    await client.end();
  }
}

function pct(xs, p) {
  if (xs.length === 0) return 0;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}
