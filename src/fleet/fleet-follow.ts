// The coordinator's side of the queue: enqueue chunks under derived ids (twice adds nothing), enqueue again what the queue lost, and turn the queue's events into the run's events.

import type { JobsOptions } from 'bullmq';
import type { Chunk } from '../core/chunk.js';
import type { EventBus } from '../core/events.js';
import type { ChunkResult } from '../engine/run/chunk-attempt.js';
import { chunkJobId, type ChunkMessage, type ChunkQueue, type ChunkQueueEvents, type ChunkReply } from './fleet-queue.js';

const WEEK_S = 7 * 24 * 3600;

/**
 * A handler that throws (its worker stopping, the ledger unreachable) is tried again by the queue;
 * a chunk that fails for good is an answer, not a throw. Finished jobs are kept a week so that
 * enqueueing the same chunk again within a run adds nothing.
 */
const JOB_OPTIONS: JobsOptions = {
  attempts: 1_000, backoff: { type: 'fixed', delay: 1_000 },
  removeOnComplete: { age: WEEK_S }, removeOnFail: { age: WEEK_S },
};

const BATCH = 500;

export type QueueState = 'queued' | 'finished' | 'missing';

/** Where each chunk's queue job stands: waiting, delayed or active (`queued`), completed or failed (`finished`), or gone. */
export async function queueStates(queue: ChunkQueue, chunks: readonly { chunk: Chunk; generation: number }[], job: string): Promise<Map<string, QueueState>> {
  const states = new Map<string, QueueState>();
  for (let i = 0; i < chunks.length; i += BATCH) {
    const batch = chunks.slice(i, i + BATCH);
    const found = await Promise.all(batch.map(({ chunk, generation }) => stateOf(queue, chunkJobId(job, chunk.key, generation))));
    batch.forEach(({ chunk }, j) => states.set(chunk.key, found[j] ?? 'missing'));
  }
  return states;
}

async function stateOf(queue: ChunkQueue, id: string): Promise<QueueState> {
  const qjob = await queue.getJob(id);
  if (qjob === undefined) return 'missing';
  const state = await qjob.getState();
  return state === 'completed' || state === 'failed' ? 'finished' : state === 'unknown' ? 'missing' : 'queued';
}

/**
 * Add one queue job per chunk under its derived id. A chunk already queued under that id is left
 * as it is; one whose job finished is added again only if the ledger, read now, still has it to do
 * (a failed chunk retried, a chunk a stopping worker gave back) — not one a worker has just done.
 * Returns how many were added.
 */
export async function enqueueChunks(
  queue: ChunkQueue, messages: readonly ChunkMessage[], stopping: () => boolean, statusNow: () => Promise<ReadonlyMap<string, string>>,
): Promise<number> {
  let added = 0;
  for (let i = 0; i < messages.length && !stopping(); i += BATCH) {
    const batch = messages.slice(i, i + BATCH);
    const ids = batch.map((m) => chunkJobId(m.job, m.chunk.key, m.generation));
    const states = await Promise.all(ids.map((id) => stateOf(queue, id)));
    const status = states.includes('finished') ? await statusNow() : new Map<string, string>();
    const again = (j: number): boolean => states[j] === 'finished' && ['pending', 'failed'].includes(status.get(batch[j]?.chunk.key ?? '') ?? '');
    await Promise.all(ids.filter((_, j) => again(j)).map((id) => queue.remove(id)));
    const fresh = batch.filter((_, j) => states[j] === 'missing' || again(j));
    if (fresh.length > 0) {
      await queue.addBulk(fresh.map((m) => ({ name: 'chunk', data: { ...m, enqueuedAt: Date.now() }, opts: { ...JOB_OPTIONS, jobId: chunkJobId(m.job, m.chunk.key, m.generation) } })));
    }
    added += fresh.length;
  }
  return added;
}

/** Enqueue chunks the queue lost (a restarted Redis without persistence) or finished without doing. */
export async function requeue(queue: ChunkQueue, messages: readonly ChunkMessage[], statusNow: () => Promise<ReadonlyMap<string, string>>): Promise<number> {
  return enqueueChunks(queue, messages, () => false, statusNow);
}

/**
 * The queue's events as the run's: a worker starting a chunk, its answer (done or failed for good).
 * Each chunk is reported done or failed once, whatever the deliveries; `finals` collects them.
 * `chunkOf` names the chunk behind a queue job's id (the events carry only the id).
 */
export function followQueueEvents(
  queueEvents: ChunkQueueEvents, chunkOf: (jobId: string) => Chunk | undefined, events: EventBus, runId: string, finals: Map<string, ChunkResult>, wake: () => void,
): { close(): void } {
  const onActive = ({ jobId }: { jobId: string }): void => {
    const chunk = chunkOf(jobId);
    if (chunk !== undefined && !finals.has(chunk.key)) events.emit('chunk:start', { runId, chunk: { key: chunk.key, lo: chunk.lo, hi: chunk.hi }, attempt: 0, token: 0 });
  };
  const onCompleted = ({ jobId, returnvalue }: { jobId: string; returnvalue: unknown }): void => {
    const reply = (typeof returnvalue === 'string' ? JSON.parse(returnvalue) : returnvalue) as ChunkReply | null;
    const chunk = chunkOf(jobId);
    if (reply !== null && chunk !== undefined && !finals.has(chunk.key)) {
      const ref = { key: chunk.key, lo: chunk.lo, hi: chunk.hi };
      if (reply.outcome === 'done' && reply.stats !== undefined) {
        finals.set(chunk.key, { outcome: 'done', stats: reply.stats });
        events.emit('chunk:done', { runId, chunk: ref, attempt: 1, stats: reply.stats, ms: reply.ms });
      } else if (reply.outcome === 'failed') {
        finals.set(chunk.key, { outcome: 'failed', error: reply.error ?? 'failed' });
        events.emit('chunk:failed', { runId, chunk: ref, attempt: 1, error: reply.error ?? 'failed' });
      }
    }
    wake();
  };
  const onFailed = (): void => wake();
  // A lost connection is retried by BullMQ; the ledger, read every second, keeps the run going meanwhile.
  const onError = (): void => {};
  queueEvents.on('active', onActive);
  queueEvents.on('completed', onCompleted);
  queueEvents.on('failed', onFailed);
  queueEvents.on('error', onError);
  return {
    close() {
      queueEvents.off('active', onActive);
      queueEvents.off('completed', onCompleted);
      queueEvents.off('failed', onFailed);
      queueEvents.off('error', onError);
    },
  };
}
