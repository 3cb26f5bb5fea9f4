// `backfill demo`: make a realistic event history and backfill it into a partitioned Parquet lake.

import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { generateEvents } from '../demo/generate-events.js';
import { EventBus } from '../core/events.js';
import { loadJobFile } from '../job/job-loader.js';
import { runBackfill, type RunResult } from '../engine/run/run-backfill.js';
import { formatBytes, formatCount, formatDuration } from './format.js';
import { printError, printLine } from './output-guard.js';

export const DEMO_JOB = `# The demo job: two years of daily event files → a month-partitioned, zstd Parquet lake.
name: events-history
source:
  type: csv
  path: data/events/events-*.csv*
  # Files are named by day (events-2023-03-01.csv.gz), so a chunk reads only its own files.
  pruneBy: filename
chunk:
  column: ts
  every: 1 month
  timezone: UTC
transform: |
  select *, strftime(ts, '%Y-%m') as month from source
target:
  type: parquet
  path: lake/events
  partitionBy: [month]
  compression: zstd
write:
  mode: replace
`;

type Runner = (fn: (signal: AbortSignal, hard: AbortSignal, events: EventBus) => Promise<RunResult>) => Promise<RunResult>;

export async function runDemo(
  flags: { dir: string; rows: number; days: number; concurrency?: number },
  runner: Runner,
): Promise<RunResult> {
  const dir = resolve(flags.dir);
  const dataDir = join(dir, 'data', 'events');
  const marker = join(dataDir, '.generated.json');
  const wanted = JSON.stringify({ rows: flags.rows, days: flags.days });
  if (!existsSync(marker) || readFileSync(marker, 'utf8') !== wanted) {
    rmSync(dataDir, { recursive: true, force: true });
    mkdirSync(dataDir, { recursive: true });
    printError(`generating ${formatCount(flags.rows)} events over ${flags.days} days in ${dataDir} …`);
    const t0 = Date.now();
    const gen = await generateEvents({ dir: dataDir, rows: flags.rows, days: flags.days });
    writeFileSync(marker, wanted);
    printError(`generated ${gen.files} daily CSV files (every third gzip-compressed), ${formatBytes(gen.bytes)}, in ${formatDuration(Date.now() - t0)}`);
  }
  const jobFile = join(dir, 'events.yaml');
  writeFileSync(jobFile, DEMO_JOB);
  const job = loadJobFile(jobFile);
  printError(`running ${jobFile}`);
  const result = await runner((signal, hardSignal, events) =>
    runBackfill(job, { signal, hardSignal, events, concurrency: flags.concurrency }),
  );
  const lake = lakeSize(join(dir, 'lake', 'events'));
  const rate = result.ms > 0 ? Math.round((result.rowsWritten * 1000) / result.ms) : 0;
  printLine(
    `${result.status}: ${result.done} chunks done, ${result.failed} failed; ${formatCount(result.rowsWritten)} rows in ${formatDuration(result.ms)} ` +
      `(${formatCount(rate)} rows/s); lake ${join(dir, 'lake', 'events')}: ${lake.files} files, ${formatBytes(lake.bytes)}\n` +
      `next: backfill status ${jobFile}   |   backfill plan ${jobFile}   |   backfill run ${jobFile} --from 2023-03-01 --to 2023-04-01 --restate`,
  );
  return result;
}

/** Files and bytes under the demo's lake, for the closing line. */
function lakeSize(dir: string): { files: number; bytes: number } {
  if (!existsSync(dir)) return { files: 0, bytes: 0 };
  const files = readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile());
  return { files: files.length, bytes: files.reduce((n, e) => n + statSync(join(e.parentPath, e.name)).size, 0) };
}
