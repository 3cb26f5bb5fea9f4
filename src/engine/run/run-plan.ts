// What a run will do: the job described and checked against the source and target, its chunks planned (or given by a window), and the chunks selected.

import { warnIndexes } from './index-advice.js';
import type { Chunk } from '../../core/chunk.js';
import type { Clock } from '../../core/clock.js';
import { PlanError } from '../../core/errors.js';
import type { EventBus } from '../../core/events.js';
import { chunkTimezone, selectChunks } from '../../core/planner.js';
import type { Job } from '../../job/job.js';
import { checkBackup } from '../safety/backup-run.js';
import { SchemaGuard } from '../safety/schema-drift.js';
import { onePassBeforePlan, type OnePass } from './one-pass.js';
import { describeJob, finishPlan, type DescribedJob, type PreparedPlan } from './prepare.js';
import { checkTargetRanges } from './rows-plan.js';
import { recoverStale } from './recovery.js';
import type { RunResources } from './run-resources.js';
import type { RunOptions, RunWindow } from './run-options.js';
import type { StopController } from './stop-controller.js';

export interface RunPlan {
  readonly plan: PreparedPlan;
  readonly drift: SchemaGuard;
  /** The pass that already wrote every chunk's output while finding the bounds, and how long it took. */
  readonly early: { readonly onePass: OnePass; readonly ms: number } | undefined;
}

/**
 * Describe the job, check it against the recorded schema and the target, and plan its chunks.
 * A source whose bounds would cost a scan is read once: that pass writes the output and its
 * chunks give the bounds. Otherwise plan first, then read. A source lent already described (a
 * profile's) is only attached to the run's connection.
 */
export async function planRun(
  job: Job, res: RunResources, window: RunWindow | undefined, stop: Pick<StopController, 'stopping' | 'hard'>, clock: Clock, events: EventBus, runId: string,
  lentDescribed?: DescribedJob,
): Promise<RunPlan> {
  const { ledger, source, target, main } = res;
  if (lentDescribed !== undefined) await source.attach(main);
  const described = lentDescribed ?? (await describeJob(job, source, main));
  // The source's columns against the recorded schema: fail or evolve the target (schemaChanges).
  const drift = await SchemaGuard.open(job, ledger, source, main, described);
  await drift.prepareTarget(target, main);
  // Before any data moves: an index the writes need and the table lacks makes every chunk scan it.
  await warnIndexes(target, main, events, runId);
  if (job.write.mode === 'replace' && target.capabilities.replaceBy === 'range' && described.outputColumnType === undefined && job.chunking.kind !== 'all') {
    throw new PlanError(`write.mode replace deletes the chunk's range in ${target.describe()}, so the transform's output must keep the chunk column "${job.chunking.column}"`);
  }
  checkBackup(job, target, described.outputColumnType !== undefined);
  const t0 = clock.now();
  // `verify: true` reads each chunk's source rows again, so it takes per-chunk staging instead of one-pass writes.
  const found =
    stop.stopping === undefined && drift.clean && !job.verify && window === undefined
      ? await onePassBeforePlan(job, source, target, main, ledger, described, stop.hard)
      : undefined;
  const early = found === undefined ? undefined : { onePass: found.onePass, ms: clock.now() - t0 };
  const plan: PreparedPlan =
    window !== undefined ? { ...described, chunks: [...window.chunks], bounds: undefined } : (found?.plan ?? (await finishPlan(job, source, main, ledger, described)));
  const rangeUse = job.write.mode === 'replace' && target.capabilities.replaceBy === 'range' ? 'replace' : job.verify ? 'verify' : undefined;
  await checkTargetRanges(job, source, plan.chunks, rangeUse);
  return { plan, drift, early };
}

/**
 * Register the plan's chunks, recover those a dead process left running, and pick this run's:
 * not done (default), failed (`retryFailed`), or the range reset to pending first (`restate`).
 */
export async function selectTodo(job: Job, res: RunResources, plan: PreparedPlan, options: RunOptions, events: EventBus, runId: string, clock: Clock): Promise<Chunk[]> {
  const { ledger, target, main } = res;
  await ledger.syncChunks(job.name, plan.chunks);
  await recoverStale(job, ledger, target, main, events, runId, clock.now());
  const selected = selectChunks(plan.chunks, options.from, options.to, timezoneOf(job));
  if (options.restate === true) await ledger.reset(job.name, selected.map((c) => c.key));
  const records = new Map((await ledger.listChunks(job.name)).map((r) => [r.key, r]));
  return selected.filter((c) => {
    const status = records.get(c.key)?.status ?? 'pending';
    return options.retryFailed === true ? status === 'failed' : status !== 'done';
  });
}

/** The zone chunk bounds are read in: the job's for time and rows chunkings, UTC otherwise. */
export function timezoneOf(job: Job): string {
  return chunkTimezone(job.chunking);
}
