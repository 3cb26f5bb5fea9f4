// Crash trials: SIGKILL `backfill run` at random moments, resume it, and compare the target with a clean run.
//
//   node scripts/trials.mjs --target postgres --count 100 [--seed 1] [--rows 3000] [--days 30]
//                           [--concurrency 2] [--faults 5] [--json] [--keep]
//   node scripts/trials.mjs --fleet [--count 100] [--seed 1] …   (npm run trials -- --fleet: the fleet's trials)
//
// Per trial: a fresh target and ledger; `bin/backfill.js run` is started as a child process and
// killed with SIGKILL (at a random time, on a random chunk event, or by the engine itself right
// after a chunk's target commit and before its ledger mark: BACKFILL_FAULT=after-commit:<n>);
// the resumed run may be killed again; a last run finishes. The target must then hold exactly
// the rows of a clean, uninterrupted run (0 lost, 0 extra, 0 duplicate keys), and each resumed
// run may redo only chunks the killed run had in flight (at most one per worker).
//
// `--faults N` adds N trials of each database fault against a throwaway PostgreSQL cluster: the
// server restarted mid-run (pg_ctl restart, fast and immediate) and the engine's own
// connections terminated mid-chunk (pg_terminate_backend, by application_name and database).
// The exit code is 0 when every trial passed, 1 otherwise.

import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync, appendFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { DuckDBInstance } from '@duckdb/node-api';
import Database from 'better-sqlite3';
import mysql from 'mysql2/promise';
import pg from 'pg';

// Apache's avro-js (a development dependency) reads the Avro lakes: a reader independent of the engine's avsc.
const avroJs = createRequire(import.meta.url)('avro-js');

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const BIN = join(ROOT, 'bin', 'backfill.js');
const TARGETS = ['parquet', 'avro', 'duckdb', 'postgres', 'mysql'];
const MODES = ['append', 'replace', 'merge'];
const PG_URL = process.env.BACKFILL_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const MY = { host: '127.0.0.1', port: 3306, user: 'root' };
const RUN_LIMIT_MS = 300_000;

// `--fleet`: the fleet's trials instead (workers killed and frozen at random moments; scripts/trials-fleet.mjs takes the other flags).
if (process.argv.includes('--fleet')) {
  const child = spawn(process.execPath, [join(ROOT, 'scripts', 'trials-fleet.mjs'), ...process.argv.slice(2).filter((a) => a !== '--fleet')], { stdio: 'inherit' });
  process.exit(await new Promise((done) => child.on('exit', (code) => done(code ?? 1))));
}

const { values: flags } = parseArgs({
  options: {
    target: { type: 'string', default: 'all' },
    count: { type: 'string', default: '10' },
    seed: { type: 'string', default: '1' },
    rows: { type: 'string', default: '3000' },
    days: { type: 'string', default: '30' },
    concurrency: { type: 'string', default: '2' },
    faults: { type: 'string', default: '0' },
    json: { type: 'boolean', default: false },
    keep: { type: 'boolean', default: false },
  },
});
const targets = flags.target === 'all' ? TARGETS : flags.target === 'none' ? [] : flags.target.split(',');
for (const t of targets) if (!TARGETS.includes(t)) usage(`--target: unknown target "${t}" (parquet, avro, duckdb, postgres, mysql, all or none)`);
const count = positive('count');
const seed = Number(flags.seed);
const rows = positive('rows');
const days = positive('days');
const concurrency = positive('concurrency');
const faults = Number(flags.faults);
if (!Number.isInteger(seed)) usage('--seed: an integer');
if (!Number.isInteger(faults) || faults < 0) usage('--faults: a whole number');

function positive(name) {
  const n = Number(flags[name]);
  if (!Number.isInteger(n) || n < 1) usage(`--${name}: a positive integer`);
  return n;
}
function usage(message) {
  process.stderr.write(`trials: ${message}\n`);
  process.exit(2);
}
const log = (line) => process.stderr.write(`${line}\n`);

/** mulberry32: a small seeded generator, so a seed replays the same data and the same kill plan. */
function rng(seedValue) {
  let a = seedValue >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// ---------------------------------------------------------------- source data

/** Daily CSV files (one chunk per day), with quoted text and NULLs, deterministic in the seed. */
function generateSource(dir) {
  const random = rng(seed * 7919 + 1);
  mkdirSync(dir, { recursive: true });
  const start = Date.UTC(2024, 0, 17);
  const perDay = Array.from({ length: days }, () => []);
  for (let i = 0; i < rows; i += 1) {
    const day = Math.floor(random() * days);
    const ts = new Date(start + day * 86_400_000 + Math.floor(random() * 86_400) * 1000).toISOString().replace('T', ' ').replace('.000Z', '');
    const amount = (Math.floor(random() * 1_000_000) / 100).toFixed(2);
    const r = random();
    const note = r < 0.1 ? '' : r < 0.2 ? `"quoted, ""text"" ${i}"` : `n${i}`;
    perDay[day].push(`${1_000_000 + ((i * 7_919) % 1_000_003)},${ts},${Math.floor(random() * 500)},${amount},${note}`);
  }
  perDay.forEach((lines, day) => {
    const name = new Date(start + day * 86_400_000).toISOString().slice(0, 10);
    writeFileSync(join(dir, `events-${name}.csv`), `id,ts,user_id,amount,note\n${lines.join('\n')}\n`);
  });
}

// ---------------------------------------------------------------- targets

const suffix = `${process.pid.toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`;
const PG_SCHEMA = `trials_${suffix}`;
const MY_DB = `trials_${suffix}`;

/** Each target kind: the job-file target block, how to compare two outputs, and cleanup. */
const KINDS = {
  parquet: {
    transform: `select id, ts, user_id, CAST(amount AS DECIMAL(10,2)) AS amount, note, strftime(ts, '%Y-%m') AS month from source`,
    target: (dir) => `{ type: parquet, path: ${join(dir, 'lake')}, partitionBy: [month] }`,
    compare: (ref, dir) => duckCompare(lakeOf(join(ref, 'lake')), lakeOf(join(dir, 'lake'))),
  },
  avro: {
    transform: `select id, ts, user_id, CAST(amount AS DECIMAL(10,2)) AS amount, note, strftime(ts, '%Y-%m') AS month from source`,
    target: (dir) => `{ type: avro, path: ${join(dir, 'lake')}, partitionBy: [month] }`,
    compare: (ref, dir) => avroCompare(join(ref, 'lake'), join(dir, 'lake')),
  },
  duckdb: {
    transform: `select id, ts, user_id, CAST(amount AS DECIMAL(10,2)) AS amount, note from source`,
    target: (dir) => `{ type: duckdb, database: ${join(dir, 'out.duckdb')}, table: events }`,
    compare: (ref, dir) => duckCompare(`ra.events`, `rb.events`, [join(ref, 'out.duckdb'), join(dir, 'out.duckdb')]),
  },
  postgres: {
    transform: `select id, ts, user_id, CAST(amount AS DECIMAL(10,2)) AS amount, note from source`,
    target: (dir, table) => `{ type: postgres, connection: "${PG_URL}", table: ${PG_SCHEMA}.${table}, create: true }`,
    compare: (ref, dir, refTable, table) => pgCompare(PG_URL, `${PG_SCHEMA}.${refTable}`, `${PG_SCHEMA}.${table}`),
  },
  mysql: {
    transform: `select id, ts, user_id, CAST(amount AS DECIMAL(10,2)) AS amount, note from source`,
    target: (dir, table) => `{ type: mysql, connection: "mysql://root@127.0.0.1:3306/${MY_DB}", table: ${table}, create: true }`,
    compare: (ref, dir, refTable, table) => myCompare(refTable, table),
  },
};

const lakeOf = (dir) => (existsSync(dir) ? `read_parquet('${dir}/**/*.parquet', hive_partitioning = true)` : `(SELECT NULL AS id WHERE false)`);

async function duckCompare(a, b, attach = []) {
  const instance = await DuckDBInstance.create(':memory:', { threads: '1' });
  const conn = await instance.connect();
  try {
    if (attach.length > 0) {
      await conn.run(`ATTACH '${attach[0]}' AS ra (READ_ONLY)`);
      await conn.run(`ATTACH '${attach[1]}' AS rb (READ_ONLY)`);
    }
    const reader = await conn.runAndReadAll(`SELECT
      (SELECT count(*) FROM ${a}) AS "refRows", (SELECT count(*) FROM ${b}) AS "rows",
      (SELECT count(*) FROM (SELECT * FROM ${a} EXCEPT ALL SELECT * FROM ${b})) AS lost,
      (SELECT count(*) FROM (SELECT * FROM ${b} EXCEPT ALL SELECT * FROM ${a})) AS extra,
      (SELECT count(*) FROM (SELECT id FROM ${b} GROUP BY id HAVING count(*) > 1)) AS "duplicateKeys"`);
    return numbers(reader.getRowObjectsJson()[0]);
  } finally {
    conn.closeSync();
    instance.closeSync();
  }
}

/** An Avro lake's rows as text, read by Apache's avro-js (not the engine's reader), with their hive folder. */
async function avroRows(dir) {
  const rows = [];
  const walk = (d) => {
    for (const e of existsSync(d) ? readdirSync(d, { withFileTypes: true }) : []) {
      if (e.name === '.backfill-tmp') continue;
      if (e.isDirectory()) walk(join(d, e.name));
      else if (e.name.endsWith('.avro')) rows.push(join(d, e.name));
    }
  };
  walk(dir);
  const out = [];
  for (const file of rows) {
    const folder = relative(dir, dirname(file));
    for await (const rec of avroJs.createFileDecoder(file)) {
      const values = Object.values(rec).map((v) => (v !== null && typeof v === 'object' && !Buffer.isBuffer(v) ? Object.values(v)[0] : v));
      out.push({ id: values[0], text: JSON.stringify([...values.map((v) => (Buffer.isBuffer(v) ? v.toString('hex') : v)), folder]) });
    }
  }
  return out;
}

async function avroCompare(a, b) {
  const [ra, rb] = [await avroRows(a), await avroRows(b)];
  const left = new Map();
  for (const r of ra) left.set(r.text, (left.get(r.text) ?? 0) + 1);
  let extra = 0;
  for (const r of rb) {
    const n = left.get(r.text) ?? 0;
    if (n > 0) left.set(r.text, n - 1);
    else extra++;
  }
  const lost = [...left.values()].reduce((s, n) => s + n, 0);
  const ids = new Map();
  for (const r of rb) ids.set(r.id, (ids.get(r.id) ?? 0) + 1);
  return { refRows: ra.length, rows: rb.length, lost, extra, duplicateKeys: [...ids.values()].filter((n) => n > 1).length };
}

async function pgCompare(url, a, b) {
  const client = new pg.Client({ connectionString: url, application_name: 'backfill-trials' });
  await client.connect();
  try {
    const res = await client.query(`SELECT
      (SELECT count(*) FROM ${a}) AS "refRows", (SELECT count(*) FROM ${b}) AS "rows",
      (SELECT count(*) FROM (SELECT * FROM ${a} EXCEPT ALL SELECT * FROM ${b}) x) AS lost,
      (SELECT count(*) FROM (SELECT * FROM ${b} EXCEPT ALL SELECT * FROM ${a}) x) AS extra,
      (SELECT count(*) FROM (SELECT id FROM ${b} GROUP BY id HAVING count(*) > 1) x) AS "duplicateKeys"`);
    return numbers(res.rows[0]);
  } finally {
    await client.end();
  }
}

async function myCompare(a, b) {
  const conn = await mysql.createConnection({ ...MY, database: MY_DB });
  try {
    const [res] = await conn.query(`SELECT
      (SELECT count(*) FROM \`${a}\`) AS refRows, (SELECT count(*) FROM \`${b}\`) AS \`rows\`,
      (SELECT count(*) FROM (SELECT * FROM \`${a}\` EXCEPT ALL SELECT * FROM \`${b}\`) x) AS lost,
      (SELECT count(*) FROM (SELECT * FROM \`${b}\` EXCEPT ALL SELECT * FROM \`${a}\`) x) AS extra,
      (SELECT count(*) FROM (SELECT id FROM \`${b}\` GROUP BY id HAVING count(*) > 1) x) AS duplicateKeys`);
    return numbers(res[0]);
  } finally {
    await conn.end();
  }
}

function numbers(row) {
  return Object.fromEntries(Object.entries(row).map(([k, v]) => [k, Number(v)]));
}

// ---------------------------------------------------------------- one run of the CLI

/**
 * Start `backfill run <job> --json`; kill it as `kill` says (undefined: let it finish).
 * Returns how it ended and the chunk keys it started, recorded done and adopted.
 */
function runOnce(job, kill, env = {}, onEvent = () => {}) {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [BIN, 'run', job, '--json'], {
      env: { ...process.env, ...env, ...(kill?.kind === 'after-commit' ? { BACKFILL_FAULT: `after-commit:${kill.n}` } : {}) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const t0 = Date.now();
    const started = [];
    const done = [];
    const adopted = [];
    let result;
    let stdout = '';
    let stderr = '';
    let events = 0;
    let firstStartMs;
    const killNow = () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    };
    let timer;
    if (kill?.kind === 'timed') timer = setTimeout(killNow, kill.ms);
    // A run that hangs fails its trial instead of stalling the harness.
    let hung = false;
    const guard = setTimeout(() => {
      hung = true;
      killNow();
    }, RUN_LIMIT_MS);
    child.stdout.on('data', (d) => {
      stdout += d.toString();
      let nl;
      while ((nl = stdout.indexOf('\n')) >= 0) {
        const line = stdout.slice(0, nl);
        stdout = stdout.slice(nl + 1);
        let e;
        try {
          e = JSON.parse(line);
        } catch {
          continue;
        }
        if (e.event === 'chunk:start') {
          if (started.length === 0) firstStartMs = Date.now() - t0;
          started.push(e.chunk.key);
        }
        if (e.event === 'chunk:done') done.push(e.chunk.key);
        if (e.event === 'warning') {
          const m = /^chunk (\S+) had committed before its process stopped/.exec(e.message);
          if (m !== null) adopted.push(m[1]);
        }
        if (e.event === 'result') result = e;
        onEvent(e);
        if (kill?.kind === 'event' && e.event === kill.on) {
          events += 1;
          if (events === kill.k) setTimeout(killNow, kill.delayMs);
        }
      }
    });
    child.stderr.on('data', (d) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      clearTimeout(guard);
      if (hung) stderr += `\nthe run did not end within ${RUN_LIMIT_MS / 1000} s`;
      resolvePromise({ code: hung ? -1 : code, signal: hung ? 'hung' : signal, killed: !hung && signal === 'SIGKILL', ms: Date.now() - t0, firstStartMs, started, done, adopted, result, stderr: stderr.slice(-2000) });
    });
  });
}

function doneInLedger(ledger) {
  if (!existsSync(ledger)) return 0;
  const db = new Database(ledger, { readonly: true, fileMustExist: true });
  try {
    return db.prepare(`SELECT count(*) AS n FROM backfill_chunks WHERE status = 'done'`).get().n;
  } catch {
    return 0;
  } finally {
    db.close();
  }
}

function jobYaml({ name, kind, dir, table, mode, data, retries = '{ attempts: 5, backoff: 100ms, maxBackoff: 1s }' }) {
  return `name: ${name}
source: { type: csv, path: ${join(data, 'events-*.csv')}, pruneBy: filename }
chunk: { column: ts, every: 1 day }
transform: ${kind.transform}
target: ${kind.target(dir, table)}
write: { mode: ${mode}${mode === 'merge' ? ', key: [id]' : ''} }
concurrency: ${concurrency}
retries: ${retries}
ledger: ${join(dir, 'ledger.sqlite')}
`;
}

// ---------------------------------------------------------------- crash trials

/** Choose how to kill one run: at a random time, on a chunk event, or right after a commit. */
function planKill(random, ref, remaining) {
  const r = random();
  // Mostly while chunks run (after the process has started and planned), sometimes before.
  const from = ref.firstStartMs * 0.7;
  // A resumed run has fewer chunks left, so its window is shorter.
  if (r < 0.35) return { kind: 'timed', ms: Math.round(from + random() * (ref.ms - from) * Math.min(1, remaining / days)) };
  if (r < 0.65) return { kind: 'event', on: random() < 0.5 ? 'chunk:start' : 'chunk:done', k: 1 + Math.floor(random() * Math.max(1, remaining - 1)), delayMs: Math.floor(random() * 25) };
  return { kind: 'after-commit', n: 1 + Math.floor(random() * Math.max(1, remaining)) };
}

async function crashTrials(targetName, work, data) {
  const kind = KINDS[targetName];
  const random = rng(seed * 1_000_003 + TARGETS.indexOf(targetName) + 1);
  // One clean, uninterrupted run per write mode is the reference.
  const refs = {};
  for (const mode of MODES) {
    const dir = join(work, targetName, `ref-${mode}`);
    mkdirSync(dir, { recursive: true });
    const job = join(dir, 'job.yaml');
    writeFileSync(job, jobYaml({ name: `ref-${suffix}-${targetName}-${mode}`, kind, dir, table: `ref_${mode}`, mode, data }));
    const run = await runOnce(job);
    if (run.code !== 0) throw new Error(`the clean ${targetName} ${mode} run failed (exit ${run.code}): ${run.stderr}`);
    refs[mode] = { dir, table: `ref_${mode}`, ms: run.ms, firstStartMs: run.firstStartMs ?? 0 };
  }
  const trials = [];
  for (let i = 0; i < count; i += 1) {
    const mode = MODES[i % MODES.length];
    const dir = join(work, targetName, `trial-${i}`);
    mkdirSync(dir, { recursive: true });
    const table = `t${i}_${mode}`;
    const job = join(dir, 'job.yaml');
    writeFileSync(job, jobYaml({ name: `trial-${suffix}-${targetName}-${i}`, kind, dir, table, mode, data }));
    const runs = [];
    // The first run is always killed; the resumed one is killed again in about a third of trials.
    const kills = random() < 0.35 ? 2 : 1;
    for (let r = 0; r < kills + 1; r += 1) {
      const remaining = days - doneInLedger(join(dir, 'ledger.sqlite'));
      const kill = r < kills ? planKill(random, refs[mode], remaining) : undefined;
      const run = await runOnce(job, kill);
      runs.push({ kill, ...run });
      if (!run.killed && r < kills && run.code === 0) {
        // Finished before the kill landed: when this was a whole run, time later kills by it
        // (the machine may be faster now than when the reference ran).
        if (r === 0 && run.firstStartMs !== undefined) refs[mode] = { ...refs[mode], ms: run.ms, firstStartMs: run.firstStartMs };
        break;
      }
    }
    const last = runs[runs.length - 1];
    // A run that was not killed must end with exit 0; a killed run is followed by another.
    let finished = !last.killed && last.code === 0;
    if (last.killed) {
      const tail = await runOnce(job);
      runs.push({ kill: undefined, ...tail });
      finished = tail.code === 0;
    }
    const cmp = await kind.compare(refs[mode].dir, dir, refs[mode].table, table);
    const ledgerDone = doneInLedger(join(dir, 'ledger.sqlite'));
    // Redone: chunks a killed run had started but not recorded done, which the next run wrote again.
    const resumes = [];
    for (let r = 0; r + 1 < runs.length; r += 1) {
      if (!runs[r].killed) continue;
      // Later runs: the next one may itself be killed before it starts a chunk.
      const later = runs.slice(r + 1);
      const inflight = new Set(runs[r].started.filter((k) => !runs[r].done.includes(k)));
      const again = new Set(later.flatMap((x) => x.started));
      resumes.push({
        inFlight: inflight.size,
        redone: [...inflight].filter((k) => again.has(k)).length,
        redoneDone: runs[r].done.filter((k) => again.has(k)).length,
        adopted: [...inflight].filter((k) => later.some((x) => x.adopted.includes(k))).length,
        betweenCommitAndMark: runs[r].kill?.kind === 'after-commit' || [...inflight].some((k) => later.some((x) => x.adopted.includes(k))),
      });
    }
    const killedRuns = runs.filter((r) => r.killed);
    const trial = {
      trial: i, mode, concurrency,
      runs: runs.map((r) => ({ kill: r.kill, killed: r.killed, exit: r.code, ms: r.ms, started: r.started.length, done: r.done.length, adopted: r.adopted.length })),
      kills: killedRuns.length,
      afterCommitKills: killedRuns.filter((r) => r.kill?.kind === 'after-commit').length,
      betweenCommitAndMark: resumes.filter((x) => x.betweenCommitAndMark).length,
      finished, ledgerDone, chunks: days, ...cmp,
      redone: resumes.map((x) => x.redone),
      maxRedone: Math.max(0, ...resumes.map((x) => x.redone)),
      redoneDone: resumes.reduce((n, x) => n + x.redoneDone, 0),
      adopted: resumes.reduce((n, x) => n + x.adopted, 0),
    };
    trial.ok = finished && ledgerDone === days && cmp.lost === 0 && cmp.extra === 0 && cmp.duplicateKeys === 0 && cmp.rows === cmp.refRows
      && trial.maxRedone <= concurrency && trial.redoneDone === 0;
    if (!trial.ok) trial.stderr = runs.map((r) => r.stderr).filter((s) => s !== '').join('\n---\n').slice(-4000);
    trials.push(trial);
    log(`${targetName} #${i} ${mode}: ${trial.ok ? 'ok' : 'FAILED'} kills=${trial.kills} (${killedRuns.map((r) => r.kill.kind).join(',')}) lost=${cmp.lost} extra=${cmp.extra} dupKeys=${cmp.duplicateKeys} redone=${trial.redone.join('/')} adopted=${trial.adopted} betweenCommitAndMark=${trial.betweenCommitAndMark}`);
  }
  return summarize(targetName, trials);
}

function summarize(target, trials) {
  const sum = (f) => trials.reduce((n, t) => n + f(t), 0);
  return {
    target,
    trials: trials.length,
    passed: trials.filter((t) => t.ok).length,
    modes: Object.fromEntries(MODES.map((m) => [m, trials.filter((t) => t.mode === m).length])),
    kills: sum((t) => t.kills),
    afterCommitKills: sum((t) => t.afterCommitKills),
    betweenCommitAndMark: sum((t) => t.betweenCommitAndMark),
    lostRows: sum((t) => t.lost),
    extraRows: sum((t) => t.extra),
    duplicateKeys: sum((t) => t.duplicateKeys),
    concurrency,
    maxRedone: Math.max(0, ...trials.map((t) => t.maxRedone)),
    redoneTotal: sum((t) => t.redone.reduce((a, b) => a + b, 0)),
    redoneDone: sum((t) => t.redoneDone),
    adopted: sum((t) => t.adopted),
    details: trials,
  };
}

// ---------------------------------------------------------------- database fault trials

function freePort() {
  return new Promise((resolvePromise, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolvePromise(port));
    });
  });
}

/** A throwaway cluster that may be restarted: never the shared server other work relies on. */
function startCluster(port) {
  const root = '/usr/lib/postgresql';
  const bin = join(root, readdirSync(root).sort((a, b) => Number(b) - Number(a))[0], 'bin');
  const dir = mkdtempSync(join(tmpdir(), 'backfill-trials-pg-'));
  chmodSync(dir, 0o700);
  const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }));
  const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }));
  chownSync(dir, uid, gid);
  const data = join(dir, 'data');
  const asPostgres = (cmd, args) => execFileSync('runuser', ['-u', 'postgres', '--', join(bin, cmd), ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  asPostgres('initdb', ['-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync']);
  appendFileSync(join(data, 'postgresql.conf'), `\nport = ${port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '${dir}'\nfsync = off\n`);
  const ctl = (...args) => asPostgres('pg_ctl', ['-D', data, '-l', join(dir, 'log'), '-w', '-t', '60', ...args]);
  ctl('start');
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    restart: (mode) => ctl('restart', '-m', mode),
    stop: () => {
      try {
        ctl('stop', '-m', 'immediate');
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}

async function faultTrials(work, data) {
  const port = await freePort();
  const cluster = startCluster(port);
  const results = [];
  try {
    const kind = { ...KINDS.postgres, target: (dir, table) => `{ type: postgres, connection: "${cluster.url}", table: public.${table}, create: true }` };
    const retries = '{ attempts: 30, backoff: 100ms, maxBackoff: 1s }';
    const refs = {};
    for (const mode of MODES) {
      const dir = join(work, 'faults', `ref-${mode}`);
      mkdirSync(dir, { recursive: true });
      const job = join(dir, 'job.yaml');
      writeFileSync(job, jobYaml({ name: `ref-${mode}`, kind, dir, table: `ref_${mode}`, mode, data, retries }));
      const run = await runOnce(job);
      if (run.code !== 0) throw new Error(`the clean run on the throwaway cluster failed: ${run.stderr}`);
    }
    const plans = [];
    for (let i = 0; i < faults; i += 1) {
      plans.push({ fault: i % 2 === 0 ? 'restart-fast' : 'restart-immediate' });
      plans.push({ fault: 'terminate' });
    }
    for (const [i, plan] of plans.entries()) {
      const mode = MODES[i % MODES.length];
      const dir = join(work, 'faults', `trial-${i}`);
      mkdirSync(dir, { recursive: true });
      const table = `f${i}_${mode}`;
      const job = join(dir, 'job.yaml');
      writeFileSync(job, jobYaml({ name: `fault-${i}`, kind, dir, table, mode, data, retries }));
      let injected = 0;
      let retried = 0;
      let faulting;
      const admin = new pg.Client({ connectionString: cluster.url, application_name: 'backfill-trials' });
      await admin.connect();
      admin.on('error', () => {});
      const run = await runOnce(job, undefined, {}, (e) => {
        if (e.event === 'chunk:retry') retried += 1;
        // Strike once a few chunks are done, while the rest are in flight.
        if (e.event === 'chunk:done' && faulting === undefined) {
          faulting = (async () => {
            if (plan.fault.startsWith('restart')) {
              cluster.restart(plan.fault === 'restart-fast' ? 'fast' : 'immediate');
              injected = 1;
            } else {
              // Only the engine's own target connections, in this cluster's database.
              for (let n = 0; n < 10; n += 1) {
                const res = await admin.query(
                  `SELECT count(pg_terminate_backend(pid)) AS n FROM pg_stat_activity
                   WHERE application_name = 'backfill-target' AND datname = 'postgres' AND pid <> pg_backend_pid()`,
                ).catch(() => ({ rows: [{ n: 0 }] }));
                injected += Number(res.rows[0].n);
                await new Promise((r) => setTimeout(r, 15));
              }
            }
          })();
        }
      });
      await faulting;
      await admin.end().catch(() => {});
      const cmp = await pgCompare(cluster.url, `public.ref_${mode}`, `public.${table}`);
      const ok = run.code === 0 && cmp.lost === 0 && cmp.extra === 0 && cmp.duplicateKeys === 0 && cmp.rows === cmp.refRows && injected > 0;
      results.push({ trial: i, fault: plan.fault, mode, exit: run.code, injected, retried, ...cmp, ok, ...(ok ? {} : { stderr: run.stderr }) });
      log(`fault #${i} ${plan.fault} ${mode}: ${ok ? 'ok' : 'FAILED'} exit=${run.code} injected=${injected} retries=${retried} lost=${cmp.lost} extra=${cmp.extra} dupKeys=${cmp.duplicateKeys}`);
    }
  } finally {
    cluster.stop();
  }
  return results;
}

// ---------------------------------------------------------------- main

async function main() {
  const work = mkdtempSync(join(tmpdir(), 'backfill-trials-'));
  const data = join(work, 'data');
  generateSource(data);
  const pgAdmin = targets.includes('postgres') ? new pg.Client({ connectionString: PG_URL, application_name: 'backfill-trials' }) : undefined;
  const myAdmin = targets.includes('mysql') ? await mysql.createConnection(MY) : undefined;
  if (pgAdmin !== undefined) {
    await pgAdmin.connect();
    await pgAdmin.query(`CREATE SCHEMA "${PG_SCHEMA}"`);
  }
  if (myAdmin !== undefined) await myAdmin.query(`CREATE DATABASE \`${MY_DB}\``);
  const t0 = Date.now();
  const report = { seed, rows, days, chunksPerTrial: days, concurrency, count, targets: {}, faults: [] };
  try {
    for (const t of targets) report.targets[t] = await crashTrials(t, work, data);
    if (faults > 0) report.faults = await faultTrials(work, data);
  } finally {
    if (!flags.keep) {
      await pgAdmin?.query(`DROP SCHEMA "${PG_SCHEMA}" CASCADE`).catch(() => {});
      await pgAdmin?.query(`DELETE FROM backfill.chunk_commits WHERE job LIKE $1`, [`%-${suffix}-%`]).catch(() => {});
      await myAdmin?.query(`DROP DATABASE \`${MY_DB}\``).catch(() => {});
      rmSync(work, { recursive: true, force: true });
    } else log(`kept ${work}`);
    await pgAdmin?.end().catch(() => {});
    await myAdmin?.end().catch(() => {});
  }
  report.seconds = Math.round((Date.now() - t0) / 1000);
  const failed = Object.values(report.targets).some((s) => s.passed !== s.trials) || report.faults.some((f) => !f.ok);
  report.ok = !failed;
  if (flags.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  else {
    const rowsOut = Object.values(report.targets).map(
      (s) => `| ${s.target} | ${s.trials} | ${s.passed} | ${s.kills} | ${s.lostRows} | ${s.extraRows} | ${s.duplicateKeys} | ${s.maxRedone} (of ${s.concurrency} workers) | ${s.betweenCommitAndMark} |`,
    );
    process.stdout.write(
      ['| target | trials | passed | kills | lost rows | extra rows | duplicate keys | max chunks redone per resume | kills between commit and mark |', '|---|---|---|---|---|---|---|---|---|', ...rowsOut].join('\n') + '\n',
    );
    for (const f of report.faults) process.stdout.write(`fault ${f.fault} (${f.mode}): ${f.ok ? 'ok' : 'FAILED'}, ${f.retried} chunk retries, lost ${f.lost}, extra ${f.extra}\n`);
    process.stdout.write(`${report.ok ? 'all trials passed' : 'SOME TRIALS FAILED'} in ${report.seconds} s\n`);
  }
  process.exitCode = report.ok ? 0 : 1;
}

await main();
