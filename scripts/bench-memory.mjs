#!/usr/bin/env node
// Peak memory of the engine on daily CSV files as the history grows in two ways: more rows per day
// (the same days, so each monthly chunk holds more rows), and more days (the same rows per day, so
// each chunk holds as many rows as before). Every run is its own process (scripts/bench.mjs's child),
// so its peak RSS is its own. Run `npm run build` first.
//
//   node scripts/bench-memory.mjs [--dir .bench] [--runs 10000000@730,100000000@730,100000000@7300]
//
// Prints a markdown table on stdout; progress goes to stderr. Data is cached under <dir>/memory/.

import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const BENCH = path.join(ROOT, 'scripts', 'bench.mjs');
const ENGINE = path.join(ROOT, 'dist', 'index.js');
const SEED = 42;
const GZIP_EVERY_NTH_DAY = 3;
const log = (m) => process.stderr.write(`${m}\n`);

const { values: args } = parseArgs({ options: { dir: { type: 'string' }, runs: { type: 'string' } }, strict: true });
const workDir = path.resolve(args.dir ?? path.join(ROOT, '.bench'), 'memory');
const runs = (args.runs ?? '10000000@730,100000000@730,100000000@7300').split(',').map((s) => {
  const [rows, days] = s.split('@').map(Number);
  if (!Number.isSafeInteger(rows) || !Number.isSafeInteger(days) || rows < 1 || days < 1) throw new Error(`--runs: "${s}" is not <rows>@<days>`);
  return { rows, days };
});

async function prepare(rows, days) {
  const dir = path.join(workDir, `${rows}-${days}d`);
  const marker = path.join(dir, 'generated.json');
  const wanted = JSON.stringify({ rows, days, seed: SEED, gzipEveryNthDay: GZIP_EVERY_NTH_DAY });
  if (!(existsSync(marker) && readFileSync(marker, 'utf8') === wanted)) {
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    const { generateEvents } = await import(pathToFileURL(ENGINE).href);
    const t0 = performance.now();
    const gen = await generateEvents({ dir: path.join(dir, 'daily'), rows, days, gzipEveryNthDay: GZIP_EVERY_NTH_DAY, seed: SEED });
    if (gen.rows !== rows) throw new Error(`generated ${gen.rows} rows, expected ${rows}`);
    log(`generated ${rows} rows over ${days} days in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    writeFileSync(marker, wanted);
  }
  return path.join(dir, 'daily', 'events-*.csv*');
}

function child(spec) {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [BENCH, '--child', JSON.stringify({ engine: ENGINE, ...spec })], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    proc.stdout.on('data', (d) => (out += d));
    proc.stderr.on('data', (d) => (err += d));
    proc.on('close', (code) => {
      const line = out.split('\n').find((l) => l.startsWith('BENCH_RESULT '));
      if (code !== 0 || line === undefined) reject(new Error(`run failed (exit ${code}): ${err || out}`));
      else resolve(JSON.parse(line.slice('BENCH_RESULT '.length)));
    });
  });
}

const results = [];
for (const { rows, days } of runs) {
  const source = await prepare(rows, days);
  const baseDir = path.join(workDir, 'run');
  rmSync(baseDir, { recursive: true, force: true });
  mkdirSync(baseDir, { recursive: true });
  const r = await child({ kind: 'engine', source, pruneBy: 'filename', baseDir });
  if (r.status !== 'done' || r.rowsWritten !== rows) throw new Error(`${rows}@${days}: ${r.status}, ${r.rowsWritten} rows written`);
  rmSync(baseDir, { recursive: true, force: true });
  const perChunk = Math.round(rows / r.total);
  log(`${rows} rows over ${days} days: ${r.seconds.toFixed(1)} s, ${r.total} chunks (~${perChunk} rows each), peak RSS ${Math.round(r.peakRssMiB)} MiB`);
  results.push({ rows, days, chunks: r.total, perChunk, seconds: r.seconds, peak: r.peakRssMiB });
}

const fmt = (n) => Math.round(n).toLocaleString('en-US');
const lines = [
  `Produced by \`node scripts/bench-memory.mjs --runs ${runs.map((r) => `${r.rows}@${r.days}`).join(',')}\` on ${new Date().toISOString().slice(0, 10)}: ` +
    `${os.availableParallelism()} cores (${os.cpus()[0]?.model ?? 'unknown CPU'}), ${Math.round(os.totalmem() / 2 ** 30)} GiB; the demo job (daily CSV files, monthly chunks, Parquet lake partitioned by month), default concurrency, one run each.`,
  '',
  '| rows | days of history | chunks | rows per chunk | seconds | rows/s | peak RSS (MiB) |',
  '|---:|---:|---:|---:|---:|---:|---:|',
  ...results.map((r) => `| ${fmt(r.rows)} | ${fmt(r.days)} | ${r.chunks} | ${fmt(r.perChunk)} | ${r.seconds.toFixed(1)} | ${fmt(r.rows / r.seconds)} | ${fmt(r.peak)} |`),
];
process.stdout.write(`${lines.join('\n')}\n`);
