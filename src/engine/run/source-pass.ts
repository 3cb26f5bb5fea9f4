// The single read of a source that cannot prune: either the one pass that writes every chunk, or a split of its rows into per-chunk staging files.

import { join } from 'node:path';
import type { Chunk } from '../../core/chunk.js';
import type { Clock } from '../../core/clock.js';
import type { EventBus } from '../../core/events.js';
import type { Job } from '../../job/job.js';
import { NULL_CHUNK_INDEX, type RunRejects } from '../safety/reject-rows.js';
import type { SchemaGuard } from '../safety/schema-drift.js';
import { tryOnePass, type OnePass } from './one-pass.js';
import type { PreparedPlan } from './prepare.js';
import { chunkColumn, chunkColumns } from '../../core/planner.js';
import type { RunResources } from './run-resources.js';
import { stageChunks, type StagedChunk } from './stage.js';
import { sweepDeadScratch } from '../../runtime/scratch-dirs.js';

export interface SourcePass {
  readonly onePass: OnePass | undefined;
  readonly staged: Map<string, StagedChunk> | undefined;
}

export interface PassContext {
  readonly events: EventBus;
  readonly runId: string;
  readonly clock: Clock;
  /** Aborts the pass (the run's hard stop). */
  readonly signal: AbortSignal;
}

/**
 * Report the pass that already ran while planning, or — for a source that cannot prune, with
 * chunks to do and no stop asked for — read it once now. When the target can take every chunk's
 * output in that same pass, that pass is the whole write; otherwise it splits the rows per chunk.
 */
export async function passOverSource(
  job: Job, res: RunResources, todo: readonly Chunk[], plan: PreparedPlan, drift: SchemaGuard,
  early: { readonly onePass: OnePass; readonly ms: number } | undefined, stopping: boolean, timezone: string, ctx: PassContext,
): Promise<SourcePass> {
  const { events, runId } = ctx;
  const { source, target, main } = res;
  if (early !== undefined) {
    events.emit('stage:start', { runId, chunks: todo.length });
    events.emit('stage:done', { runId, chunks: todo.length, rows: early.onePass.rows, ms: early.ms, pass: 'one-pass' });
    return { onePass: early.onePass, staged: undefined };
  }
  if (todo.length === 0 || source.capabilities.prunes || stopping || todo[0]?.kind === 'all') return { onePass: undefined, staged: undefined };
  const t0 = ctx.clock.now();
  events.emit('stage:start', { runId, chunks: todo.length });
  const onePass = drift.clean && !job.verify ? await tryOnePass(job, source, target, main, todo, plan, timezone, ctx.signal) : undefined;
  let staged: Map<string, StagedChunk> | undefined;
  if (onePass === undefined) {
    sweepDeadScratch(join(job.stateDir, 'stage'));
    staged = await stageChunks(main, source, todo, { column: chunkColumn(job.chunking), columns: chunkColumns(job.chunking) }, plan.columnTypes, timezone, res.stageDir, ctx.signal, source.rejectReader?.relation());
  }
  const rows = onePass?.rows ?? [...(staged?.values() ?? [])].reduce((n, s) => n + s.rows, 0);
  events.emit('stage:done', { runId, chunks: todo.length, rows, ms: ctx.clock.now() - t0, pass: onePass === undefined ? 'split' : 'one-pass' });
  return { onePass, staged };
}

/** Bad lines and NULL chunk values met by the pass belong to no chunk: the plan's first one keeps them. */
export async function chargePassRejects(job: Job, res: RunResources, pass: SourcePass, plan: PreparedPlan, todo: readonly Chunk[], rejects: RunRejects): Promise<void> {
  const { source, target, main } = res;
  const nulls = pass.staged?.get(String(NULL_CHUNK_INDEX))?.relation ?? target.onePass?.shareRelation(pass.onePass?.output.chunks.get(String(NULL_CHUNK_INDEX)));
  const first = plan.chunks[0];
  await rejects.collectPass(main, source.rejectReader, nulls, chunkColumn(job.chunking), todo.find((c) => c.key === first?.key));
}
