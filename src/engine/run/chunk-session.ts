// A long-lived chunk session: the job's resources opened and its plan prepared once, then any chunk, handed in from outside (a queue), run through the same fenced attempt as a run's pool.

import pLimit from 'p-limit';
import type { Chunk } from '../../core/chunk.js';
import { systemClock, type Clock } from '../../core/clock.js';
import { LedgerError, PlanError } from '../../core/errors.js';
import type { EventBus } from '../../core/events.js';
import type { Job } from '../../job/job.js';
import type { Ledger } from '../../ledger/ledger.js';
import { RunRejects } from '../safety/reject-rows.js';
import { checkBackup } from '../safety/backup-run.js';
import { SchemaGuard } from '../safety/schema-drift.js';
import { runChunk, type ChunkContext, type ChunkResult } from './chunk-attempt.js';
import { warnIndexes } from './index-advice.js';
import { describeJob, finishPlan, type PreparedPlan } from './prepare.js';
import { sleep } from './retry.js';
import { isRowLocal } from './row-local.js';
import { selectTodo, timezoneOf } from './run-plan.js';
import { openRunResources, type RunResources } from './run-resources.js';
import type { RunOptions } from './run-options.js';
import { StopController } from './stop-controller.js';
import { RunThrottle } from '../limits/run-throttle.js';
import { describeError } from '../../core/errors.js';
import { chooseRoute } from './write-routes.js';

export interface ChunkSessionOptions {
  /** The session's own id (its stage folder, its record in the ledger when the caller starts one). */
  readonly runId: string;
  /** The lease owner, `host:pid:<id>`. */
  readonly owner: string;
  readonly events: EventBus;
  /** Aborting stops taking chunks; chunks in flight get `job.shutdownTimeoutMs`, then are interrupted. */
  readonly signal?: AbortSignal | undefined;
  /** Aborting interrupts the chunks in flight at once. */
  readonly hardSignal?: AbortSignal | undefined;
  /** The lease each claim takes (default the run's). */
  readonly leaseMs?: number | undefined;
  readonly clock?: Clock | undefined;
  /** Chunks this session runs at once (the worker's concurrency); adaptive concurrency moves it below that. */
  readonly concurrency?: number | undefined;
  /** Prepare the target (create or evolve it) and warn about missing indexes: the one process that plans does it, before any chunk is handed out. */
  readonly prepareTarget?: boolean | undefined;
}

export interface ChunkSession {
  readonly job: Job;
  readonly ledger: Ledger;
  readonly plan: PreparedPlan;
  /** Why the session is stopping; undefined while it is not. */
  readonly stopping: string | undefined;
  /** Register the plan's chunks, recover those a dead process left running, and pick the ones to do. */
  select(options: Pick<RunOptions, 'from' | 'to' | 'restate' | 'retryFailed'>): Promise<Chunk[]>;
  /**
   * Run a chunk handed in for run `runId` (its records and backups are that run's). A chunk the
   * ledger already holds as done is left alone (`skipped`); one leased by another live owner is
   * waited for until it is done or its lease expires, then taken over.
   */
  run(chunk: Chunk, runId: string): Promise<ChunkResult>;
  close(): Promise<void>;
}

/** Open the job's resources and plan once; each chunk handed in later is claimed, written and marked as in a run. */
export async function openChunkSession(job: Job, options: ChunkSessionOptions): Promise<ChunkSession> {
  const clock = options.clock ?? systemClock;
  const { events, runId } = options;
  const res = await openRunResources(job, runId, undefined, clock);
  const stop = new StopController({
    signal: options.signal, hardSignal: options.hardSignal, graceMs: job.shutdownTimeoutMs,
    onStopping: (reason) => events.emit('run:stopping', { runId, reason }),
  });
  try {
    return await prepareSession(job, res, stop, clock, options);
  } catch (err) {
    stop.dispose();
    await res.close();
    throw err;
  }
}

async function prepareSession(job: Job, res: RunResources, stop: StopController, clock: Clock, options: ChunkSessionOptions): Promise<ChunkSession> {
  const { ledger, source, target, main } = res;
  const { events, runId } = options;
  // Chunks go to workers that each read only their chunk: a source that cannot prune would be read whole once per chunk.
  if (!source.capabilities.prunes) {
    throw new PlanError(`${source.describe()} cannot be read one chunk at a time (every chunk would read all of it); a fleet needs a source that prunes (files with pruneBy, Parquet, a database)`);
  }
  const described = await describeJob(job, source, main);
  const drift = await SchemaGuard.open(job, ledger, source, main, described);
  if (options.prepareTarget === true) {
    await drift.prepareTarget(target, main);
    await warnIndexes(target, main, events, runId);
  } else {
    await target.prepare(main, drift.columns);
  }
  if (job.write.mode === 'replace' && target.capabilities.replaceBy === 'range' && described.outputColumnType === undefined) {
    throw new PlanError(`write.mode replace deletes the chunk's range in ${target.describe()}, so the transform's output must keep the chunk column "${job.chunking.column}"`);
  }
  checkBackup(job, target, described.outputColumnType !== undefined);
  const plan = await finishPlan(job, source, main, ledger, described);
  const base: Omit<ChunkContext, 'runId' | 'rejects'> = {
    job, ledger, session: res.session, source, target, plan, events, owner: options.owner, clock, timezone: timezoneOf(job), drift,
    staged: undefined, onePass: undefined, hard: stop.hard, chunkDone: undefined, leaseMs: options.leaseMs,
    writeSlots: pLimit(target.capabilities.maxConcurrentWrites ?? Number.MAX_SAFE_INTEGER),
    route: drift.clean ? chooseRoute(job, source, target) : 'engine',
    direct: job.write.mode !== 'merge' && (await isRowLocal(job, source, main)),
  };
  const rejectsOf = new Map<string, RunRejects>();
  const leaseMs = options.leaseMs ?? 60_000;
  // The job's limits and its pause hold every process of the job, a fleet's workers included (docs/limits.md).
  const pool = pLimit(options.concurrency ?? job.concurrency);
  const throttle = new RunThrottle({ job, ledger, source, events, runId, clock, stop, pool });
  await throttle.start();

  return {
    job, ledger, plan,
    get stopping() {
      return stop.stopping;
    },
    select: (selection) => selectTodo(job, res, plan, selection, events, runId, clock),
    run: (chunk, chunkRunId) => pool(async (): Promise<ChunkResult> => {
      // Held while a limit holds or the job is paused, spaced by the rate limit; undefined when stopping.
      const admission = await throttle.admit();
      if (admission === undefined) return { outcome: 'interrupted' };
      const t0 = clock.now();
      const result = await attempt(chunk, chunkRunId);
      await throttle.settle(admission, result.stats?.rowsRead ?? 0, clock.now() - t0).catch((err: unknown) => events.emit('warning', { runId, message: `the rate limit was not charged for chunk ${chunk.key}: ${describeError(err)}` }));
      return result;
    }),
    async close() {
      await throttle.finish(0);
      stop.dispose();
      await res.close();
    },
  };

  async function attempt(chunk: Chunk, chunkRunId: string): Promise<ChunkResult> {
    let rejects = rejectsOf.get(chunkRunId);
    if (rejects === undefined) rejectsOf.set(chunkRunId, (rejects = new RunRejects(job.rejects, chunkRunId)));
    const ctx: ChunkContext = { ...base, runId: chunkRunId, rejects };
    for (;;) {
      if (stop.hard.aborted || stop.stopping !== undefined) return { outcome: 'interrupted' };
      const result = await runChunk(ctx, chunk).catch((err: unknown) => {
        // Taken over while this attempt was cut off: even marking it failed was refused by fencing. Nothing of it counts.
        if (!(err instanceof LedgerError && err.code === 'LEASE_LOST')) throw err;
        events.emit('warning', { runId: chunkRunId, message: err.message });
        return { outcome: 'skipped', error: err.message } satisfies ChunkResult;
      });
      // Anything but a refused claim is the answer; a lost lease means another owner has the chunk now.
      if (result.outcome !== 'skipped' || result.error !== undefined) return result;
      const record = await ledger.getChunk(job.name, chunk.key);
      if (record === undefined || record.status === 'done') return result;
      // Leased by another owner: wait for its end or its lease's expiry (never longer than a lease, and look again often).
      const expires = record.status === 'running' ? (record.leaseExpiresAt ?? clock.now()) : clock.now();
      await sleep(Math.min(Math.max(expires - clock.now() + 10, 10), leaseMs, 2_000), stop.hard);
    }
  }
}
