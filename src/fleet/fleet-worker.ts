// `backfill worker`: a long-lived process on any host that takes chunks from the fleet's queue and runs each through the engine's fenced chunk attempt, until told to stop.

import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { ulid } from 'ulid';
import type { Job as QueueJob } from 'bullmq';
import { describeError, PlanError } from '../core/errors.js';
import { EventBus } from '../core/events.js';
import { parseJobText } from '../job/job-loader.js';
import type { Job, QueueSettings } from '../job/job.js';
import { openLedger } from '../ledger/open-ledger.js';
import { openChunkSession, type ChunkSession } from '../engine/run/chunk-session.js';
import type { ChunkOutcome } from '../engine/run/run-options.js';
import { openWorker, type ChunkMessage, type ChunkReply } from './fleet-queue.js';
import { queueName } from './fleet-settings.js';

export interface WorkerOptions {
  /** The worker's own job file: its folder resolves relative paths of the job text each chunk carries. */
  readonly job: Job;
  readonly queue: QueueSettings;
  /** Chunks this worker runs at once (default the job's concurrency). */
  readonly concurrency?: number | undefined;
  /** Aborting stops taking chunks; chunks in flight get `shutdownTimeout` to finish, then are released. */
  readonly signal?: AbortSignal | undefined;
  /** Aborting interrupts the chunks in flight at once; their leases are released. */
  readonly hardSignal?: AbortSignal | undefined;
  readonly events?: EventBus | undefined;
  /** Variables for the job text's `${NAME}` (default this process's environment). */
  readonly env?: Readonly<Record<string, string | undefined>> | undefined;
  /** Called once the worker listens on the queue. */
  readonly onReady?: ((worker: string) => void) | undefined;
}

export interface WorkerResult {
  readonly worker: string;
  readonly chunks: Readonly<Record<ChunkOutcome, number>>;
  readonly rowsRead: number;
  readonly rowsWritten: number;
}

/** How often the worker's record in the ledger is stamped (`status` shows the last stamp). */
const HEARTBEAT_MS = 5_000;

/** Take chunks until the signal; returns what this worker did. */
export async function runWorker(options: WorkerOptions): Promise<WorkerResult> {
  const { job, queue } = options;
  const events = options.events ?? new EventBus();
  const workerId = ulid();
  const owner = `${hostname()}:${process.pid}:${workerId}`;
  const concurrency = options.concurrency ?? job.concurrency;
  const counts: Record<ChunkOutcome, number> = { done: 0, failed: 0, skipped: 0, interrupted: 0 };
  let rowsRead = 0;
  let rowsWritten = 0;
  const sessions = new Map<string, Promise<ChunkSession>>();

  // One session per job text: resources opened and the plan prepared once, then reused for every chunk.
  const sessionFor = (spec: string): Promise<ChunkSession> => {
    const key = createHash('sha256').update(spec).digest('hex');
    let session = sessions.get(key);
    if (session === undefined) {
      const specJob = parseJobText(spec, { file: job.file, baseDir: job.baseDir, env: options.env ?? process.env });
      if (specJob.name !== job.name) throw new PlanError(`the queue ${queueName(queue)} carries job ${specJob.name}, this worker runs ${job.name}`);
      session = openChunkSession(specJob, {
        runId: workerId, owner, events, signal: options.signal, hardSignal: options.hardSignal, leaseMs: queue.leaseMs, concurrency,
      });
      // A session that failed to open is tried again with the next chunk (a database back up, a file mounted).
      session.catch(() => sessions.delete(key));
      sessions.set(key, session);
    }
    return session;
  };

  const processor = async (qjob: QueueJob<ChunkMessage, ChunkReply>): Promise<ChunkReply> => {
    const message = qjob.data;
    const t0 = Date.now();
    const waitedMs = Math.max(0, (qjob.processedOn ?? t0) - message.enqueuedAt);
    let result: Awaited<ReturnType<ChunkSession['run']>>;
    try {
      const session = await sessionFor(message.spec);
      result = await session.run(message.chunk, message.runId);
    } catch (err) {
      // The queue delivers it again (here or elsewhere); say why, since BullMQ may not be able to record it.
      events.emit('warning', { runId: message.runId, message: `chunk ${message.chunk.key}: ${describeError(err)}` });
      throw err;
    }
    counts[result.outcome] += 1;
    rowsRead += result.stats?.rowsRead ?? 0;
    rowsWritten += result.stats?.rowsWritten ?? 0;
    // Not finished here (this worker is stopping): the queue delivers it again, to this or another worker.
    if (result.outcome === 'interrupted') throw new Error(`chunk ${message.chunk.key} interrupted: ${result.error ?? 'the worker is stopping'}`);
    return { outcome: result.outcome, error: result.error, stats: result.stats, worker: owner, ms: Date.now() - t0, waitedMs };
  };

  const ledger = await openLedger(job);
  const worker = openWorker(queue, processor, { concurrency, name: owner });
  worker.on('error', (err) => events.emit('warning', { runId: workerId, message: `queue: ${describeError(err)}` }));
  worker.on('failed', (qjob, err) => {
    if (qjob !== undefined) events.emit('warning', { runId: workerId, message: `chunk ${qjob.data.chunk.key} goes back to the queue: ${describeError(err)}` });
  });
  const heartbeat = setInterval(() => void ledger.heartbeatRun(workerId).catch(() => {}), HEARTBEAT_MS).unref();
  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> => (stopped ??= worker.close());
  const onStop = (): void => void stop();
  options.signal?.addEventListener('abort', onStop, { once: true });
  options.hardSignal?.addEventListener('abort', onStop, { once: true });
  try {
    // The worker is a run in the ledger: `status` lists it with its host, pid, heartbeat and chunks in flight.
    await ledger.startRun({
      runId: workerId, job: job.name, owner, host: hostname(), pid: process.pid, chunksTotal: 0,
      options: JSON.stringify({ worker: true, queue: queue.name, concurrency }),
    });
    // The job file here is most often the one the run was started with: open its session before the first chunk
    // arrives — once a run has prepared the target (recorded the schema), so that a worker never creates it.
    if (job.file !== undefined && (await ledger.sourceSchema(job.name)) !== undefined) await sessionFor(readFileSync(job.file, 'utf8')).catch(() => {});
    const running = worker.run();
    await worker.waitUntilReady();
    options.onReady?.(owner);
    if (options.signal?.aborted === true || options.hardSignal?.aborted === true) void stop();
    await running;
    await stopped;
    return { worker: owner, chunks: { ...counts }, rowsRead, rowsWritten };
  } finally {
    clearInterval(heartbeat);
    options.signal?.removeEventListener('abort', onStop);
    options.hardSignal?.removeEventListener('abort', onStop);
    await stop().catch(() => {});
    await ledger
      .finishRun(workerId, {
        // Told to stop is how a worker ends: it is interrupted only if it gave chunks back unfinished.
        status: counts.interrupted > 0 || options.hardSignal?.aborted === true ? 'interrupted' : 'done',
        chunksDone: counts.done, chunksFailed: counts.failed, rowsRead, rowsWritten, bytes: 0,
      })
      .catch(() => {});
    for (const session of sessions.values()) await (await session.catch(() => undefined))?.close();
    await ledger.close();
  }
}
