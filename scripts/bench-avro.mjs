#!/usr/bin/env node
// Benchmark of the Avro lake target: the engine (Parquet file → Avro lake, monthly chunks,
// partitioned by month, deflate) against bare scripts that read the same rows from DuckDB and
// encode them with the same library (avsc), and against the engine writing a Parquet lake of the
// same data. Every measured run is its own child process, so its peak RSS is its own; the runs
// of one repetition are interleaved. Run `npm run build` first (the engine is loaded from dist/).
//
//   node scripts/bench-avro.mjs [--rows 1000000,10000000] [--reps 3 | --reps 3,1] [--dir .bench-avro] [--only engine-avro,script-tuned] [--doc docs/benchmarks.md]
//
// `--only engine-avro-snappy` runs the engine's job with codec snappy (not among the default runs).
//
// Results accumulate in <dir>/results.json (one entry per size and run, the latest invocation
// winning), so sizes can be measured by separate invocations; `--doc` rewrites the Avro section
// of that file (between its bench-avro markers) from everything accumulated, naming the commands.
//
// Runs: script-stream — DuckDB result chunks → one object per row → avsc's BlockEncoder stream
// (the library's own container writer); script-tuned — DuckDB result chunks → one reused record →
// avsc's compiled `type.encode` into 256 KiB blocks, deflated (what the engine does, without the
// engine); engine-avro; engine-parquet. Prints a markdown table to stdout, progress to stderr.

import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, statSync, readdirSync, createWriteStream, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { open } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { deflateRaw } from 'node:zlib';
import { promisify } from 'node:util';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { DuckDBInstance } from '@duckdb/node-api';
import avro from 'avsc';

const SCRIPT = fileURLToPath(import.meta.url);
const ROOT = path.resolve(path.dirname(SCRIPT), '..');
const DIST = path.join(ROOT, 'dist', 'index.js');
const RUNS = ['script-stream', 'script-tuned', 'engine-avro', 'engine-parquet'];
/** Runs made only when `--only` names them. */
const EXTRA = ['engine-avro-snappy'];
const TAG = 'BENCH_AVRO ';

const { values: flags } = parseArgs({
  options: {
    rows: { type: 'string', default: '1000000,10000000' },
    reps: { type: 'string', default: '3' },
    dir: { type: 'string', default: '.bench-avro' },
    only: { type: 'string' },
    child: { type: 'string' },
    source: { type: 'string' },
    out: { type: 'string' },
    doc: { type: 'string' },
  },
});

/** The rows: 2 years of events, a mix of the types a landing zone holds. */
const SOURCE_SQL = (rows) => `
  SELECT i AS id, TIMESTAMP '2023-01-01' + to_microseconds(CAST(i * (63072000000000 // ${rows}) AS BIGINT)) AS ts,
    CAST(i % 100000 AS INTEGER) AS user_id, CAST((i % 100000) / 100 AS DECIMAL(10,2)) AS amount,
    'note ' || (i % 1000) AS note, i % 7 = 0 AS flagged, CAST(i % 1000 AS DOUBLE) / 7 AS score
  FROM range(${rows}) t(i)`;

/** What the engine's encoder selects for these columns (see src/connectors/avro/avro-schema.ts). */
const SELECT = `CAST(id AS BIGINT) AS id, epoch_us(CAST(ts AS TIMESTAMP)) AS ts, CAST(user_id AS INTEGER) AS user_id, amount,
  CAST(note AS VARCHAR) AS note, flagged, score`;
const SCHEMA = {
  type: 'record', name: 'events', fields: [
    { name: 'id', type: ['null', 'long'], default: null },
    { name: 'ts', type: ['null', { type: 'long', logicalType: 'local-timestamp-micros' }], default: null },
    { name: 'user_id', type: ['null', 'int'], default: null },
    { name: 'amount', type: ['null', { type: 'bytes', logicalType: 'decimal', precision: 10, scale: 2 }], default: null },
    { name: 'note', type: ['null', 'string'], default: null },
    { name: 'flagged', type: ['null', 'boolean'], default: null },
    { name: 'score', type: ['null', 'double'], default: null },
  ],
};

function decimalBytes(v) {
  let n = v.value;
  const out = [];
  for (;;) {
    const b = Number(n & 0xffn);
    out.push(b);
    n >>= 8n;
    if ((n === 0n && (b & 0x80) === 0) || (n === -1n && (b & 0x80) !== 0)) break;
  }
  return Buffer.from(out.reverse());
}

// ------------------------------------------------------------------------------ children

async function duckChunks(source, fn) {
  const instance = await DuckDBInstance.create(':memory:', { threads: '2' });
  const conn = await instance.connect();
  const result = await conn.stream(`SELECT ${SELECT} FROM read_parquet('${source}')`);
  let rows = 0;
  for (;;) {
    const chunk = await result.fetchChunk();
    if (chunk === null || chunk.rowCount === 0) break;
    const cols = Array.from({ length: chunk.columnCount }, (_, i) => chunk.getColumnValues(i));
    // Longs stay within 2^53 here, so avsc's plain long (numbers) takes them.
    for (const i of [0, 1]) cols[i] = cols[i].map((v) => (v === null ? null : Number(v)));
    cols[3] = cols[3].map((v) => (v === null ? null : decimalBytes(v)));
    await fn(cols, chunk.rowCount);
    rows += chunk.rowCount;
  }
  conn.closeSync();
  instance.closeSync();
  return rows;
}

async function scriptStream(source, out) {
  const type = avro.Type.forSchema(SCHEMA);
  const encoder = new avro.streams.BlockEncoder(type, { codec: 'deflate' });
  const file = createWriteStream(path.join(out, 'data.avro'));
  const done = new Promise((resolve, reject) => file.on('close', resolve).on('error', reject));
  encoder.pipe(file);
  const names = SCHEMA.fields.map((f) => f.name);
  const rows = await duckChunks(source, async (cols, n) => {
    for (let r = 0; r < n; r++) {
      const rec = {};
      for (let i = 0; i < names.length; i++) rec[names[i]] = cols[i][r];
      if (!encoder.write(rec)) await new Promise((resolve) => encoder.once('drain', resolve));
    }
  });
  encoder.end();
  await done;
  return rows;
}

async function scriptTuned(source, out) {
  const type = avro.Type.forSchema(SCHEMA);
  const deflate = promisify(deflateRaw);
  const fh = await open(path.join(out, 'data.avro'), 'w');
  const sync = randomBytes(16);
  const meta = avro.Type.forSchema({ type: 'map', values: 'bytes' }).toBuffer({ 'avro.schema': Buffer.from(JSON.stringify(SCHEMA)), 'avro.codec': Buffer.from('deflate') });
  await fh.write(Buffer.concat([Buffer.from('Obj\x01', 'latin1'), meta, sync]));
  const long = avro.Type.forSchema('long');
  let buf = Buffer.allocUnsafe(512 * 1024);
  let pos = 0;
  let count = 0;
  const flush = async () => {
    if (count === 0) return;
    const body = await deflate(buf.subarray(0, pos));
    await fh.writev([long.toBuffer(count), long.toBuffer(body.length), body, sync]);
    pos = 0;
    count = 0;
  };
  const rec = Object.fromEntries(SCHEMA.fields.map((f) => [f.name, null]));
  const rows = await duckChunks(source, async (cols, n) => {
    for (let r = 0; r < n; r++) {
      rec.id = cols[0][r]; rec.ts = cols[1][r]; rec.user_id = cols[2][r]; rec.amount = cols[3][r];
      rec.note = cols[4][r]; rec.flagged = cols[5][r]; rec.score = cols[6][r];
      let end;
      while ((end = type.encode(rec, buf, pos)) < 0) {
        const bigger = Buffer.allocUnsafe(buf.length * 2);
        buf.copy(bigger, 0, 0, pos);
        buf = bigger;
      }
      pos = end;
      count++;
    }
    if (pos >= 256 * 1024) await flush();
  });
  await flush();
  await fh.close();
  return rows;
}

async function engine(kind, source, out, codec = 'deflate') {
  const { defineJob, runBackfill } = await import(pathToFileURL(DIST).href);
  const target = kind === 'avro' ? { type: 'avro', path: 'lake', partitionBy: ['month'], codec } : { type: 'parquet', path: 'lake', partitionBy: ['month'], compression: 'zstd' };
  const job = defineJob(
    {
      name: `bench-${kind}`, source: { type: 'parquet', path: source }, target,
      chunk: { column: 'ts', every: '1 month', timezone: 'UTC' },
      transform: `select *, strftime(ts, '%Y-%m') as month from source`, write: { mode: 'replace' }, ...(process.env.BENCH_CONCURRENCY ? { concurrency: Number(process.env.BENCH_CONCURRENCY) } : {}),
    },
    { baseDir: out },
  );
  const result = await runBackfill(job);
  if (result.status !== 'done') throw new Error(`engine run ${result.status}: ${JSON.stringify(result.chunks.filter((c) => c.outcome === 'failed').slice(0, 2))}`);
  return result.rowsWritten;
}

function bytesUnder(dir) {
  let total = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.name === '.backfill' || e.name === '.backfill-tmp') continue;
    const p = path.join(dir, e.name);
    total += e.isDirectory() ? bytesUnder(p) : statSync(p).size;
  }
  return total;
}

if (flags.child !== undefined) {
  const out = flags.out;
  const started = process.hrtime.bigint();
  const rows =
    flags.child === 'script-stream' ? await scriptStream(flags.source, out)
    : flags.child === 'script-tuned' ? await scriptTuned(flags.source, out)
    : flags.child === 'engine-avro-snappy' ? await engine('avro', flags.source, out, 'snappy')
    : await engine(flags.child === 'engine-avro' ? 'avro' : 'parquet', flags.source, out);
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const usage = process.resourceUsage();
  const cpuSeconds = (usage.userCPUTime + usage.systemCPUTime) / 1e6;
  process.stdout.write(`${TAG}${JSON.stringify({ rows, seconds, cpuSeconds, peakMiB: usage.maxRSS / 1024, bytes: bytesUnder(out) })}\n`);
  process.exit(0);
}

// ------------------------------------------------------------------------------ parent

const log = (m) => process.stderr.write(`${m}\n`);
const sizes = flags.rows.split(',').map(Number);
const repsList = flags.reps.split(',').map(Number);
const repsOf = (i) => repsList[Math.min(i, repsList.length - 1)];
const runs = flags.only === undefined ? RUNS : flags.only.split(',');
const dir = path.resolve(flags.dir);
mkdirSync(dir, { recursive: true });

function child(run, source, out) {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [SCRIPT, '--child', run, '--source', source, '--out', out], { stdio: ['ignore', 'pipe', 'inherit'] });
    let text = '';
    p.stdout.on('data', (d) => (text += d));
    p.on('close', (code) => {
      const line = text.split('\n').find((l) => l.startsWith(TAG));
      if (code !== 0 || line === undefined) reject(new Error(`${run} exited ${code}`));
      else resolve(JSON.parse(line.slice(TAG.length)));
    });
  });
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const table = [];
const loadStart = os.loadavg().map((x) => x.toFixed(2)).join(', ');
const started = new Date().toISOString();
for (const [sizeIndex, rows] of sizes.entries()) {
  const reps = repsOf(sizeIndex);
  const source = path.join(dir, `events-${rows}.parquet`);
  if (!existsSync(source)) {
    log(`generating ${rows} rows`);
    const instance = await DuckDBInstance.create(':memory:');
    const conn = await instance.connect();
    await conn.run(`COPY (${SOURCE_SQL(rows)}) TO '${source}' (FORMAT parquet)`);
    conn.closeSync();
    instance.closeSync();
  }
  const results = Object.fromEntries(runs.map((r) => [r, []]));
  for (let rep = 0; rep < reps; rep++) {
    for (const run of runs) {
      const out = path.join(dir, `out-${run}`);
      rmSync(out, { recursive: true, force: true });
      mkdirSync(out, { recursive: true });
      const res = await child(run, source, out);
      if (res.rows !== rows) throw new Error(`${run} wrote ${res.rows} rows, expected ${rows}`);
      log(`${rows} rows, rep ${rep + 1}: ${run} ${res.seconds.toFixed(2)} s (CPU ${res.cpuSeconds.toFixed(1)} s), peak ${Math.round(res.peakMiB)} MiB, ${(res.bytes / 2 ** 20).toFixed(0)} MiB out`);
      results[run].push(res);
      rmSync(out, { recursive: true, force: true });
    }
  }
  for (const run of runs) {
    const secs = results[run].map((r) => r.seconds);
    const cpu = results[run].map((r) => r.cpuSeconds);
    table.push({ rows, run, reps, seconds: median(secs), all: secs, cpuSeconds: median(cpu), min: Math.min(...secs), max: Math.max(...secs), peakMiB: Math.max(...results[run].map((r) => r.peakMiB)), outMiB: results[run][0].bytes / 2 ** 20 });
  }
}

// The data folder and the report file change no figure: left out of the command as recorded, so no local path lands in the report.
const command = `node scripts/bench-avro.mjs ${process.argv.slice(2).filter((a, i, all) => !['--doc', '--dir'].includes(a) && !['--doc', '--dir'].includes(all[i - 1] ?? '')).join(' ')}`;
const store = path.join(dir, 'results.json');
const saved = existsSync(store) ? JSON.parse(readFileSync(store, 'utf8')) : { entries: [] };
const invocation = { command, started, loadStart, loadEnd: os.loadavg().map((x) => x.toFixed(2)).join(', ') };
saved.entries = saved.entries.filter((e) => !table.some((t) => t.rows === e.rows && t.run === e.run));
for (const t of table) saved.entries.push({ ...t, invocation });
writeFileSync(store, JSON.stringify(saved, null, 1));
const report = render(saved.entries);
process.stdout.write(report);
if (flags.doc !== undefined) {
  const old = existsSync(flags.doc) ? readFileSync(flags.doc, 'utf8') : '';
  const section = `<!-- bench-avro:start -->\n${report}<!-- bench-avro:end -->\n`;
  const found = /<!-- bench-avro:start -->[\s\S]*<!-- bench-avro:end -->\n/.exec(old);
  const at = old.indexOf('## How to reproduce');
  const text = found !== null ? old.replace(found[0], section) : at < 0 ? `${old}\n${section}` : `${old.slice(0, at)}${section}\n${old.slice(at)}`;
  writeFileSync(flags.doc, text);
  log(`wrote ${flags.doc}`);
}

function render(entries) {
  const order = [...RUNS, ...EXTRA];
  const sorted = [...entries].sort((a, b) => a.rows - b.rows || order.indexOf(a.run) - order.indexOf(b.run));
  const ref = (rows, name) => sorted.find((x) => x.rows === rows && x.run === name)?.seconds;
  const ratio = (t, name) => (ref(t.rows, name) === undefined ? '–' : (ref(t.rows, name) / t.seconds).toFixed(2));
  const cpuOf = (rows, name) => sorted.find((x) => x.rows === rows && x.run === name)?.cpuSeconds;
  const cpuRatio = (t) => (cpuOf(t.rows, 'script-tuned') === undefined || t.cpuSeconds === undefined ? '–' : (cpuOf(t.rows, 'script-tuned') / t.cpuSeconds).toFixed(2));
  const out = [
    '## Avro lake (scripts/bench-avro.mjs)',
    '',
    `Parquet file → Avro lake, measured by \`scripts/bench-avro.mjs\` on ${os.availableParallelism()} cores (${os.cpus()[0]?.model ?? 'unknown CPU'}), Node.js ${process.version}. Each run is its own child process; the runs of one repetition are interleaved (script-stream, script-tuned, engine-avro, engine-parquet, then again). The load average at the start and end of each command is given below it (above about 2 on these 2 cores, other work shared the machine and the figures move from one repetition to the next); the ratios compare runs made side by side.`,
    '',
    '- **Data**: N rows over two years (`id` BIGINT, `ts` TIMESTAMP, `user_id` INTEGER, `amount` DECIMAL(10,2), `note` VARCHAR, `flagged` BOOLEAN, `score` DOUBLE) in one Parquet file.',
    '- **script-stream**: a bare script: `SELECT` of the same columns from DuckDB, read in result chunks, one object per row written to avsc\'s `BlockEncoder` stream (the library\'s own container writer), deflate, one file.',
    '- **script-tuned**: the same read, one reused record encoded by avsc\'s compiled `type.encode` into 256 KiB blocks, deflated: the engine\'s encoding without the engine (no chunks, no partitions, no ledger). The limit in this stack.',
    '- **engine-avro**: `runBackfill`, monthly chunks on `ts`, the transform adding `month`, an Avro lake partitioned by month, deflate, replace mode, default concurrency.',
    '- **engine-parquet**: the same job into a Parquet lake (zstd).',
    ...(sorted.some((t) => t.run === 'engine-avro-snappy') ? ['- **engine-avro-snappy**: the engine-avro job with `codec: snappy`.'] : []),
    '- Seconds: wall time inside the child process (DuckDB start-up included, Node start-up not), the median of the repetitions. CPU s: user + system CPU time of the process (all its threads), the median. Peak RSS: `process.resourceUsage().maxRSS`, the largest over the repetitions. ×tuned = script-tuned seconds ÷ this run\'s seconds (above 1 is faster than the script); CPU ×tuned the same with CPU seconds, which a loaded machine skews less than wall time.',
    '',
    '| rows | run | reps | median s | each s | rows/s | CPU s | peak RSS MiB | output MiB | ×tuned | ×stream | CPU ×tuned |',
    '|--:|---|--:|--:|---|--:|--:|--:|--:|--:|--:|--:|',
    ...sorted.map((t) => `| ${t.rows.toLocaleString('en-US')} | ${t.run} | ${t.reps} | ${t.seconds.toFixed(2)} | ${t.all.map((x) => x.toFixed(1)).join(', ')} | ${Math.round(t.rows / t.seconds).toLocaleString('en-US')} | ${t.cpuSeconds === undefined ? '–' : t.cpuSeconds.toFixed(1)} | ${Math.round(t.peakMiB)} | ${t.outMiB.toFixed(0)} | ${ratio(t, 'script-tuned')} | ${ratio(t, 'script-stream')} | ${cpuRatio(t)} |`),
    '',
  ];
  const goal = sorted.filter((t) => t.run === 'engine-avro' && ref(t.rows, 'script-tuned') !== undefined);
  if (goal.length > 0) {
    out.push('**Goal: the engine ≥ 0.7× the bare script (script-tuned).** ' + goal.map((t) => `${t.rows.toLocaleString('en-US')} rows: ${ratio(t, 'script-tuned')}× by wall time (${Number(ratio(t, 'script-tuned')) >= 0.7 ? 'met' : '**missed**'}), ${cpuRatio(t)}× by CPU time`).join('; ') + '.', '');
  }
  // The goal is about large runs: from the first size of at least 10M rows to the largest.
  for (const run of ['engine-avro', 'engine-avro-snappy', 'engine-parquet']) {
    const mem = sorted.filter((t) => t.run === run);
    const from = mem.find((t) => t.rows >= 10_000_000) ?? mem[0];
    const hi = mem[mem.length - 1];
    if (from === undefined || hi === undefined || hi === from) continue;
    const growth = hi.peakMiB / from.peakMiB;
    out.push(`**Peak memory of ${run} across sizes:** ${mem.map((t) => `${t.rows.toLocaleString('en-US')} rows ${Math.round(t.peakMiB)} MiB`).join(', ')}; from ${from.rows.toLocaleString('en-US')} to ${hi.rows.toLocaleString('en-US')} rows ×${growth.toFixed(2)} while rows grew ×${(hi.rows / from.rows).toFixed(0)} (${growth <= 1.1 ? 'flat: within 10%' : '**grows**'}).`, '');
  }
  const invocations = [...new Map(sorted.map((t) => [t.invocation.command, t.invocation])).values()];
  out.push('Commands (run after `npm run build`, with `--dir <folder>` for the generated data; each measured the sizes it names):', '', '```sh', ...invocations.map((i) => `${i.command}   # started ${i.started}; load average at start ${i.loadStart}, at end ${i.loadEnd}`), '```', '');
  return `${out.join('\n')}\n`;
}
