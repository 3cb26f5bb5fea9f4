// The `backfill` command: argument parsing and printing only; all work goes through the library API.

import { Command, Option } from 'commander';
import { BackfillError, describeError, JobSpecError, UsageError } from '../core/errors.js';
import { loadJobFile } from '../job/job-loader.js';
import { planBackfill, type BackfillPlan } from '../engine/plan/plan-backfill.js';
import { readStatus, statusDocument, type JobStatus } from '../engine/status/read-status.js';
import { ledgerName } from '../ledger/open-ledger.js';
import { runBackfill, type RunResult } from '../engine/run/run-backfill.js';
import type { ProgressMode } from './progress.js';
import { formatBytes, formatCount, formatDuration, formatKnownBytes } from './format.js';
import { runDemo } from './demo-command.js';
import { guardOutput, printError, printLine, stopWhenOutputCloses } from './output-guard.js';
import { packageVersion } from './package-version.js';
import { BENCH_DIMENSIONS, benchJob, type BenchDimension, type BenchReport } from '../engine/bench/bench-job.js';
import { printDiff, printVerify } from './verify-format.js';
import { verifyBackfill } from '../engine/safety/verify-backfill.js';
import { diffBackfill } from '../engine/safety/diff-chunks.js';
import { addBackupCommands } from './backup-commands.js';
import { addCdcCommands, isCdcJob, runCdcCommand, statusCdcCommand } from './cdc-commands.js';
import { addInitCommand } from './init-command.js';
import { addSchemaCommand } from './schema-command.js';
import { addProfileCommand } from './profile-command.js';
import { addUiCommand } from './ui-command.js';
import { runWithSignals } from './run-signals.js';
import { metricsOption, refuseCdcMetrics, withMetrics, type MetricsAddress } from './metrics-option.js';
import { addLimitsCommands, formatLimitTimes, printThrottleStatus } from './limits-commands.js';
import { addWorkerCommand, fleetStatusOf, isFleetRun, printFleetStatus, runFleetCommand } from './fleet-commands.js';

export const EXIT = { ok: 0, chunksFailed: 1, invalid: 2, error: 3, interrupted: 130 } as const;

interface CommonFlags {
  json?: boolean;
}

export async function main(argv: readonly string[]): Promise<number> {
  // Before anything is printed: a reader that goes away (`| head`) must not crash the command.
  const output = guardOutput();
  let exitCode: number = EXIT.ok;
  const program = new Command()
    .name('backfill')
    .description('Load and re-process historical data fast and safely: chunked, parallel, idempotent, resumable.')
    .version(packageVersion(), '-V, --version', 'print the version')
    .showHelpAfterError()
    .exitOverride();

  program
    .command('plan')
    .description('dry run: list every chunk with its bounds and whether it is done, missing or failed')
    .argument('<job>', 'job file (YAML)')
    .option('--from <value>', 'only chunks overlapping [from, to)')
    .option('--to <value>', 'only chunks overlapping [from, to)')
    .option('--json', 'print the plan as JSON')
    .option('--diff', 'also stage each chunk and count the rows it would insert, update and delete (changes nothing)')
    .action(async (file: string, flags: CommonFlags & { from?: string; to?: string; diff?: boolean }) => {
      if (flags.diff === true) {
        const diff = await diffBackfill(loadJobFile(file), { from: flags.from, to: flags.to });
        if (flags.json === true) print(JSON.stringify(diff, null, 2));
        else printDiff(diff, print);
        return;
      }
      const plan = await planBackfill(loadJobFile(file), { from: flags.from, to: flags.to });
      if (flags.json === true) print(JSON.stringify(plan, null, 2));
      else printPlan(plan);
    });

  program
    .command('run')
    .description('run or resume the backfill: process every chunk that is not done')
    .argument('<job>', 'job file (YAML)')
    .option('--from <value>', 'only chunks overlapping [from, to)')
    .option('--to <value>', 'only chunks overlapping [from, to)')
    .option('--restate', 'process the selected chunks again even if done')
    .option('--retry-failed', 'process only chunks that failed')
    .addOption(new Option('--concurrency <n>', 'chunks in flight at once').argParser(positiveInt))
    .option('--fail-fast', 'stop at the first chunk that fails for good')
    .option('--json', 'print events and the result as JSON lines on stdout')
    .option('--quiet', 'print only the result')
    .option('--until-caught-up', 'cdc jobs: stop once the initial copy is done and the stream reached the WAL position current at start')
    .addOption(metricsOption())
    .option('--queue <url>', 'distribute the chunks to `backfill worker` processes through this queue (redis:// or postgres://) and follow them')
    .addOption(new Option('--workers <n>', 'with a queue: also start this many workers on this machine').argParser(positiveInt))
    .option('--detach', 'with a queue: enqueue the chunks and exit without following')
    .action(async (file: string, flags: CommonFlags & { from?: string; to?: string; restate?: boolean; retryFailed?: boolean; concurrency?: number; failFast?: boolean; quiet?: boolean; untilCaughtUp?: boolean; queue?: string; workers?: number; detach?: boolean; metrics?: MetricsAddress }) => {
      const job = loadJobFile(file);
      if (isCdcJob(job)) {
        refuseCdcMetrics(flags.metrics);
        exitCode = await runCdcCommand(job, flags, print);
        return;
      }
      if (flags.metrics !== undefined && isFleetRun(job, flags)) throw new JobSpecError([{ path: '--metrics', message: 'a run that follows a queue runs no chunk itself: give --metrics to each `backfill worker`' }], file);
      const result = isFleetRun(job, flags) ? await runFleetCommand(job, flags, (fn) => runWithSignals(fn, progressMode(flags)), print) : await runWithSignals((signal, hardSignal, events) => withMetrics(job, flags.metrics, events, () =>
        runBackfill(job, {
          from: flags.from, to: flags.to, restate: flags.restate, retryFailed: flags.retryFailed,
          concurrency: flags.concurrency, failFast: flags.failFast, signal, hardSignal, events,
        })), progressMode(flags));
      if (result === undefined) return;
      if (flags.json === true) print(JSON.stringify({ event: 'result', ...result }));
      else printResult(result);
      exitCode = result.status === 'interrupted' ? EXIT.interrupted : result.failed > 0 ? EXIT.chunksFailed : EXIT.ok;
    });

  program
    .command('verify')
    .description('compare source and target chunk by chunk (row counts and checksums); exit 1 on any mismatch')
    .argument('<job>', 'job file (YAML)')
    .option('--from <value>', 'only chunks overlapping [from, to)')
    .option('--to <value>', 'only chunks overlapping [from, to)')
    .option('--all', 'every planned chunk, not only those the ledger records as done')
    .option('--json', 'print the report as JSON')
    .action(async (file: string, flags: CommonFlags & { from?: string; to?: string; all?: boolean }) => {
      const report = await verifyBackfill(loadJobFile(file), { from: flags.from, to: flags.to, all: flags.all });
      if (flags.json === true) print(JSON.stringify(report, null, 2));
      else printVerify(report, print);
      if (!report.ok) exitCode = EXIT.chunksFailed;
    });

  program
    .command('status')
    .description("show the job's progress from its ledger (safe while a run is going)")
    .argument('<job>', 'job file (YAML)')
    .option('--json', 'print the status as JSON')
    .option('--queue <url>', "also show the fleet on this queue (default: the job's queue:)")
    .action(async (file: string, flags: CommonFlags & { queue?: string }) => {
      const job = loadJobFile(file);
      if (isCdcJob(job)) {
        await statusCdcCommand(job, flags, print);
        return;
      }
      const status = await readStatus(job);
      const fleet = await fleetStatusOf(job, flags.queue);
      if (flags.json === true) print(JSON.stringify({ ...statusDocument(job, status), ...(fleet === undefined ? {} : { fleet }) }, null, 2));
      else if (status === undefined) print(`${job.name}: no runs yet (no ledger at ${ledgerName(job)})`);
      else printStatus(status);
      if (fleet !== undefined && flags.json !== true) printFleetStatus(fleet, print);
      if (status !== undefined && status.counts.failed > 0) exitCode = EXIT.chunksFailed;
    });

  addBackupCommands(program, print, (code) => (exitCode = code));
  addCdcCommands(program, print);
  addInitCommand(program, print);
  addSchemaCommand(program, print);
  addProfileCommand(program, print);
  addUiCommand(program, print);
  addLimitsCommands(program, print);
  addWorkerCommand(program, print);

  program
    .command('bench')
    .description('try strategies (concurrency, chunk size, write method, compression) on a sample of the real source in a scratch target, and recommend settings')
    .argument('<job>', 'job file (YAML)')
    .addOption(new Option('--chunks <n>', 'consecutive chunks from the middle of the plan to sample (default: 4, or twice the cores)').argParser(positiveInt))
    .option('--from <value>', 'sample the chunks overlapping [from, to) instead')
    .option('--to <value>', 'sample the chunks overlapping [from, to) instead')
    .addOption(new Option('--reps <n>', 'runs per strategy (the median is kept)').argParser(positiveInt).default(1))
    .option('--only <dimensions>', `comma-separated: ${BENCH_DIMENSIONS.map((d) => d.replace(' ', '-')).join(', ')}`)
    .option('--json', 'print the report as JSON')
    .action(async (file: string, flags: CommonFlags & { chunks?: number; from?: string; to?: string; reps: number; only?: string }) => {
      const job = loadJobFile(file);
      const dimensions = flags.only === undefined ? undefined : parseDimensions(flags.only);
      const controller = new AbortController();
      const onSignal = (): void => controller.abort();
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
      const unwatch = stopWhenOutputCloses(controller);
      try {
        const report = await benchJob(job, {
          chunks: flags.chunks, from: flags.from, to: flags.to, reps: flags.reps, dimensions, signal: controller.signal,
          onProgress: flags.json === true ? undefined : printError,
        });
        if (flags.json === true) print(JSON.stringify(report, null, 2));
        else printBench(report);
        if (report.rows.every((r) => r.dimension !== 'baseline' || r.status === 'failed')) exitCode = EXIT.chunksFailed;
      } finally {
        unwatch();
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
      }
    });

  program
    .command('demo')
    .description('generate a realistic event history (daily CSV files) and backfill it into a Parquet lake')
    .option('--dir <path>', 'folder for the data, the job file, the lake and the ledger', 'demo')
    .addOption(new Option('--rows <n>', 'events to generate').argParser(positiveInt).default(5_000_000))
    .addOption(new Option('--days <n>', 'days of history').argParser(positiveInt).default(730))
    .addOption(new Option('--concurrency <n>', 'chunks in flight at once').argParser(positiveInt))
    .option('--json', 'print events and the result as JSON lines')
    .action(async (flags: { dir: string; rows: number; days: number; concurrency?: number; json?: boolean }) => {
      const result = await runDemo(flags, (fn) => runWithSignals(fn, progressMode(flags)));
      exitCode = result.status === 'interrupted' ? EXIT.interrupted : result.failed > 0 ? EXIT.chunksFailed : EXIT.ok;
    });

  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (err) {
    exitCode = reportError(err);
  }
  const failure = output.failure();
  if (failure === undefined) return exitCode;
  printError(`backfill: ${failure.message}`);
  return Math.max(exitCode, EXIT.error);
}

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 1) throw new Error(`expected a positive whole number, got "${value}"`);
  return n;
}

function parseDimensions(text: string): BenchDimension[] {
  return text.split(',').map((raw) => {
    const name = raw.trim().replace('-', ' ');
    const found = BENCH_DIMENSIONS.find((d) => d === name);
    if (found === undefined) throw new UsageError(`--only: unknown dimension "${raw.trim()}"; use ${BENCH_DIMENSIONS.map((d) => d.replace(' ', '-')).join(', ')}`);
    return found;
  });
}

function progressMode(flags: { json?: boolean; quiet?: boolean }): ProgressMode {
  if (flags.json === true) return 'json';
  if (flags.quiet === true) return 'quiet';
  return process.stderr.isTTY ? 'bar' : 'lines';
}

function reportError(err: unknown): number {
  const { code, exitCode } = err as { code?: string; exitCode?: number };
  // `backfill` alone prints the help as an error (exit 1 from commander): a usage error, not success.
  if (code === 'commander.help') return exitCode === 0 ? EXIT.ok : EXIT.invalid;
  if (code === 'commander.helpDisplayed' || code === 'commander.version') return EXIT.ok;
  if (typeof code === 'string' && code.startsWith('commander.')) return EXIT.invalid;
  // Stopped on purpose (bench on Ctrl-C, or its output's reader gone): interrupted, not broken.
  if (err instanceof BackfillError && err.code === 'ABORTED') {
    if (!guardOutput().closed.aborted) printError(`backfill: ${err.message}`);
    return EXIT.interrupted;
  }
  if (err instanceof JobSpecError) {
    printError(`backfill: ${err.message}`);
    return EXIT.invalid;
  }
  printError(`backfill: ${describeError(err)}`);
  if (err instanceof BackfillError && ['JOB_FILE', 'PLAN', 'USAGE', 'JOB_SPEC', 'SCHEMA_DRIFT', 'ROLLBACK_REFUSED'].includes(err.code)) return EXIT.invalid;
  if (process.env.BACKFILL_DEBUG === '1' && err instanceof Error) printError(err.stack ?? '');
  return EXIT.error;
}

const print = printLine;

function printPlan(plan: BackfillPlan): void {
  print(`job ${plan.job}: ${plan.source}`);
  if (plan.bounds !== undefined) print(`source bounds: ${plan.bounds.min} … ${plan.bounds.max}`);
  print(`chunks: ${plan.chunking}`);
  print(`reading: ${plan.strategy === 'prune' ? 'each chunk reads only its own data' : 'one staging pass over the source, then chunk by chunk'}`);
  const routes = { engine: 'through the engine (DuckDB)', 'copy-stream': 'as a COPY stream from source to target', 'in-database': 'inside the database (INSERT … SELECT), no data leaves it' };
  print(`rows travel: ${routes[plan.route]}`);
  const inc = plan.incremental;
  if (inc?.phase === 'history') print(`incremental on ${inc.cursor}: the next run is the full backfill (below); windows then start from ${inc.watermark ?? '?'}`);
  else if (inc !== undefined) {
    print(`incremental on ${inc.cursor}: watermark ${inc.watermark ?? '?'}; the next run reads ${inc.window === undefined ? 'nothing (no new cursor values)' : `the window ${inc.window.lo} … ${inc.window.hi}`}`);
  }
  print('');
  const width = Math.max(10, ...plan.chunks.map((c) => c.lo.length));
  for (const c of plan.chunks) {
    const rows = c.rowsWritten === null ? '' : `  ${formatCount(c.rowsWritten)} rows`;
    const error = c.error === null || c.status !== 'failed' ? '' : `  ${c.error}`;
    const [lo, hi] = c.kind === 'all' ? ['(whole source)', ''] : [c.lo === '' ? '(open)' : c.lo, c.hi];
    print(`${lo.padEnd(width)}  ${hi.padEnd(width)}  ${c.status.padEnd(7)}${rows}${error}`);
  }
  print('');
  const { total, done, missing, failed, running } = plan.counts;
  print(`${total} chunks: ${done} done, ${missing} missing, ${failed} failed, ${running} running`);
  for (const w of plan.warnings) print(`warning: ${w}`);
}

function printResult(r: RunResult): void {
  const rate = r.ms > 0 ? Math.round((r.rowsWritten * 1000) / r.ms) : 0;
  print(
    `${r.status}: ${r.done} chunks done, ${r.failed} failed, ${r.skipped} skipped, ${r.interrupted} interrupted; ` +
      `${formatCount(r.rowsRead)} rows read, ${formatCount(r.rowsWritten)} written, ${formatCount(r.rowsRejected)} rejected, ${formatKnownBytes(r.bytes, r.bytesUnknown)} in ${formatDuration(r.ms)} (${formatCount(rate)} rows/s)`,
  );
  if (r.limits !== undefined && r.limits.pausedMs + r.limits.throttledMs + r.limits.rateWaitMs > 0) print(formatLimitTimes(r.limits));
  for (const c of r.chunks.filter((x) => x.outcome === 'failed')) print(`  failed ${c.key}: ${c.error ?? ''}`);
  const inc = r.incremental;
  if (inc?.phase === 'history') {
    print(inc.watermarkAfter === undefined ? `incremental on ${inc.cursor}: the full backfill is not complete yet; run again to finish it` : `incremental on ${inc.cursor}: full backfill complete; the next run reads from ${inc.watermarkAfter}`);
  } else if (inc !== undefined) {
    const window = inc.window === undefined ? 'nothing new past the watermark' : `window ${inc.window.lo} … ${inc.window.hi}`;
    print(`incremental on ${inc.cursor}: ${window}; watermark ${inc.watermarkBefore ?? '?'} → ${inc.watermarkAfter ?? '?'}`);
  }
}

function printBench(r: BenchReport): void {
  print(`job ${r.job}: ${r.sample.chunks} chunk(s) ${r.sample.lo} … ${r.sample.hi} into ${r.target}${r.reps > 1 ? `, median of ${r.reps} runs` : ''}`);
  print('');
  const header = ['strategy', 'target', 'chunks', 'rows/s', 'MB/s', 'peak memory', 'output'];
  const lines = r.rows.map((x) =>
    x.status === 'failed'
      ? [x.label, x.scenario === 'loaded' ? 'loaded' : 'empty', '', 'failed', '', '', x.error ?? '']
      : [x.label, x.scenario === 'loaded' ? 'loaded' : 'empty', String(x.chunks), formatCount(Math.round(x.rowsPerSecond)), x.mbPerSecond.toFixed(1), formatBytes(x.peakRssBytes), formatBytes(x.outputBytes)],
  );
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => (l[i] ?? '').length)));
  const row = (cells: readonly string[]): string => cells.map((c, i) => (i === 0 || i === 1 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join('  ').trimEnd();
  print(row(header));
  for (const l of lines) print(row(l));
  print('');
  print('target "empty": a first load; "loaded": a re-run over rows already in the target (where write methods differ).');
  if (r.recommended.length === 0) print('recommended: keep the job as written (no strategy was at least 10% faster).');
  else {
    print('recommended:');
    for (const rec of r.recommended) print(`  ${rec.setting}    # ${rec.reason}`);
  }
}

function printStatus(s: JobStatus): void {
  const { total, done, pending, running, failed } = s.counts;
  print(`job ${s.job} (ledger ${s.ledger})`);
  print(`chunks: ${total} known, ${done} done, ${pending} pending, ${running} running, ${failed} failed`);
  printThrottleStatus(s.throttle, print);
  print(`rows: ${formatCount(s.rows.read)} read, ${formatCount(s.rows.written)} written, ${formatCount(s.rows.rejected)} rejected; ${formatKnownBytes(s.bytes, s.bytesUnknown)}`);
  if (s.rejects.chunks.length > 0) {
    print(`rejected rows kept in ${s.rejects.dir}:`);
    for (const r of s.rejects.chunks.slice(0, 20)) print(`  ${r.key}  ${r.rejected === null ? '' : `${formatCount(r.rejected)} rejected  `}${r.file}`);
    if (s.rejects.chunks.length > 20) print(`  … and ${s.rejects.chunks.length - 20} more chunks`);
  }
  if (s.gaps.length > 0) {
    print('gaps (history no done chunk covers):');
    for (const r of s.gaps.slice(0, 20)) print(`  ${r.lo} … ${r.hi} (${r.chunks === 0 ? 'no chunk planned there' : `${r.chunks} chunk${r.chunks === 1 ? '' : 's'} not done`})`);
    if (s.gaps.length > 20) print(`  … and ${s.gaps.length - 20} more ranges`);
  }
  const inc = s.incremental;
  if (inc !== undefined) {
    if (inc.phase === 'history') print(`incremental on ${inc.cursor}: the first full backfill is not complete; windows start from ${inc.watermark} once it is`);
    else {
      const behind = inc.behindMs === undefined ? '' : ` (${formatDuration(inc.behindMs)} behind now)`;
      print(`incremental on ${inc.cursor}: watermark ${inc.watermark}${behind}`);
      if (inc.window !== undefined) print(`  last window ${inc.window.lo} … ${inc.window.hi}, updated ${new Date(inc.updatedAt).toISOString()}`);
      const w = inc.windowChunks;
      print(`  window chunks: ${w.done} done, ${w.failed} failed, ${w.pending} pending, ${w.running} running`);
    }
  }
  for (const f of s.failed) print(`failed ${f.key} after ${f.attempts} attempt(s): ${f.error ?? ''}`);
  for (const r of s.running) print(`running ${r.key} (${r.owner ?? '?'}${r.alive ? '' : ', owner gone: resumes on the next run'})`);
  if (s.runs.length > 0) {
    print('recent runs:');
    for (const r of s.runs.slice(0, 5)) {
      const status = r.status === 'running' && !r.alive ? 'running (process gone)' : r.status;
      const took = r.finishedAt === null ? '' : ` in ${formatDuration(r.finishedAt - r.startedAt)}`;
      print(`  ${r.runId}  ${new Date(r.startedAt).toISOString()}  ${status}  ${r.chunksDone}/${r.chunksTotal} chunks${took}`);
    }
  }
}
