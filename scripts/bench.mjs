#!/usr/bin/env node
// Benchmark: the engine's file → Parquet throughput against a single raw DuckDB COPY of the same
// data, and peak memory per run. Every measured run is its own child process, so its peak RSS is
// its own. Run `npm run build` first (the engine is loaded from dist/).
//
//   node scripts/bench.mjs [--rows 1000000,10000000] [--reps N | --reps 3,1] [--dir .bench] [--out docs/benchmarks.md]
//   node scripts/bench.mjs --quick [--dir <folder>]     tiny sizes, 1 repetition, no report file
//   node scripts/bench.mjs --rows 100000000 --prepare   only generate (and cache) the data for these sizes
//
// Defaults: --rows 1000000,5000000; --reps 3 for sizes up to 10M rows, else 1. Writes the report
// (markdown) to --out and prints its tables to stdout; progress goes to stderr.

import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { barChart } from './svg-chart.mjs';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { DuckDBInstance } from '@duckdb/node-api';

const SCRIPT = fileURLToPath(import.meta.url);
const ROOT = path.resolve(path.dirname(SCRIPT), '..');
const DIST = path.join(ROOT, 'dist', 'index.js');

const DAYS = 730;
const GZIP_EVERY_NTH_DAY = 3;
const SEED = 42;
const DEFAULT_ROWS = [1_000_000, 5_000_000];
const QUICK_ROWS = [20_000];
const SWEEP = [1, 2, 4];
const SWEEP_MAX_ROWS = 10_000_000;
const GOAL_RATIO = 0.9;
/** Peak RSS counts as "not growing with rows" when the largest size's peak is within this fraction of the smallest's. */
const FLAT_TOLERANCE = 0.1;
const RESULT_TAG = 'BENCH_RESULT ';
const MONTH_EXPR = "strftime(ts, '%Y-%m')";

// The demo job (src/cli/demo-command.ts), with the source path and pruning set per layout.
function demoJob(sourcePath, pruneBy, options) {
  return {
    name: 'events-history',
    source: { type: 'csv', path: sourcePath, pruneBy, ...(options === undefined ? {} : { options }) },
    chunk: { column: 'ts', every: '1 month', timezone: 'UTC' },
    transform: `select *, ${MONTH_EXPR} as month from source`,
    target: { type: 'parquet', path: 'lake/events', partitionBy: ['month'], compression: 'zstd' },
    write: { mode: 'replace' },
  };
}

// ---------------------------------------------------------------------------------------------
// Small helpers

/** The Avro section of the report is written by scripts/bench-avro.mjs: carried over as it is, before "How to reproduce". */
function keepAvroSection(file, report) {
  const old = existsSync(file) ? readFileSync(file, 'utf8') : '';
  const found = /<!-- bench-avro:start -->[\s\S]*<!-- bench-avro:end -->\n/.exec(old);
  if (found === null) return report;
  const at = report.indexOf('## How to reproduce');
  return at < 0 ? `${report}\n${found[0]}` : `${report.slice(0, at)}${found[0]}\n${report.slice(at)}`;
}

const sq = (s) => `'${String(s).replaceAll("'", "''")}'`;
const mib = (bytes) => bytes / (1024 * 1024);
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const fmtInt = (n) => Math.round(n).toLocaleString('en-US');
const fmtSec = (s) => (s < 10 ? s.toFixed(2) : s.toFixed(1));
const fmtMiB = (m) => (m < 10 ? m.toFixed(1) : Math.round(m).toLocaleString('en-US'));
const fmtRows = (n) => (n >= 1e6 && n % 1e5 === 0 ? `${n / 1e6}M` : n >= 1e3 && n % 100 === 0 ? `${n / 1e3}k` : String(n));
const fmtRatio = (r) => r.toFixed(2);
const pct = (x) => `${Math.round(x * 100)}%`;
const log = (msg) => process.stderr.write(`${msg}\n`);

function fail(message) {
  const err = new Error(message);
  err.benchFailure = true;
  throw err;
}

async function withDuck(config, fn) {
  const instance = await DuckDBInstance.create(':memory:', config);
  const conn = await instance.connect();
  try {
    return await fn(async (sql) => (await conn.runAndReadAll(sql)).getRowObjectsJson());
  } finally {
    conn.closeSync();
    instance.closeSync();
  }
}

function* walkParquet(dir) {
  if (!existsSync(dir)) return;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) yield* walkParquet(p);
    else if (entry.isFile() && entry.name.endsWith('.parquet')) yield p;
  }
}

function folderStats(dir) {
  let files = 0;
  let bytes = 0;
  for (const f of walkParquet(dir)) {
    files++;
    bytes += statSync(f).size;
  }
  return { files, bytes };
}

function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return err.code === 'EPERM';
  }
}

function cpuSeconds(usage) {
  return (usage.userCPUTime + usage.systemCPUTime) / 1e6;
}

// ---------------------------------------------------------------------------------------------
// Child side: one measured run, reported as one JSON line on stdout.

async function child(spec) {
  const cores = os.availableParallelism();
  let out;
  // CPU time is counted from the start of the measured work (module loading excluded).
  let cpuStart = 0;
  const begin = () => {
    cpuStart = cpuSeconds(process.resourceUsage());
    return performance.now();
  };
  if (spec.kind === 'idle') {
    // What a process that loads the engine and starts DuckDB costs before doing any work.
    await import(pathToFileURL(spec.engine).href);
    const t0 = begin();
    await withDuck({ threads: String(cores) }, (q) => q('SELECT 1'));
    out = { seconds: (performance.now() - t0) / 1000 };
  } else if (spec.kind === 'raw') {
    const t0 = begin();
    const rows = await withDuck({ threads: String(cores), preserve_insertion_order: 'false' }, async (q) => {
      const r = await q(
        `COPY (SELECT *, ${MONTH_EXPR} AS month FROM read_csv(${sq(spec.source)}${spec.readOptions ?? ''}))
         TO ${sq(spec.out)} (FORMAT parquet, COMPRESSION zstd, PARTITION_BY (month), WRITE_BLOOM_FILTER false)`,
      );
      return Number(r[0]?.Count ?? Number.NaN);
    });
    out = { seconds: (performance.now() - t0) / 1000, rowsWritten: rows };
  } else if (spec.kind === 'engine') {
    const { defineJob, runBackfill, EventBus } = await import(pathToFileURL(spec.engine).href);
    const job = defineJob(
      { ...demoJob(spec.source, spec.pruneBy, spec.options), ...(spec.memoryLimit === undefined ? {} : { duckdb: { memoryLimit: spec.memoryLimit } }) },
      { baseDir: spec.baseDir },
    );
    const events = new EventBus();
    const t0 = begin();
    const marks = { planSeconds: undefined, stageSeconds: 0, chunkSeconds: 0, chunks: 0 };
    events.on('run:start', () => (marks.planSeconds = (performance.now() - t0) / 1000));
    events.on('stage:done', (e) => {
      marks.stageSeconds = e.ms / 1000;
      marks.pass = e.pass;
    });
    events.on('chunk:done', (e) => {
      marks.chunkSeconds += e.ms / 1000;
      marks.chunks++;
    });
    const warnings = [];
    events.on('warning', (e) => warnings.push(e.message));
    const result = await runBackfill(job, { events, ...(spec.concurrency === undefined ? {} : { concurrency: spec.concurrency }) });
    const seconds = (performance.now() - t0) / 1000;
    const errors = result.chunks.filter((c) => c.error !== undefined).map((c) => `${c.key}: ${c.error}`);
    out = {
      seconds, status: result.status, done: result.done, failed: result.failed, total: result.total,
      rowsRead: result.rowsRead, rowsWritten: result.rowsWritten, ...marks, warnings, errors,
    };
  } else {
    throw new Error(`unknown child kind ${spec.kind}`);
  }
  const usage = process.resourceUsage();
  // maxRSS is in KiB.
  out.peakRssMiB = usage.maxRSS / 1024;
  out.cpuSeconds = cpuSeconds(usage) - cpuStart;
  process.stdout.write(`${RESULT_TAG}${JSON.stringify(out)}\n`);
}

/**
 * A private copy of the compiled engine for the whole benchmark: dist/ may be rebuilt while a long
 * run is under way, and every measurement must use the same engine. Returns its entry point.
 */
function snapshotEngine(workDir) {
  // Copies left by benchmark processes that have gone.
  for (const name of readdirSync(workDir)) {
    const pid = Number(/^engine-(\d+)$/.exec(name)?.[1]);
    if (Number.isInteger(pid) && pid > 0 && !alive(pid)) rmSync(path.join(workDir, name), { recursive: true, force: true });
  }
  const dir = path.join(workDir, `engine-${process.pid}`);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  cpSync(path.join(ROOT, 'dist'), path.join(dir, 'dist'), { recursive: true });
  writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ type: 'module', private: true }));
  symlinkSync(path.join(ROOT, 'node_modules'), path.join(dir, 'node_modules'), 'junction');
  const hash = createHash('sha256');
  const walk = (d) => {
    for (const e of readdirSync(d, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.js')) hash.update(`${path.relative(dir, p)}\0`).update(readFileSync(p));
    }
  };
  walk(path.join(dir, 'dist'));
  return { dir, entry: path.join(dir, 'dist', 'index.js'), fingerprint: hash.digest('hex').slice(0, 12) };
}

/** Entry point of the engine snapshot every child loads; set once by main(). */
let engineEntry = DIST;

function runChild(spec) {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [SCRIPT, '--child', JSON.stringify({ engine: engineEntry, ...spec })], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (d) => (stdout += d));
    proc.stderr.on('data', (d) => (stderr += d));
    proc.on('error', reject);
    proc.on('close', (code, signal) => {
      const line = stdout.split('\n').find((l) => l.startsWith(RESULT_TAG));
      if (code !== 0 || line === undefined) {
        const err = new Error(`${spec.kind} run failed (exit ${code ?? signal}):\n${stderr.trim() || stdout.trim()}`);
        err.benchFailure = true;
        reject(err);
        return;
      }
      resolve(JSON.parse(line.slice(RESULT_TAG.length)));
    });
  });
}

// ---------------------------------------------------------------------------------------------
// Parent side

function parseCli(argv) {
  const { values } = parseArgs({
    args: argv,
    options: {
      quick: { type: 'boolean', default: false },
      rows: { type: 'string' },
      reps: { type: 'string' },
      out: { type: 'string' },
      dir: { type: 'string' },
      child: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
      prepare: { type: 'boolean', default: false },
    },
    strict: true,
  });
  return values;
}

function parseRows(text) {
  const sizes = text.split(',').map((s) => s.trim()).filter((s) => s !== '').map((s) => {
    const m = /^(\d+(?:\.\d+)?)([kKmM]?)$/.exec(s.replaceAll('_', ''));
    if (m === null) fail(`--rows: "${s}" is not a row count (e.g. 1000000 or 1M)`);
    const n = Number(m[1]) * (m[2].toLowerCase() === 'm' ? 1e6 : m[2].toLowerCase() === 'k' ? 1e3 : 1);
    if (!Number.isSafeInteger(n) || n < 1) fail(`--rows: "${s}" is not a positive whole number of rows`);
    return n;
  });
  if (sizes.length === 0) fail('--rows: give at least one size');
  return [...new Set(sizes)].sort((a, b) => a - b);
}

function parseReps(text, sizes, quick) {
  if (text === undefined) return sizes.map((n) => (quick ? 1 : n <= 10_000_000 ? 3 : 1));
  const list = text.split(',').map((s) => Number(s.trim()));
  if (list.some((n) => !Number.isSafeInteger(n) || n < 1)) fail(`--reps: "${text}" must be a positive whole number, or one per size`);
  if (list.length === 1) return sizes.map(() => list[0]);
  if (list.length !== sizes.length) fail(`--reps: give one number, or one per size (${sizes.length})`);
  return list;
}

function commandLine(argv) {
  const quoted = argv.map((a) => (/^[\w./,=:-]+$/.test(a) ? a : sq(a))).join(' ');
  if (process.env.npm_lifecycle_event === 'bench') return `npm run bench${quoted === '' ? '' : ` -- ${quoted}`}`;
  return `node scripts/bench.mjs${quoted === '' ? '' : ` ${quoted}`}`;
}

async function countRows(dir) {
  const glob = path.join(dir, '**', '*.parquet');
  const rows = await withDuck({ threads: String(os.availableParallelism()) }, (q) =>
    q(`SELECT count(*)::BIGINT AS n, count(DISTINCT month) AS months
       FROM read_parquet(${sq(glob)}, hive_partitioning = true, union_by_name = true)`),
  );
  return { rows: Number(rows[0].n), months: Number(rows[0].months) };
}

/** Daily files (cached across invocations) and the same rows as one CSV file. */
async function prepareData(workDir, rows, generateEvents) {
  const base = path.join(workDir, 'data', String(rows));
  const daily = path.join(base, 'daily');
  const single = path.join(base, 'single', 'events.csv');
  const marker = path.join(base, 'generated.json');
  const wanted = JSON.stringify({ rows, days: DAYS, gzipEveryNthDay: GZIP_EVERY_NTH_DAY, seed: SEED, single: true });
  if (existsSync(marker) && readFileSync(marker, 'utf8') === wanted && existsSync(single)) {
    log(`[${fmtRows(rows)}] reusing data in ${base}`);
  } else {
    rmSync(base, { recursive: true, force: true });
    mkdirSync(daily, { recursive: true });
    mkdirSync(path.dirname(single), { recursive: true });
    let t0 = performance.now();
    const gen = await generateEvents({ dir: daily, rows, days: DAYS, gzipEveryNthDay: GZIP_EVERY_NTH_DAY, seed: SEED });
    if (gen.rows !== rows) fail(`generateEvents wrote ${gen.rows} rows, expected ${rows}`);
    log(`[${fmtRows(rows)}] generated ${gen.files} daily files (${fmtMiB(mib(gen.bytes))} MiB) in ${fmtSec((performance.now() - t0) / 1000)} s`);
    t0 = performance.now();
    // Every column read as text (types given, so no per-file type detection): the values are
    // copied verbatim and the engine and the raw COPY detect the types of the one file themselves.
    const copied = await withDuck({ threads: String(os.availableParallelism()) }, async (q) => {
      const first = readdirSync(daily).filter((f) => /^events-.*\.csv$/.test(f)).sort()[0];
      const cols = (await q(`DESCRIBE SELECT * FROM read_csv(${sq(path.join(daily, first))})`)).map((c) => c.column_name);
      const columns = `{${cols.map((c) => `${sq(c)}: 'VARCHAR'`).join(', ')}}`;
      const r = await q(
        `COPY (SELECT * FROM read_csv(${sq(path.join(daily, 'events-*.csv*'))}, header = true, delim = ',', quote = '"', columns = ${columns}))
         TO ${sq(single)} (FORMAT csv, HEADER)`,
      );
      return Number(r[0]?.Count ?? Number.NaN);
    });
    if (copied !== rows) fail(`the single-file copy holds ${copied} rows, expected ${rows}`);
    log(`[${fmtRows(rows)}] wrote the single-file layout (${fmtMiB(mib(statSync(single).size))} MiB) in ${fmtSec((performance.now() - t0) / 1000)} s`);
    writeFileSync(marker, wanted);
  }
  let dailyBytes = 0;
  let dailyFiles = 0;
  for (const f of readdirSync(daily)) {
    if (!/^events-.*\.csv(\.gz)?$/.test(f)) continue;
    dailyFiles++;
    dailyBytes += statSync(path.join(daily, f)).size;
  }
  // The column types DuckDB detects in the one file, for the reference COPY that is given them.
  const described = await withDuck({ threads: '1' }, (q) => q(`DESCRIBE SELECT * FROM read_csv(${sq(single)})`));
  const columns = Object.fromEntries(described.map((c) => [c.column_name, c.column_type]));
  const typedOptions = { header: true, delim: ',', quote: '"', columns };
  const typed = `, header = true, delim = ',', quote = '"', columns = {${described.map((c) => `${sq(c.column_name)}: ${sq(c.column_type)}`).join(', ')}}`;
  return {
    rows,
    typed,
    typedOptions,
    daily: { source: path.join(daily, 'events-*.csv*'), files: dailyFiles, bytes: dailyBytes },
    single: { source: single, files: 1, bytes: statSync(single).size },
  };
}

/** One measured run in a fresh folder; verifies the output holds exactly `rows` rows. */
async function measure(label, spec, rows, runDir, { keep = false } = {}) {
  rmSync(runDir, { recursive: true, force: true });
  mkdirSync(runDir, { recursive: true });
  const r = await runChild(spec);
  let outDir;
  if (spec.kind === 'raw') {
    outDir = spec.out;
    if (r.rowsWritten !== rows) fail(`${label}: COPY reported ${r.rowsWritten} rows, expected ${rows}`);
  } else {
    outDir = path.join(runDir, 'lake', 'events');
    if (r.status !== 'done' || r.failed !== 0) {
      fail(`${label}: the run ended "${r.status}" with ${r.failed} failed chunk(s)\n${r.errors.join('\n')}`);
    }
    if (r.rowsWritten !== rows) fail(`${label}: the engine reports ${r.rowsWritten} rows written, expected ${rows}`);
  }
  const lake = folderStats(outDir);
  const counted = await countRows(outDir);
  if (counted.rows !== rows) fail(`${label}: the lake ${outDir} holds ${counted.rows} rows, expected exactly ${rows}`);
  if (!keep) rmSync(runDir, { recursive: true, force: true });
  log(`  ${label}: ${fmtSec(r.seconds)} s, ${fmtInt(rows / r.seconds)} rows/s, peak RSS ${fmtMiB(r.peakRssMiB)} MiB, lake ${fmtMiB(mib(lake.bytes))} MiB in ${lake.files} files (verified ${fmtInt(counted.rows)} rows, ${counted.months} months)`);
  return { ...r, lakeBytes: lake.bytes, lakeFiles: lake.files, months: counted.months };
}

function summarize(runs, rows) {
  const seconds = median(runs.map((r) => r.seconds));
  return {
    runs,
    seconds,
    rowsPerSec: rows / seconds,
    peakRssMiB: Math.max(...runs.map((r) => r.peakRssMiB)),
    cpuSeconds: median(runs.map((r) => r.cpuSeconds)),
    lakeBytes: runs[runs.length - 1].lakeBytes,
    lakeFiles: runs[runs.length - 1].lakeFiles,
    planSeconds: runs[0].planSeconds === undefined ? undefined : median(runs.map((r) => r.planSeconds)),
    stageSeconds: runs[0].stageSeconds === undefined ? undefined : median(runs.map((r) => r.stageSeconds)),
    chunkSeconds: runs[0].chunkSeconds === undefined ? undefined : median(runs.map((r) => r.chunkSeconds)),
    pass: runs[0].pass,
  };
}

async function benchSize(workDir, data, reps, cores, sweep) {
  const rows = data.rows;
  const tag = fmtRows(rows);
  const runsDir = path.join(workDir, 'runs', String(rows));
  const raw = { daily: [], single: [], typed: [] };
  const engine = { daily: [], single: [], typed: [] };
  let rerunDir;
  for (let rep = 1; rep <= reps; rep++) {
    log(`[${tag}] repetition ${rep}/${reps}`);
    // Interleaved, so a slow phase of the machine hits every variant alike.
    for (const layout of ['daily', 'single']) {
      const rawDir = path.join(runsDir, `raw-${layout}-${rep}`);
      raw[layout].push(
        await measure(`raw ${layout}`, { kind: 'raw', source: data[layout].source, out: path.join(rawDir, 'out') }, rows, rawDir),
      );
      if (layout === 'daily') {
        // Reference only: the same COPY told the column types, so DuckDB skips type detection per file.
        const typedDir = path.join(runsDir, `raw-typed-${rep}`);
        raw.typed.push(
          await measure(`raw daily, types given`, { kind: 'raw', source: data.daily.source, readOptions: data.typed, out: path.join(typedDir, 'out') }, rows, typedDir),
        );
      }
      const engDir = path.join(runsDir, `engine-${layout}-${rep}`);
      const keep = layout === 'daily' && rep === reps;
      engine[layout].push(
        await measure(
          `engine ${layout}`,
          { kind: 'engine', source: data[layout].source, pruneBy: layout === 'daily' ? 'filename' : 'none', baseDir: engDir },
          rows, engDir, { keep },
        ),
      );
      if (keep) rerunDir = engDir;
      if (layout === 'daily') {
        // Reference only: the engine with the same column types in the job's reader options.
        const typedDir = path.join(runsDir, `engine-typed-${rep}`);
        engine.typed.push(
          await measure(
            `engine daily, types given`,
            { kind: 'engine', source: data.daily.source, pruneBy: 'filename', baseDir: typedDir, options: data.typedOptions },
            rows, typedDir,
          ),
        );
      }
    }
  }

  // The finished job again: every chunk is done, so no data should be read or written.
  log(`[${tag}] re-run of the finished job`);
  const rerun = await runChild({ kind: 'engine', source: data.daily.source, pruneBy: 'filename', baseDir: rerunDir });
  if (rerun.status !== 'done' || rerun.done !== 0 || rerun.rowsWritten !== 0 || rerun.rowsRead !== 0) {
    fail(`re-run at ${tag}: expected no work, got status ${rerun.status}, ${rerun.done} chunks done, ${rerun.rowsWritten} rows written`);
  }
  const rerunLake = await countRows(path.join(rerunDir, 'lake', 'events'));
  if (rerunLake.rows !== rows) fail(`re-run at ${tag}: the lake now holds ${rerunLake.rows} rows, expected ${rows}`);
  log(`  engine re-run: ${fmtSec(rerun.seconds)} s, ${rerun.total} chunks all done already, peak RSS ${fmtMiB(rerun.peakRssMiB)} MiB`);
  rmSync(rerunDir, { recursive: true, force: true });

  // The same job with DuckDB's memory capped: how far the process's peak stays from the cap.
  log(`[${tag}] engine daily, duckdb.memoryLimit ${BUDGET_LIMIT}`);
  const budgetDir = path.join(runsDir, 'engine-budget');
  const budget = summarize(
    [await measure(`engine daily, memoryLimit ${BUDGET_LIMIT}`, { kind: 'engine', source: data.daily.source, pruneBy: 'filename', baseDir: budgetDir, memoryLimit: BUDGET_LIMIT }, rows, budgetDir)],
    rows,
  );

  let sweepRuns;
  if (sweep) {
    sweepRuns = [];
    for (const c of SWEEP) {
      log(`[${tag}] concurrency ${c}`);
      const dir = path.join(runsDir, `sweep-${c}`);
      const r = await measure(`engine daily, concurrency ${c}`, { kind: 'engine', source: data.daily.source, pruneBy: 'filename', baseDir: dir, concurrency: c }, rows, dir);
      sweepRuns.push({ concurrency: c, ...summarize([r], rows) });
    }
  }
  rmSync(runsDir, { recursive: true, force: true });

  return {
    rows, reps, data,
    raw: { daily: summarize(raw.daily, rows), single: summarize(raw.single, rows), typed: summarize(raw.typed, rows) },
    engine: { daily: summarize(engine.daily, rows), single: summarize(engine.single, rows), typed: summarize(engine.typed, rows) },
    rerun, sweep: sweepRuns, budget,
    cores,
  };
}

// ---------------------------------------------------------------------------------------------
// Report

/** The DuckDB memory limit of the capped run (`duckdb.memoryLimit` in the job). */
const BUDGET_LIMIT = '300MB';

const TABLE_HEADER = '| run | layout | rows | seconds (median) | rows/s | peak RSS (MiB) | CPU use | lake (MiB) | files | engine / raw |';
const TABLE_RULE = '|---|---|--:|--:|--:|--:|--:|--:|--:|--:|';

function cpuUse(s, cores) {
  return `${pct(s.cpuSeconds / s.seconds / cores)} of ${cores}`;
}

function sizeTable(r) {
  const line = (run, layout, s, ratio) =>
    `| ${run} | ${layout} | ${fmtInt(r.rows)} | ${fmtSec(s.seconds)} (${s.runs.map((x) => fmtSec(x.seconds)).join(', ')}) | ${fmtInt(s.rowsPerSec)} | ${fmtMiB(s.peakRssMiB)} | ${cpuUse(s, r.cores)} | ${fmtMiB(mib(s.lakeBytes))} | ${s.lakeFiles} | ${ratio} |`;
  const rDaily = r.raw.daily.seconds / r.engine.daily.seconds;
  const rSingle = r.raw.single.seconds / r.engine.single.seconds;
  return [
    TABLE_HEADER,
    TABLE_RULE,
    line('raw DuckDB COPY', `${r.data.daily.files} daily files`, r.raw.daily, '—'),
    line('engine', `${r.data.daily.files} daily files`, r.engine.daily, fmtRatio(rDaily)),
    line('raw DuckDB COPY, column types given (reference)', `${r.data.daily.files} daily files`, r.raw.typed, '—'),
    line('engine, column types given (reference)', `${r.data.daily.files} daily files`, r.engine.typed, `${fmtRatio(r.raw.typed.seconds / r.engine.typed.seconds)} (against the raw COPY with types given)`),
    line('raw DuckDB COPY', 'one CSV file', r.raw.single, '—'),
    line('engine (pruneBy: none)', 'one CSV file', r.engine.single, fmtRatio(rSingle)),
    `| engine re-run (nothing to do) | ${r.data.daily.files} daily files | 0 | ${fmtSec(r.rerun.seconds)} | — | ${fmtMiB(r.rerun.peakRssMiB)} | — | — | — | — |`,
  ].join('\n');
}

function breakdownTable(r) {
  const rows = [
    '| engine on | total (s) | planning (s) | pass over the unpruned source (s) | chunk work, summed over chunks (s) | CPU-seconds | raw COPY CPU-seconds |',
    '|---|--:|--:|--:|--:|--:|--:|',
  ];
  for (const [layout, name] of [['daily', 'daily files'], ['typed', 'daily files, column types given'], ['single', 'one CSV file']]) {
    const e = r.engine[layout];
    rows.push(
      `| ${name} | ${fmtSec(e.seconds)} | ${fmtSec(e.planSeconds ?? 0)} | ${e.stageSeconds ? `${fmtSec(e.stageSeconds)}${e.pass ? ` (${e.pass})` : ''}` : '—'} | ${fmtSec(e.chunkSeconds ?? 0)} | ${fmtSec(e.cpuSeconds)} | ${fmtSec(r.raw[layout].cpuSeconds)} |`,
    );
  }
  return rows.join('\n');
}

function sweepTable(r) {
  const rows = [
    '| concurrency | seconds | rows/s | peak RSS (MiB) | CPU use | engine / raw | engine / raw with types given |',
    '|--:|--:|--:|--:|--:|--:|--:|',
  ];
  for (const s of r.sweep) {
    rows.push(`| ${s.concurrency} | ${fmtSec(s.seconds)} | ${fmtInt(s.rowsPerSec)} | ${fmtMiB(s.peakRssMiB)} | ${cpuUse(s, r.cores)} | ${fmtRatio(r.raw.daily.seconds / s.seconds)} | ${fmtRatio(r.raw.typed.seconds / s.seconds)} |`);
  }
  return rows.join('\n');
}

/** Why a layout missed the goal, in terms of the measured numbers. */
function explainMiss(r, layout) {
  const e = r.engine[layout];
  const raw = r.raw[layout];
  const why = [];
  const overhead = e.seconds - raw.seconds;
  if (layout === 'single' && (e.stageSeconds ?? 0) > 0) {
    const share = `${fmtSec(e.stageSeconds)} s, ${pct(e.stageSeconds / e.seconds)} of its run`;
    if (e.pass === 'split') {
      why.push(
        `the engine first splits the one file into a per-chunk Parquet stage (${share}) ` +
          `and only then writes the lake from the stage, so the rows are encoded twice where the raw COPY encodes them once`,
      );
    } else if (e.pass === 'one-pass') {
      why.push(`the engine writes the lake in one pass over the file; that pass took ${fmtSec(e.stageSeconds)} s (${pct(e.stageSeconds / e.seconds)} of its run), against ${fmtSec(raw.seconds)} s for the whole raw COPY`);
    } else {
      why.push(`the engine's pass over the unpruned file took ${share}`);
    }
  }
  if ((e.planSeconds ?? 0) > 0.1 * e.seconds) {
    why.push(`planning before the first chunk took ${fmtSec(e.planSeconds)} s (${pct(e.planSeconds / e.seconds)} of the run)`);
  }
  const engineUse = e.cpuSeconds / e.seconds / r.cores;
  const rawUse = raw.cpuSeconds / raw.seconds / r.cores;
  if (e.cpuSeconds > 1.1 * raw.cpuSeconds) {
    why.push(`it spent ${fmtSec(e.cpuSeconds)} CPU-seconds against the raw COPY's ${fmtSec(raw.cpuSeconds)} (${fmtRatio(e.cpuSeconds / raw.cpuSeconds)}×): more work, not only waiting`);
  }
  if (engineUse < rawUse - 0.1) {
    why.push(`it kept ${pct(engineUse)} of the ${r.cores} cores busy against the raw COPY's ${pct(rawUse)}, so cores sat idle part of the time`);
  }
  if (why.length === 0) why.push(`the engine took ${fmtSec(overhead)} s longer than the raw COPY with no single phase standing out in the measurements`);
  return why;
}

function goalSection(results) {
  const lines = [
    '| rows | layout | raw COPY rows/s | engine rows/s | engine / raw | goal ≥ 0.9 |',
    '|--:|---|--:|--:|--:|---|',
  ];
  const misses = [];
  for (const r of results) {
    for (const layout of ['daily', 'single']) {
      const ratio = r.raw[layout].seconds / r.engine[layout].seconds;
      const met = ratio >= GOAL_RATIO;
      lines.push(`| ${fmtInt(r.rows)} | ${layout === 'daily' ? 'daily files' : 'one CSV file'} | ${fmtInt(r.raw[layout].rowsPerSec)} | ${fmtInt(r.engine[layout].rowsPerSec)} | ${fmtRatio(ratio)} | ${met ? 'met' : '**missed**'} |`);
      if (!met) misses.push({ r, layout, ratio });
    }
  }
  const text = [lines.join('\n'), ''];
  const refs = results.map((r) => {
    const share = 1 - r.raw.typed.seconds / r.raw.daily.seconds;
    const engineShare = 1 - r.engine.typed.seconds / r.engine.daily.seconds;
    const asConfigured = r.raw.typed.seconds / r.engine.daily.seconds;
    return `at ${fmtInt(r.rows)} rows the raw COPY over the ${r.data.daily.files} daily files took ${fmtSec(r.raw.daily.seconds)} s, ` +
      `and ${fmtSec(r.raw.typed.seconds)} s when told the column types (${share >= 0 ? `${pct(share)} less` : `${pct(-share)} more`}); ` +
      `against that reference the engine as configured reaches ${fmtRatio(asConfigured)}× (${asConfigured >= GOAL_RATIO ? 'at or above' : '**below**'} ${GOAL_RATIO}). ` +
      `Given the same types in the job's reader options the engine took ${fmtSec(r.engine.typed.seconds)} s instead of ${fmtSec(r.engine.daily.seconds)} s ` +
      `(${engineShare >= 0 ? `${pct(engineShare)} less` : `${pct(-engineShare)} more`}) and reaches ${fmtRatio(r.raw.typed.seconds / r.engine.typed.seconds)}× of the typed raw COPY ` +
      `(${r.raw.typed.seconds / r.engine.typed.seconds >= GOAL_RATIO ? 'at or above' : '**below**'} ${GOAL_RATIO})`;
  });
  text.push(
    `The goal's baseline is the plain COPY, with DuckDB detecting the column types itself. For the daily files a second, reference COPY is given the column types ` +
      `(the only difference between the two statements), and the engine is run once more with the same types.\n\n${refs.map((x) => `- ${x[0].toUpperCase()}${x.slice(1)}.`).join('\n')}`,
    '',
  );
  if (misses.length === 0) {
    text.push(`The engine reached at least ${GOAL_RATIO}× the raw COPY's throughput at every size and layout measured.`);
  } else {
    text.push(`**The ${GOAL_RATIO}× goal is missed in ${misses.length} of ${results.length * 2} cases.** From the measurements:`, '');
    for (const m of misses) {
      text.push(`- ${fmtInt(m.r.rows)} rows, ${m.layout === 'daily' ? 'daily files' : 'one CSV file'}: ${fmtRatio(m.ratio)}× (${fmtSec(m.r.engine[m.layout].seconds)} s against ${fmtSec(m.r.raw[m.layout].seconds)} s) — ${explainMiss(m.r, m.layout).join('; ')}.`);
    }
  }
  return text.join('\n');
}

function memorySection(results, idle) {
  const lines = [
    `| rows | raw COPY, daily | engine, daily | raw COPY, one file | engine, one file | engine re-run | engine, daily, duckdb.memoryLimit ${BUDGET_LIMIT} (rows/s) |`,
    '|--:|--:|--:|--:|--:|--:|--:|',
  ];
  for (const r of results) {
    lines.push(`| ${fmtInt(r.rows)} | ${fmtMiB(r.raw.daily.peakRssMiB)} | ${fmtMiB(r.engine.daily.peakRssMiB)} | ${fmtMiB(r.raw.single.peakRssMiB)} | ${fmtMiB(r.engine.single.peakRssMiB)} | ${fmtMiB(r.rerun.peakRssMiB)} | ${fmtMiB(r.budget.peakRssMiB)} (${fmtInt(r.budget.rowsPerSec)}) |`);
  }
  const text = [
    `Peak resident memory (MiB) of the process doing the run — the largest over its repetitions. A process that only loads the engine and starts DuckDB peaks at ${fmtMiB(idle.peakRssMiB)} MiB.`,
    '',
    lines.join('\n'),
    '',
  ];
  if (results.length < 2) {
    text.push('Only one size was measured, so whether memory grows with rows cannot be told from this run.');
    return text.join('\n');
  }
  // The goal compares the two largest sizes (10M and 100M rows); with two sizes, those two.
  const first = results[results.length - 2];
  const last = results[results.length - 1];
  const rowGrowth = last.rows / first.rows;
  const verdicts = [];
  for (const [name, pick] of [
    ['engine, daily files', (r) => r.engine.daily.peakRssMiB],
    ['engine, one file', (r) => r.engine.single.peakRssMiB],
    ['raw COPY, daily files', (r) => r.raw.daily.peakRssMiB],
    ['raw COPY, one file', (r) => r.raw.single.peakRssMiB],
    [`engine, daily files, duckdb.memoryLimit ${BUDGET_LIMIT}`, (r) => r.budget.peakRssMiB],
  ]) {
    const a = pick(first);
    const b = pick(last);
    const flat = b <= a * (1 + FLAT_TOLERANCE);
    verdicts.push({ name, a, b, flat, engine: name.startsWith('engine') });
    text.push(`- ${name}: ${fmtMiB(a)} → ${fmtMiB(b)} MiB (×${fmtRatio(b / a)}) while rows grew ×${fmtRatio(rowGrowth)} — ${flat ? 'flat' : '**grows**'}.`);
  }
  const engineGrows = verdicts.filter((v) => v.engine && !v.flat);
  text.push('', `"Flat" means the peak at ${fmtInt(last.rows)} rows is within ${pct(FLAT_TOLERANCE)} of the peak at ${fmtInt(first.rows)} rows.`, '');
  text.push(
    engineGrows.length === 0
      ? `**Memory goal met:** the engine's peak memory did not grow with the number of rows.`
      : `**Memory goal missed:** the engine's peak memory grew with the number of rows (${engineGrows.map((v) => `${v.name}: ${fmtMiB(v.a)} → ${fmtMiB(v.b)} MiB`).join('; ')}).`,
  );
  return text.join('\n');
}

function machineSection(env) {
  return [
    `- CPU: ${env.cpuModel}, ${env.cores} cores available (\`os.availableParallelism()\`)`,
    `- Memory: ${env.memGiB.toFixed(1)} GiB`,
    `- OS: ${env.os}`,
    `- Node.js ${env.node}; DuckDB ${env.duckdb} (@duckdb/node-api ${env.duckdbApi})`,
    `- Engine: dist/ as compiled when the run started, copied aside so every measurement uses the same build (fingerprint ${env.engine}: sha256 of its .js files)`,
    `- Run started ${env.started}, took ${env.totalMinutes.toFixed(1)} minutes in all (including data generation)`,
    `- Load average (1, 5, 15 min) at the start: ${env.loadStart} (before any benchmark work); at the end: ${env.loadEnd} (includes the benchmark's own load of up to ${env.cores}; more than that is other activity on the machine)`,
  ].join('\n');
}

function throughputChart(results) {
  const bar = (label, summary) => ({ label, value: summary.rowsPerSec });
  return barChart({
    title: 'Files → Parquet: throughput by strategy and data size',
    unit: 'rows/s (median)',
    groups: results.map((r) => ({
      name: `${fmtInt(r.rows)} rows`,
      bars: [
        bar('raw DuckDB COPY, daily files', r.raw.daily),
        bar('raw DuckDB COPY, daily files, types given', r.raw.typed),
        bar('engine, daily files', r.engine.daily),
        bar('raw DuckDB COPY, one file', r.raw.single),
        bar('engine, one file', r.engine.single),
      ],
    })),
  });
}

function renderReport(env, results, idle, command) {
  const sweepResult = results.find((r) => r.sweep !== undefined);
  const parts = [
    '# Benchmarks',
    '',
    `Generated by \`scripts/bench.mjs\`; every figure below was measured by the run described here. Do not edit by hand — re-run the command.`,
    '',
    'This page covers files → Parquet. The database paths (files → PostgreSQL against `psql \\copy` and pgloader, PostgreSQL → PostgreSQL and → Parquet against a raw COPY pipe, files → MySQL against LOAD DATA) are in [benchmarks-databases.md](benchmarks-databases.md), made by `scripts/bench-databases.mjs`; `npm run bench` runs both with their default sizes.',
    '',
    '## Machine',
    '',
    machineSection(env),
    '',
    '## Command',
    '',
    '```sh',
    command,
    '```',
    '',
    '## What is measured',
    '',
    `- **Data**: \`generateEvents\` writes ${DAYS} daily CSV files (every ${GZIP_EVERY_NTH_DAY === 3 ? 'third' : `${GZIP_EVERY_NTH_DAY}th`} one gzip-compressed, seed ${SEED}). ` +
      'The *one CSV file* layout holds the same rows in a single file written by DuckDB from the daily files; its name carries no date, so the engine cannot prune by file name and takes its one-pass staging path.',
    `- **raw DuckDB COPY**: one statement, \`COPY (SELECT *, ${MONTH_EXPR} AS month FROM read_csv(<files>)) TO <dir> (FORMAT parquet, COMPRESSION zstd, PARTITION_BY (month), WRITE_BLOOM_FILTER false)\`, ` +
      `in a DuckDB with threads = ${env.cores} (the cores) and preserve_insertion_order = false (the same settings the engine uses); without Bloom filters, like the engine's lake (\`bloomFilters: false\` by default), so both write the same files.`,
    '- **engine**: `runBackfill` with the demo job (monthly chunks on `ts`, the transform adding `month`, a zstd Parquet lake partitioned by month, replace mode; ' +
      '`pruneBy: filename` for the daily files, `pruneBy: none` for the one file), default concurrency, into a fresh lake and a fresh ledger every repetition.',
    '- **engine re-run**: the same job once more over its finished lake and ledger; every chunk is already done, so it reads and writes no data.',
    '- Each run is a separate child process. Seconds are wall time of the work inside it (DuckDB start-up included, Node start-up and module loading not), ' +
      'the median over the repetitions (each repetition listed in brackets). rows/s = rows ÷ median seconds. Peak RSS is `process.resourceUsage().maxRSS` of that process, the largest over the repetitions. ' +
      'CPU use = (user + system CPU time) ÷ wall time ÷ cores. engine / raw = raw seconds ÷ engine seconds, i.e. the engine\'s throughput as a fraction of the raw COPY\'s.',
    '- After every run the output is read back: it must hold exactly the generated number of rows, or the benchmark fails.',
    '',
    '![Throughput by strategy and data size](benchmarks-throughput.svg)',
    '',
  ];
  for (const r of results) {
    parts.push(
      `## ${fmtInt(r.rows)} rows (${r.reps} repetition${r.reps === 1 ? '' : 's'})`,
      '',
      `Input: ${r.data.daily.files} daily files, ${fmtMiB(mib(r.data.daily.bytes))} MiB on disk; one CSV file, ${fmtMiB(mib(r.data.single.bytes))} MiB.`,
      '',
      sizeTable(r),
      '',
      'Where the engine\'s time went (medians):',
      '',
      breakdownTable(r),
      '',
    );
  }
  if (sweepResult !== undefined) {
    parts.push(
      `## Concurrency sweep (${fmtInt(sweepResult.rows)} rows, daily files, one run each)`,
      '',
      `Chunks in flight at once; DuckDB's thread pool stays at ${sweepResult.cores} threads. engine / raw uses the raw COPY median above.`,
      '',
      sweepTable(sweepResult),
      '',
    );
  }
  parts.push('## Against the goal: engine ≥ 0.9× a raw DuckDB COPY', '', goalSection(results), '');
  parts.push('## Peak memory across sizes', '', memorySection(results, idle), '');
  parts.push(
    '## How to reproduce',
    '',
    '```sh',
    'npm run build',
    'node scripts/bench.mjs --rows 1000000,10000000 --reps 3   # or pick sizes; --reps takes one number or one per size',
    'node scripts/bench.mjs --quick                            # a tiny smoke run, writes nothing under docs/',
    '```',
    '',
    `Generated data is kept under the work folder (\`--dir\`, default \`.bench/\`, git-ignored) and reused by later runs with the same sizes; lakes are deleted after each run is verified. ` +
      `The sweep runs at the largest size of at most ${fmtInt(SWEEP_MAX_ROWS)} rows. Other work on the machine skews the figures; close it first.`,
    '',
  );
  return parts.join('\n');
}

function stdoutTables(results, idle) {
  const parts = [];
  for (const r of results) {
    parts.push(`${fmtInt(r.rows)} rows (${r.reps} repetition${r.reps === 1 ? '' : 's'})`, sizeTable(r), '', breakdownTable(r), '');
  }
  const sweepResult = results.find((r) => r.sweep !== undefined);
  if (sweepResult !== undefined) parts.push(`Concurrency sweep, ${fmtInt(sweepResult.rows)} rows, daily files`, sweepTable(sweepResult), '');
  parts.push('Against the goal (engine ≥ 0.9× raw COPY)', goalSection(results), '', 'Peak memory', memorySection(results, idle), '');
  return parts.join('\n');
}

async function main(argv) {
  const args = parseCli(argv);
  if (args.help) {
    process.stdout.write(readFileSync(SCRIPT, 'utf8').split('\n').slice(1, 11).map((l) => l.replace(/^\/\/ ?/, '')).join('\n') + '\n');
    return;
  }
  const started = new Date();
  const t0 = performance.now();
  if (!existsSync(DIST)) fail(`${path.relative(process.cwd(), DIST)} is missing: run \`npm run build\` first`);

  const quick = args.quick;
  const sizes = args.rows !== undefined ? parseRows(args.rows) : quick ? QUICK_ROWS : DEFAULT_ROWS;
  const reps = parseReps(args.reps, sizes, quick);
  let createdDir = false;
  let workDir;
  if (args.dir !== undefined) workDir = path.resolve(args.dir);
  else if (quick) {
    workDir = mkdtempSync(path.join(os.tmpdir(), 'backfill-bench-'));
    createdDir = true;
  } else workDir = path.join(ROOT, '.bench');
  mkdirSync(workDir, { recursive: true });
  const snapshot = snapshotEngine(workDir);
  engineEntry = snapshot.entry;
  const outFile = args.out !== undefined ? path.resolve(args.out) : quick ? undefined : path.join(ROOT, 'docs', 'benchmarks.md');
  const cores = os.availableParallelism();
  const sweepSize = [...sizes].reverse().find((n) => n <= SWEEP_MAX_ROWS);

  const duckdb = await withDuck({ threads: '1' }, (q) => q('SELECT version() AS v'));
  const apiPkg = JSON.parse(readFileSync(path.join(ROOT, 'node_modules', '@duckdb', 'node-api', 'package.json'), 'utf8'));
  const env = {
    cores,
    cpuModel: os.cpus()[0]?.model?.trim() ?? 'unknown',
    memGiB: os.totalmem() / 1024 ** 3,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    duckdb: duckdb[0].v,
    duckdbApi: apiPkg.version,
    started: started.toISOString().replace(/\.\d+Z$/, 'Z'),
    loadStart: os.loadavg().map((x) => x.toFixed(2)).join(', '),
    engine: snapshot.fingerprint,
  };
  log(`bench: sizes ${sizes.map(fmtRows).join(', ')}, repetitions ${reps.join(', ')}, work folder ${workDir}, engine build ${snapshot.fingerprint}`);

  try {
    const { generateEvents } = await import(pathToFileURL(engineEntry).href);
    if (args.prepare) {
      for (const rows of sizes) await prepareData(workDir, rows, generateEvents);
      return;
    }
    const idle = await runChild({ kind: 'idle' });
    const results = [];
    for (const [i, rows] of sizes.entries()) {
      const data = await prepareData(workDir, rows, generateEvents);
      results.push(await benchSize(workDir, data, reps[i], cores, rows === sweepSize));
    }
    env.totalMinutes = (performance.now() - t0) / 60_000;
    env.loadEnd = os.loadavg().map((x) => x.toFixed(2)).join(', ');
    process.stdout.write(`\n${stdoutTables(results, idle)}`);
    if (outFile !== undefined) {
      mkdirSync(path.dirname(outFile), { recursive: true });
      writeFileSync(outFile, keepAvroSection(outFile, renderReport(env, results, idle, commandLine(argv))));
      writeFileSync(path.join(path.dirname(outFile), 'benchmarks-throughput.svg'), throughputChart(results));
      log(`wrote ${path.relative(process.cwd(), outFile) || outFile}`);
    }
  } finally {
    rmSync(snapshot.dir, { recursive: true, force: true });
    if (createdDir) rmSync(workDir, { recursive: true, force: true });
  }
}

const argv = process.argv.slice(2);
const childIndex = argv.indexOf('--child');
try {
  if (childIndex >= 0) await child(JSON.parse(argv[childIndex + 1]));
  else await main(argv);
} catch (err) {
  const plain = err?.benchFailure === true || String(err?.code ?? '').startsWith('ERR_PARSE_ARGS');
  process.stderr.write(`bench: ${plain ? err.message : (err?.stack ?? String(err))}\n`);
  process.exitCode = 1;
}
