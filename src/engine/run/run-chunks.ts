// One run over a job's chunks, start to finish — resources, plan, selection, the source pass, the pool — kept to orchestration; runBackfill and the incremental runner both call it.

import { hostname } from 'node:os';
import pLimit from 'p-limit';
import { ulid } from 'ulid';
import { systemClock } from '../../core/clock.js';
import { describeError } from '../../core/errors.js';
import { EventBus } from '../../core/events.js';
import { ownerAlive } from '../../runtime/process-liveness.js';
import type { Job } from '../../job/job.js';
import { RunThrottle } from '../limits/run-throttle.js';
import { RunRejects } from '../safety/reject-rows.js';
import { runChunk, type ChunkContext, type ChunkResult } from './chunk-attempt.js';
import type { OnePass } from './one-pass.js';
import { planRun, selectTodo, timezoneOf } from './run-plan.js';
import { openRunResources } from './run-resources.js';
import type { ChunkRunInternal, RunOptions, RunResult } from './run-options.js';
import { summarize } from './run-summary.js';
import { isRowLocal } from './row-local.js';
import { chargePassRejects, passOverSource } from './source-pass.js';
import { StopController } from './stop-controller.js';
import { chooseRoute } from './write-routes.js';

/** Run (or resume) the job's chunks — or, from the incremental runner, a window's — and record the run in the ledger. */
export async function runChunks(job: Job, options: RunOptions, internal: ChunkRunInternal = {}): Promise<RunResult> {
  const { window } = internal;
  const clock = internal.clock ?? systemClock;
  const started = clock.now();
  const events = options.events ?? new EventBus();
  const runId = window?.runId ?? ulid();
  const owner = `${hostname()}:${process.pid}:${runId}`;
  const res = await openRunResources(job, runId, options.ledger, clock, internal.lent);
  const { ledger, source, target, main } = res;
  const outcomes = new Map<string, ChunkResult>();
  const rejects = new RunRejects(job.rejects, runId);
  const stop = new StopController({
    signal: options.signal, hardSignal: options.hardSignal, graceMs: job.shutdownTimeoutMs,
    onStopping: (reason) => events.emit('run:stopping', { runId, reason }),
  });
  let runStarted = false;
  let runTimer: NodeJS.Timeout | undefined;
  let onePass: OnePass | undefined;
  const concurrency = options.concurrency ?? job.concurrency;
  const pool = pLimit(concurrency);
  const throttle = new RunThrottle({ job, ledger, source, events, runId, clock, stop, pool });

  try {
    await ledger.closeDeadRuns(job.name, ownerAlive);
    // Before any work: a limit that cannot be read refuses the run (docs/limits.md).
    await throttle.start();
    const { plan, drift, early } = await planRun(job, res, window, stop, clock, events, runId, internal.lent?.described);
    onePass = early?.onePass;
    const timezone = timezoneOf(job);
    const todo = await selectTodo(job, res, plan, options, events, runId, clock);
    await ledger.startRun({
      runId, job: job.name, owner, host: hostname(), pid: process.pid, chunksTotal: todo.length,
      options: JSON.stringify({ from: options.from, to: options.to, restate: options.restate, retryFailed: options.retryFailed, concurrency }),
    });
    runStarted = true;
    await throttle.record();
    runTimer = setInterval(() => void ledger.heartbeatRun(runId).catch(() => {}), 5000).unref();
    events.emit('run:start', { runId, job: job.name, total: plan.chunks.length, todo: todo.length, concurrency });

    const pass = await passOverSource(job, res, todo, plan, drift, early, stop.stopping !== undefined, timezone, { events, runId, clock, signal: stop.hard });
    onePass = pass.onePass;
    // A window leaves rows without a cursor value to the full backfill: they belong to no window.
    if ((pass.onePass !== undefined || pass.staged !== undefined) && window === undefined) await chargePassRejects(job, res, pass, plan, todo, rejects);

    const ctx: ChunkContext = {
      job, ledger, session: res.session, source, target, plan, events, runId, owner, clock, timezone, rejects, drift,
      staged: pass.staged, onePass: pass.onePass, hard: stop.hard, chunkDone: window?.chunkDone,
      writeSlots: pLimit(target.capabilities.maxConcurrentWrites ?? Number.MAX_SAFE_INTEGER),
      route: drift.clean ? chooseRoute(job, source, target) : 'engine',
      // Row-by-row transforms write exactly the rows they read, so appends and replaces need not
      // materialise the chunk to count them; merges report changed rows and still count reads apart.
      direct: job.write.mode !== 'merge' && (await isRowLocal(job, source, main)),
    };
    await Promise.all(
      todo.map((chunk) =>
        pool(async () => {
          if (stop.stopping !== undefined) {
            outcomes.set(chunk.key, { outcome: 'interrupted' });
            return;
          }
          // Held while a limit holds, spaced by the rate limit; undefined when the run stopped meanwhile.
          const admission = await throttle.admit();
          if (admission === undefined) {
            outcomes.set(chunk.key, { outcome: 'interrupted' });
            return;
          }
          const t0 = clock.now();
          const result = await runChunk(ctx, chunk);
          outcomes.set(chunk.key, result);
          await throttle.settle(admission, result.stats?.rowsRead ?? 0, clock.now() - t0).catch((err: unknown) => events.emit('warning', { runId, message: `the rate limit was not charged for chunk ${chunk.key}: ${describeError(err)}` }));
          if (result.outcome === 'failed' && options.failFast === true) stop.stop(`chunk ${chunk.key} failed (--fail-fast)`, false);
        }),
      ),
    );
    if (window !== undefined && stop.stopping === undefined) {
      // Housekeeping: the window's chunks are committed whatever happens here, and a later run prunes again.
      await window.prune(target, main).catch((err: unknown) =>
        events.emit('warning', { runId, message: `old window chunk records were kept: ${describeError(err)}` }),
      );
    }
    const ms = clock.now() - started;
    const result = { ...summarize(runId, plan.chunks.length, todo, outcomes, stop.stopping, ms), limits: await throttle.finish(ms) };
    await ledger.finishRun(runId, {
      status: result.status, chunksDone: result.done, chunksFailed: result.failed, rowsRead: result.rowsRead,
      rowsWritten: result.rowsWritten, bytes: result.bytes, bytesUnknown: result.bytesUnknown, ...(stop.stopping === undefined ? {} : { error: stop.stopping }),
    });
    events.emit('run:done', { runId, result });
    return result;
  } catch (err) {
    if (runStarted) await ledger.finishRun(runId, { status: 'failed', chunksDone: 0, chunksFailed: 0, rowsRead: 0, rowsWritten: 0, bytes: 0, error: describeError(err) });
    throw err;
  } finally {
    await throttle.finish(0);
    stop.dispose();
    onePass?.output.cleanup();
    if (runTimer !== undefined) clearInterval(runTimer);
    await res.close();
  }
}
