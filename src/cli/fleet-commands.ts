// The fleet's side of the CLI: `backfill worker`, `run --queue/--workers/--detach`, and the fleet part of `status`. Parsing and printing only.

import { runWithSignals } from './run-signals.js';
import { metricsOption, withMetrics, type MetricsAddress } from './metrics-option.js';
import { readFileSync } from 'node:fs';
import { Option, type Command } from 'commander';
import { UsageError } from '../core/errors.js';
import { EventBus } from '../core/events.js';
import type { RunResult } from '../engine/run/run-options.js';
import { loadJobFile } from '../job/job-loader.js';
import type { Job } from '../job/job.js';
import { fleetSettings } from '../fleet/fleet-settings.js';
// The queue client (BullMQ and its Redis or PostgreSQL driver) loads only when a command uses the queue.
import type { FleetRunOptions } from '../fleet/fleet-run.js';
import type { FleetStatus } from '../fleet/fleet-status.js';
import { formatCount, formatDuration } from './format.js';
import { printError } from './output-guard.js';
import type { ProgressMode } from './progress.js';

export interface FleetRunFlags {
  queue?: string;
  workers?: number;
  detach?: boolean;
  concurrency?: number;
  failFast?: boolean;
  from?: string;
  to?: string;
  restate?: boolean;
  retryFailed?: boolean;
  json?: boolean;
}

type WithSignals = (fn: (signal: AbortSignal, hardSignal: AbortSignal, events: EventBus) => Promise<RunResult>) => Promise<RunResult>;

/** Whether this run goes through a queue: the job's `queue:`, `--queue`, or `--workers`/`--detach` (which need one). */
export function isFleetRun(job: Job, flags: FleetRunFlags): boolean {
  return job.queue !== undefined || flags.queue !== undefined || flags.workers !== undefined || flags.detach === true;
}

/** `run` through the queue; undefined when detached (what was enqueued is printed here). */
export async function runFleetCommand(job: Job, flags: FleetRunFlags, withSignals: WithSignals, print: (text: string) => void): Promise<RunResult | undefined> {
  const queue = fleetSettings(job, flags.queue);
  if (queue === undefined) throw new UsageError('--workers and --detach distribute chunks through a queue: set queue: in the job or give --queue');
  if (flags.concurrency !== undefined) throw new UsageError('--concurrency: with a queue, each worker sets its own (backfill worker --concurrency) and queue.inFlight limits the fleet');
  if (flags.failFast === true) throw new UsageError('--fail-fast: not with a queue (the fleet goes on with the other chunks)');
  if (job.file === undefined) throw new UsageError('a fleet run needs a job file: workers receive its text');
  if (job.incremental !== undefined) throw new UsageError('incremental jobs run on one machine for now: run them without a queue');
  const spec = readFileSync(job.file, 'utf8');
  // Local workers learn the queue as this process did: from the job, or from the same --queue.
  const args = flags.queue === undefined ? [] : ['--queue', flags.queue];
  const options: Omit<FleetRunOptions, 'signal' | 'hardSignal' | 'events'> = {
    spec, queue, from: flags.from, to: flags.to, restate: flags.restate, retryFailed: flags.retryFailed, detach: flags.detach,
    localWorkers: flags.workers === undefined ? undefined : { count: flags.workers, command: [process.execPath, process.argv[1] ?? 'backfill'], args },
  };
  const { runFleet } = await import('../fleet/fleet-run.js');
  const result = await withSignals((signal, hardSignal, events) => runFleet(job, { ...options, signal, hardSignal, events }));
  if (flags.detach !== true) return result;
  if (flags.json === true) print(JSON.stringify({ event: 'result', ...result, detached: true }));
  else print(`enqueued: ${result.chunks.length} chunks to do on queue ${queue.name}; start workers with \`backfill worker ${job.file}\`, follow with \`backfill status ${job.file}\``);
  return undefined;
}

/** `backfill worker`: take chunks until SIGTERM/SIGINT (chunks in flight finish within shutdownTimeout), or at once on a second signal. */
export function addWorkerCommand(program: Command, print: (text: string) => void): void {
  program
    .command('worker')
    .description("take chunks from the job's queue and run them until stopped (SIGTERM: finish the chunks in flight, then exit)")
    .argument('<job>', 'job file (YAML); the chunks carry the text of the file the run was started with')
    .option('--queue <url>', 'the queue: redis://host:6379 or postgres://… (default: the job\'s queue:)')
    .addOption(new Option('--concurrency <n>', 'chunks this worker runs at once (default: the job\'s concurrency)').argParser(positiveInt))
    .option('--json', 'print events and the result as JSON lines on stdout')
    .option('--quiet', 'print only the result')
    .addOption(metricsOption())
    .action(async (file: string, flags: { queue?: string; concurrency?: number; json?: boolean; quiet?: boolean; metrics?: MetricsAddress }) => {
      const job = loadJobFile(file);
      const queue = fleetSettings(job, flags.queue);
      if (queue === undefined) throw new UsageError('worker: the job names no queue; set queue: in the job or give --queue');
      const mode: ProgressMode = flags.json === true ? 'json' : flags.quiet === true ? 'quiet' : 'lines';
      const { runWorker } = await import('../fleet/fleet-worker.js');
      const result = await runWithSignals((signal, hardSignal, events) => withMetrics(job, flags.metrics, events, () => runWorker({
        job, queue, concurrency: flags.concurrency, signal, hardSignal, events,
        onReady: (worker) => (mode === 'quiet' ? undefined : printError(`worker ${worker} takes chunks from queue ${queue.name}`)),
      })), mode);
      if (flags.json === true) print(JSON.stringify({ event: 'result', ...result }));
      else print(`worker ${result.worker} stopped: ${result.chunks.done} chunks done, ${result.chunks.failed} failed, ${result.chunks.skipped} already done elsewhere, ${result.chunks.interrupted} given back; ${formatCount(result.rowsWritten)} rows written`);
    });
}

/** The fleet part of `status`, when the job has a queue (or `--queue` names one). */
export async function fleetStatusOf(job: Job, queueFlag: string | undefined): Promise<FleetStatus | undefined> {
  const queue = fleetSettings(job, queueFlag);
  if (queue === undefined) return undefined;
  const { readFleetStatus } = await import('../fleet/fleet-status.js');
  return readFleetStatus(job, queue);
}

export function printFleetStatus(f: FleetStatus, print: (text: string) => void, now = Date.now()): void {
  const q = f.queued;
  print(`queue ${f.queue}: ${q === undefined ? `not reachable (${f.queueError ?? '?'})` : `${q.waiting} waiting, ${q.delayed} delayed, ${q.active} active, ${q.completed} completed, ${q.failed} failed`}`);
  if (f.workers.length === 0) print('workers: none running');
  else print('workers:');
  for (const w of f.workers) {
    const since = now - (w.heartbeatAt ?? w.startedAt);
    // Workers stamp their record every 5 s: one silent for 30 s was killed or cut off (its chunks go to others).
    const beat = `${w.heartbeatAt === null ? 'no heartbeat yet' : `last heartbeat ${formatDuration(Math.max(0, since))} ago`}${since > 30_000 ? ' (silent: presumed gone)' : ''}`;
    print(`  ${w.host} pid ${w.pid}  ${w.inFlight} chunk${w.inFlight === 1 ? '' : 's'} in flight  ${beat}`);
  }
}

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 1) throw new Error(`expected a positive whole number, got "${value}"`);
  return n;
}
