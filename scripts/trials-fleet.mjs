#!/usr/bin/env node
// Fleet trials: a run and its workers over the real Redis and PostgreSQL, workers killed (SIGKILL) and frozen past
// their lease (SIGSTOP … SIGCONT) at random moments; the target must then hold exactly the rows of a clean run.
//
//   node scripts/trials-fleet.mjs [--count 100] [--seed 1] [--rows 2000] [--days 12] [--workers 2] [--json]
//
// Per trial: a job of its own (ledger records, table and queue), a write mode in turn (append, replace, merge),
// `backfill run` and N `backfill worker` processes started; then 1–3 faults, each at a random moment (a random
// delay or a worker's next chunk start), on a random worker: SIGKILL (a new worker takes its place) or SIGSTOP for
// longer than the lease, then SIGCONT. The run must exit 0, and the table must equal the clean run's (0 lost,
// 0 extra, 0 duplicate ids). Needs Redis on 127.0.0.1:6379 and PostgreSQL (BACKFILL_TEST_POSTGRES_URL). Exit 1 on any failed trial.

import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import pg from 'pg';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const BIN = join(ROOT, 'bin', 'backfill.js');
const ADMIN = process.env.BACKFILL_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const REDIS = 'redis://127.0.0.1:6379';
const MODES = ['append', 'replace', 'merge'];
const RUN_LIMIT_MS = 300_000;
const { values: flags } = parseArgs({
  options: {
    count: { type: 'string', default: '100' },
    seed: { type: 'string', default: '1' },
    rows: { type: 'string', default: '2000' },
    days: { type: 'string', default: '12' },
    workers: { type: 'string', default: '2' },
    json: { type: 'boolean', default: false },
  },
});
const COUNT = Number(flags.count);
const ROWS = Number(flags.rows);
const DAYS = Number(flags.days);
const WORKERS = Number(flags.workers);
let state = Number(flags.seed) >>> 0 || 1;
const random = () => ((state = (Math.imul(state, 1664525) + 1013904223) >>> 0) / 2 ** 32);
const pick = (xs) => xs[Math.floor(random() * xs.length)];
const log = (text) => process.stderr.write(`${text}\n`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const DB = (() => {
  const u = new URL(ADMIN);
  u.pathname = '/trials_fleet';
  return u.toString();
})();

async function sql(url, text, values = []) {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query(text, values)).rows;
  } finally {
    await client.end();
  }
}

function jobText(name, mode, queue) {
  return `name: ${name}
source: { type: csv, path: data/e-*.csv, pruneBy: filename }
chunk: { column: ts, every: 1 day }
target: { type: postgres, connection: "${DB}", table: public.${name}, create: true }
write: { mode: ${mode}${mode === 'merge' ? ', key: [id]' : ''} }
backup: never
retries: { attempts: 10, backoff: 100ms, maxBackoff: 1s }
shutdownTimeout: 3s
ledger: "${DB}"
${queue ? `queue: { url: "${REDIS}", name: ${queue}, stalledAfter: 2s, lease: 3s }` : ''}
`;
}

function start(args, dir) {
  const child = spawn(process.execPath, [BIN, ...args], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  const proc = { child, pid: child.pid, out: '', err: '', listeners: [] };
  child.stdout.on('data', (d) => {
    proc.out += d;
    for (const l of proc.listeners.splice(0)) l();
  });
  child.stderr.on('data', (d) => (proc.err += d));
  proc.exited = new Promise((r) => child.on('close', (code, signal) => r({ code, signal })));
  proc.alive = () => child.exitCode === null && child.signalCode === null;
  proc.nextChunkStart = () => {
    const seen = (proc.out.match(/"chunk:start"/g) ?? []).length;
    return new Promise((r) => {
      const check = () => ((proc.out.match(/"chunk:start"/g) ?? []).length > seen ? r() : proc.listeners.push(check));
      proc.listeners.push(check);
    });
  };
  return proc;
}

function writeHistory(dir) {
  mkdirSync(join(dir, 'data'), { recursive: true });
  let id = 0;
  for (let d = 0; d < DAYS; d += 1) {
    const day = new Date(Date.UTC(2024, 0, 1 + d)).toISOString().slice(0, 10);
    const lines = [];
    for (let i = 0; i < ROWS; i += 1) {
      id += 1;
      const s = Math.floor((i * 86_400) / ROWS);
      lines.push(`${id},${day} ${String(Math.floor(s / 3600)).padStart(2, '0')}:${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}:${String(s % 60).padStart(2, '0')},${(id * 31) % 977}`);
    }
    writeFileSync(join(dir, 'data', `e-${day}.csv`), `id,ts,v\n${lines.join('\n')}\n`);
  }
}

async function trial(i, dir) {
  const name = `t${i}`;
  const mode = MODES[i % MODES.length];
  const queue = `trials-fleet-${process.pid}-${i}`;
  const file = join(dir, `${name}.yaml`);
  writeFileSync(file, jobText(name, mode, queue));
  const workers = [];
  const spawnWorker = () => workers.push(start(['worker', file, '--json', '--concurrency', String(1 + Math.floor(random() * 2))], dir));
  for (let w = 0; w < WORKERS; w += 1) spawnWorker();
  const run = start(['run', file, '--json'], dir);
  const faults = [];
  const nFaults = 1 + Math.floor(random() * 3);
  const limit = setTimeout(() => run.alive() && run.child.kill('SIGKILL'), RUN_LIMIT_MS);
  for (let f = 0; f < nFaults && run.alive(); f += 1) {
    const alive = workers.filter((w) => w.alive());
    const victim = pick(alive);
    if (victim === undefined) break;
    const when = random() < 0.5 ? 'delay' : 'chunk-start';
    if (when === 'delay') await sleep(Math.floor(random() * 1500));
    else await Promise.race([victim.nextChunkStart(), run.exited, sleep(10_000)]);
    if (!run.alive() || !victim.alive()) break;
    if (random() < 0.5) {
      victim.child.kill('SIGKILL');
      faults.push(`kill(${when})`);
      spawnWorker();
    } else {
      victim.child.kill('SIGSTOP');
      const ms = 3_500 + Math.floor(random() * 3_000);
      await sleep(ms);
      victim.child.kill('SIGCONT');
      faults.push(`freeze ${ms}ms(${when})`);
    }
  }
  const { code } = await run.exited;
  clearTimeout(limit);
  for (const w of workers) if (w.alive()) w.child.kill('SIGTERM');
  const stops = await Promise.all(workers.map((w) => Promise.race([w.exited, sleep(20_000).then(() => (w.alive() && w.child.kill('SIGKILL'), { code: 'killed' }))])));
  const [r] = await sql(DB, `SELECT
    (SELECT count(*) FROM (SELECT * FROM public.ref EXCEPT ALL SELECT * FROM public.${name}) x) AS lost,
    (SELECT count(*) FROM (SELECT * FROM public.${name} EXCEPT ALL SELECT * FROM public.ref) x) AS extra,
    (SELECT count(*) FROM (SELECT id FROM public.${name} GROUP BY id HAVING count(*) > 1) x) AS dup`);
  const redone = Number((await sql(DB, 'SELECT count(*) AS n FROM backfill.backfill_chunks WHERE job = $1 AND attempts > 1', [name]))[0].n);
  const ok = code === 0 && Number(r.lost) === 0 && Number(r.extra) === 0 && Number(r.dup) === 0;
  await sql(DB, `DROP TABLE IF EXISTS public.${name}`);
  await dropQueue(queue);
  return { trial: i, mode, faults, exit: code, lost: Number(r.lost), extra: Number(r.extra), duplicateIds: Number(r.dup), chunksRedone: redone, workerExits: stops.map((s) => s.code), ok, ...(ok ? {} : { stderr: run.err.slice(-2000) }) };
}

async function dropQueue(name) {
  const { openQueue } = await import(join(ROOT, 'dist', 'fleet', 'fleet-queue.js'));
  const q = openQueue({ url: REDIS, name });
  await q.obliterate({ force: true }).catch(() => {});
  await q.close();
}

const dir = mkdtempSync(join(tmpdir(), 'backfill-trials-fleet-'));
try {
  await sql(ADMIN, 'DROP DATABASE IF EXISTS trials_fleet WITH (FORCE)');
  await sql(ADMIN, 'CREATE DATABASE trials_fleet');
  writeHistory(dir);
  writeFileSync(join(dir, 'ref.yaml'), jobText('ref', 'append', undefined));
  const ref = start(['run', join(dir, 'ref.yaml'), '--quiet'], dir);
  if ((await ref.exited).code !== 0) throw new Error(`the clean run failed: ${ref.err}`);
  const results = [];
  for (let i = 0; i < COUNT; i += 1) {
    const r = await trial(i, dir);
    results.push(r);
    if (flags.json) process.stdout.write(`${JSON.stringify(r)}\n`);
    log(`trial ${i + 1}/${COUNT} ${r.ok ? 'ok' : 'FAILED'}: ${r.mode}, ${r.faults.join(', ') || 'no fault landed'}; lost ${r.lost}, extra ${r.extra}, duplicate ids ${r.duplicateIds}, chunks redone ${r.chunksRedone}`);
  }
  const failed = results.filter((r) => !r.ok);
  const kills = results.reduce((n, r) => n + r.faults.filter((f) => f.startsWith('kill')).length, 0);
  const freezes = results.reduce((n, r) => n + r.faults.filter((f) => f.startsWith('freeze')).length, 0);
  const summary = `${results.length} fleet trials (${WORKERS} workers, ${DAYS} chunks of ${ROWS} rows, seed ${flags.seed}): ${kills} SIGKILLs, ${freezes} freezes past the lease; ` +
    `${failed.length} failed; lost ${results.reduce((n, r) => n + r.lost, 0)}, extra ${results.reduce((n, r) => n + r.extra, 0)}, duplicate ids ${results.reduce((n, r) => n + r.duplicateIds, 0)}; chunks redone ${results.reduce((n, r) => n + r.chunksRedone, 0)}`;
  process.stdout.write(`${flags.json ? JSON.stringify({ summary }) : summary}\n`);
  process.exitCode = failed.length === 0 ? 0 : 1;
} finally {
  rmSync(dir, { recursive: true, force: true });
  await sql(ADMIN, 'DROP DATABASE IF EXISTS trials_fleet WITH (FORCE)').catch(() => {});
}
