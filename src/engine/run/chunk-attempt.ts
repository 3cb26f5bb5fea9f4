// One chunk's life in a run: claim it, attempt the write under a heartbeat and a timeout, then mark it done, failed or retried with backoff.

import type { Chunk, ChunkStats } from '../../core/chunk.js';
import { BackfillError, describeError, LedgerError } from '../../core/errors.js';
import type { ChunkRef, EventBus } from '../../core/events.js';
import type { Lease } from '../../ledger/ledger.js';
import type { DuckSession } from '../../runtime/duckdb-session.js';
import { verifyWrittenChunk } from '../safety/verify-backfill.js';
import { faultPoint } from './fault-points.js';
import { committedEarlier, leaseId } from './recovery.js';
import { backoffDelay, isRetryable, sleep } from './retry.js';
import type { ChunkOutcome } from './run-options.js';
import { ChunkWriter, type ChunkWritten, type RouteContext } from './write-routes.js';

/** How long a claim holds a chunk without a heartbeat; the heartbeat renews it three times as often. */
export const LEASE_MS = 60_000;

export interface ChunkContext extends RouteContext {
  readonly session: DuckSession;
  readonly events: EventBus;
  /** The lease owner, `host:pid:run`. */
  readonly owner: string;
  /** Aborted when the chunks in flight must stop (the run's hard stop). */
  readonly hard: AbortSignal;
  /** Called once a chunk is done in the ledger (incremental windows move the watermark). */
  readonly chunkDone: ((key: string) => Promise<void>) | undefined;
  /** The lease a claim takes; default LEASE_MS (a fleet sets its own, `queue.lease`). */
  readonly leaseMs?: number | undefined;
}

export interface ChunkResult {
  readonly outcome: ChunkOutcome;
  readonly error?: string;
  readonly stats?: ChunkStats;
}

/** Claim the chunk and attempt it until it is done, fails for good, is taken by another worker, or the run stops. */
export async function runChunk(ctx: ChunkContext, chunk: Chunk): Promise<ChunkResult> {
  const { job, ledger, events, runId, clock } = ctx;
  const ref: ChunkRef = { key: chunk.key, lo: chunk.lo, hi: chunk.hi };
  // Claims of this chunk's failed attempts: one may have committed after all (the reply to COMMIT lost).
  const failedClaims: string[] = [];
  for (;;) {
    if (ctx.hard.aborted) return { outcome: 'interrupted' };
    const lease = await ledger.claim(job.name, chunk, ctx.owner, runId, ctx.leaseMs ?? LEASE_MS);
    if (lease === undefined) return { outcome: 'skipped' };
    events.emit('chunk:start', { runId, chunk: ref, attempt: lease.attempt, token: lease.token });
    const t0 = clock.now();
    try {
      const { stats, marked } = (await committedEarlier(ctx, chunk, failedClaims)) ?? (await attemptChunk(ctx, lease, t0));
      faultPoint('after-commit');
      // `verify: true`: the chunk is done only when the target's rows match the source's.
      if (job.verify) await verifyWrittenChunk(ctx, chunk);
      if (!marked) await ledger.complete(lease, stats, clock.now() - t0);
      events.emit('chunk:done', { runId, chunk: ref, attempt: lease.attempt, stats, ms: clock.now() - t0 });
      // The chunk is done whatever happens here: a watermark left behind only means a longer next window.
      await ctx.chunkDone?.(chunk.key).catch((err: unknown) => events.emit('warning', { runId, message: `the watermark did not move after chunk ${chunk.key}: ${describeError(err)}` }));
      return { outcome: 'done', stats };
    } catch (err) {
      const message = describeError(err);
      if (ctx.hard.aborted) {
        await ledger.release(lease, `interrupted: ${message}`);
        events.emit('chunk:released', { runId, chunk: ref, reason: message });
        return { outcome: 'interrupted', error: message };
      }
      if (err instanceof LedgerError && err.code === 'LEASE_LOST') {
        events.emit('warning', { runId, message });
        return { outcome: 'skipped', error: message };
      }
      await ledger.fail(lease, message, clock.now() - t0);
      failedClaims.push(leaseId(lease.owner, lease.token));
      if (isRetryable(err) && lease.attempt < job.retries.attempts) {
        const delayMs = backoffDelay(lease.attempt, job.retries.backoffMs, job.retries.maxBackoffMs);
        events.emit('chunk:retry', { runId, chunk: ref, attempt: lease.attempt, delayMs, error: message });
        await sleep(delayMs, ctx.hard);
        continue;
      }
      events.emit('chunk:failed', { runId, chunk: ref, attempt: lease.attempt, error: message });
      return { outcome: 'failed', error: message };
    }
  }
}

/** One attempt on its own connection, aborted by the run's hard stop, the job's timeout, or a lost lease. */
async function attemptChunk(ctx: ChunkContext, lease: Lease, t0: number): Promise<ChunkWritten> {
  const { job, ledger } = ctx;
  const chunk = lease.chunk;
  const controller = new AbortController();
  const onHard = (): void => controller.abort(ctx.hard.reason);
  ctx.hard.addEventListener('abort', onHard, { once: true });
  const timeout = setTimeout(
    () => controller.abort(new BackfillError('CHUNK_TIMEOUT', `chunk ${chunk.key} timed out after ${job.timeoutMs} ms`, { retryable: true })),
    job.timeoutMs,
  ).unref();
  const leaseMs = ctx.leaseMs ?? LEASE_MS;
  const heartbeat = setInterval(() => {
    ledger.heartbeat(lease, leaseMs).catch((err: unknown) => controller.abort(err));
  }, leaseMs / 3).unref();
  const conn = await ctx.session.connect();
  const writer = new ChunkWriter(ctx, lease, conn, controller.signal, t0);
  try {
    return await writer.write();
  } catch (err) {
    await writer.keepRejectsOf(err);
    // Aborted: report why (shutdown, timeout, lost lease) — unless the data itself was at fault.
    throw controller.signal.aborted && !(err instanceof BackfillError && err.code === 'SOURCE_DATA') ? (controller.signal.reason ?? err) : err;
  } finally {
    clearTimeout(timeout);
    clearInterval(heartbeat);
    ctx.hard.removeEventListener('abort', onHard);
    await writer.cleanup();
    conn.close();
  }
}
