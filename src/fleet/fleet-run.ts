// `backfill run --queue`: plan, enqueue one queue job per chunk to do, then follow the fleet until every chunk is done or failed for good — the ledger decides, the queue only delivers.

import { hostname } from 'node:os';
import { ulid } from 'ulid';
import type { Chunk } from '../core/chunk.js';
import { systemClock } from '../core/clock.js';
import { describeError } from '../core/errors.js';
import { EventBus } from '../core/events.js';
import type { Job, QueueSettings } from '../job/job.js';
import type { ChunkRecord } from '../ledger/ledger.js';
import { ownerAlive } from '../runtime/process-liveness.js';
import type { ChunkResult } from '../engine/run/chunk-attempt.js';
import { openChunkSession } from '../engine/run/chunk-session.js';
import { sleep } from '../engine/run/retry.js';
import type { RunOptions, RunResult } from '../engine/run/run-options.js';
import { summarize } from '../engine/run/run-summary.js';
import { StopController } from '../engine/run/stop-controller.js';
import { enqueueChunks, followQueueEvents, queueStates, requeue } from './fleet-follow.js';
import { applyFleetLimits, chunkJobId, openQueue, openQueueEvents, type ChunkMessage } from './fleet-queue.js';
import { startLocalWorkers, type LocalWorkers } from './local-workers.js';

export interface FleetRunOptions extends Omit<RunOptions, 'ledger' | 'concurrency' | 'failFast'> {
  /** The job file's text as written (before `${VAR}`): what every worker runs. */
  readonly spec: string;
  readonly queue: QueueSettings;
  /** Start `count` `backfill worker` processes here with `command` (the program and its arguments up to the verb); `args` go after the job file. */
  readonly localWorkers?: { readonly count: number; readonly command: readonly string[]; readonly args: readonly string[] } | undefined;
  /** Enqueue and return at once, without following the fleet. */
  readonly detach?: boolean | undefined;
  /** How often the ledger is compared with the queue (a chunk the queue lost is enqueued again). Default 5 s. */
  readonly reconcileMs?: number | undefined;
}

/** Plan, enqueue, follow; returns the run's result like a run on one machine. */
export async function runFleet(job: Job, options: FleetRunOptions): Promise<RunResult> {
  const clock = systemClock;
  const started = clock.now();
  const events = options.events ?? new EventBus();
  const runId = ulid();
  const owner = `${hostname()}:${process.pid}:${runId}`;
  const stop = new StopController({
    signal: options.signal, hardSignal: options.hardSignal, graceMs: job.shutdownTimeoutMs,
    onStopping: (reason) => events.emit('run:stopping', { runId, reason }),
  });
  // The coordinator runs no chunk itself: it plans, prepares the target and registers the chunks.
  const session = await openChunkSession(job, { runId, owner, events, prepareTarget: true, clock });
  const { ledger, plan } = session;
  const queue = openQueue(options.queue);
  const queueEvents = openQueueEvents(options.queue);
  let local: LocalWorkers | undefined;
  let runStarted = false;
  let runTimer: NodeJS.Timeout | undefined;
  try {
    await ledger.closeDeadRuns(job.name, ownerAlive);
    const todo = await session.select(options);
    await ledger.startRun({
      runId, job: job.name, owner, host: hostname(), pid: process.pid, chunksTotal: todo.length,
      options: JSON.stringify({ from: options.from, to: options.to, restate: options.restate, retryFailed: options.retryFailed, queue: options.queue.name }),
    });
    runStarted = true;
    runTimer = setInterval(() => void ledger.heartbeatRun(runId).catch(() => {}), 5000).unref();
    events.emit('run:start', { runId, job: job.name, total: plan.chunks.length, todo: todo.length, concurrency: options.queue.inFlight ?? 0 });
    await applyFleetLimits(queue, options.queue);

    const records = new Map((await ledger.listChunks(job.name)).map((r) => [r.key, r]));
    const byId = new Map<string, Chunk>();
    const message = (chunk: Chunk, generation = records.get(chunk.key)?.generation ?? 0): ChunkMessage => {
      byId.set(chunkJobId(job.name, chunk.key, generation), chunk);
      return { job: job.name, spec: options.spec, runId, chunk, generation, enqueuedAt: Date.now() };
    };
    const finals = new Map<string, ChunkResult>();
    let wake: () => void = () => {};
    const follower = followQueueEvents(queueEvents, (id) => byId.get(id), events, runId, finals, () => wake());
    await queueEvents.waitUntilReady();
    if (options.localWorkers !== undefined && options.detach !== true) {
      const { count, command, args } = options.localWorkers;
      local = startLocalWorkers(count, command, job.file ?? '', args);
    }
    const statusNow = async (): Promise<ReadonlyMap<string, string>> => new Map((await ledger.listChunks(job.name)).map((r) => [r.key, r.status]));
    await enqueueChunks(queue, todo.map((c) => message(c)), () => stop.stopping !== undefined, statusNow);
    if (options.detach !== true) await follow();
    follower.close();

    async function follow(): Promise<void> {
      const reconcileMs = options.reconcileMs ?? 5_000;
      let lastReconcile = clock.now();
      let drained = false;
      for (;;) {
        if (stop.hard.aborted) return;
        const current = new Map((await ledger.listChunks(job.name).catch(() => [] as ChunkRecord[])).map((r) => [r.key, r]));
        for (const c of todo) {
          const r = current.get(c.key);
          if (r?.status === 'done' && !finals.has(c.key)) {
            const stats = { rowsRead: r.rowsRead ?? 0, rowsWritten: r.rowsWritten ?? 0, rowsRejected: r.rowsRejected ?? 0, bytes: r.bytes };
            finals.set(c.key, { outcome: 'done', stats });
            events.emit('chunk:done', { runId, chunk: { key: c.key, lo: c.lo, hi: c.hi }, attempt: r.attempts, stats, ms: r.durationMs ?? 0 });
          }
        }
        const open = todo.filter((c) => !finals.has(c.key));
        if (open.length === 0) return;
        if (stop.stopping !== undefined) {
          // Stopping: nothing more is handed out; the chunks in flight finish (their workers decide when).
          if (!drained) await queue.drain(true).catch(() => {});
          drained = true;
          // In flight: claimed in the ledger, or taken from the queue by a worker that has not claimed it yet.
          const active = await queue.getActiveCount().catch(() => 0);
          if (active === 0 && open.every((c) => current.get(c.key)?.status !== 'running')) return;
        } else if (clock.now() - lastReconcile >= reconcileMs) {
          lastReconcile = clock.now();
          await reconcile(open, current).catch((err: unknown) => events.emit('warning', { runId, message: `queue: ${describeError(err)}` }));
        }
        await new Promise<void>((resolve) => {
          wake = resolve;
          void sleep(1_000, stop.hard).then(resolve);
        });
      }
    }

    /** The ledger against the queue: a chunk still to do whose queue job is gone or finished is enqueued again; a failed one whose job finished is failed for good. */
    async function reconcile(open: readonly Chunk[], current: ReadonlyMap<string, ChunkRecord>): Promise<void> {
      const now = clock.now();
      const candidates = open.filter((c) => {
        const r = current.get(c.key);
        return r === undefined || r.status === 'pending' || r.status === 'failed' || (r.status === 'running' && (r.leaseExpiresAt ?? 0) < now);
      });
      const states = await queueStates(queue, candidates.map((c) => ({ chunk: c, generation: current.get(c.key)?.generation ?? 0 })), job.name);
      const again: ChunkMessage[] = [];
      for (const c of candidates) {
        const state = states.get(c.key);
        const r = current.get(c.key);
        if (state === 'queued') continue;
        if (r?.status === 'failed') {
          finals.set(c.key, { outcome: 'failed', error: r.error ?? 'failed' });
          events.emit('chunk:failed', { runId, chunk: { key: c.key, lo: c.lo, hi: c.hi }, attempt: r.attempts, error: r.error ?? 'failed' });
        } else again.push(message(c, r?.generation ?? 0));
      }
      if (again.length > 0) await requeue(queue, again, statusNow);
    }

    const outcomes = new Map([...finals].filter(([, r]) => r.outcome === 'done' || r.outcome === 'failed'));
    // Detached: this process leaves before the chunks are done; the fleet goes on, and its record says so.
    const stopping = options.detach === true ? 'detached: the fleet goes on without this process' : stop.stopping;
    const result = summarize(runId, plan.chunks.length, todo, outcomes, stopping, clock.now() - started);
    await ledger.finishRun(runId, {
      status: result.status, chunksDone: result.done, chunksFailed: result.failed, rowsRead: result.rowsRead,
      rowsWritten: result.rowsWritten, bytes: result.bytes, bytesUnknown: result.bytesUnknown, ...(stopping === undefined ? {} : { error: stopping }),
    });
    events.emit('run:done', { runId, result });
    return result;
  } catch (err) {
    if (runStarted) await ledger.finishRun(runId, { status: 'failed', chunksDone: 0, chunksFailed: 0, rowsRead: 0, rowsWritten: 0, bytes: 0, error: describeError(err) }).catch(() => {});
    throw err;
  } finally {
    stop.dispose();
    if (runTimer !== undefined) clearInterval(runTimer);
    await local?.stop(job.shutdownTimeoutMs + 10_000);
    await queueEvents.close().catch(() => {});
    await queue.close().catch(() => {});
    await session.close();
  }
}
