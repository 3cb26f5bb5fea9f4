// The run loop: claim a chunk → read → transform → write → commit, in a bounded pool, resumable.

import { rmSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import pLimit from 'p-limit';
import { ulid } from 'ulid';
import type { Chunk, ChunkStats } from '../../core/chunk.js';
import { AbortedError, BackfillError, describeError, LedgerError, PlanError } from '../../core/errors.js';
import { EventBus, type ChunkRef, type RunResultSummary } from '../../core/events.js';
import { planChunks, selectChunks, type SourceBounds } from '../../core/planner.js';
import { quoteIdent } from '../../core/sql-text.js';
import { staleWindowChunks } from '../../core/watermark.js';
import { CHUNK_INDEX_COLUMN, inPlace, TooManyRejectsError, type ChunkRead, type ChunkWrite, type OnePassOutput, type OpenedChunk, type Source, type Target, type WriteResult } from '../../connectors/connector.js';
import { createSource, createTarget } from '../../connectors/open-connectors.js';
import { DuckSession, type DuckConn } from '../../runtime/duckdb-session.js';
import { describeQuery, rangeLiterals } from '../../runtime/duckdb-sql.js';
import { ownerAlive } from '../../runtime/process-liveness.js';
import type { Job } from '../../job/job.js';
import type { Lease, Ledger } from '../../ledger/ledger.js';
import { openLedger } from '../../ledger/open-ledger.js';
import { boundsNeedScan, describeJob, finishPlan, transformQuery, type DescribedJob, type PreparedPlan } from './prepare.js';
import { backupRequest, checkBackup, recordBackup } from '../safety/backup-run.js';
import { faultPoint } from './fault-points.js';
import { backoffDelay, isRetryable, sleep } from './retry.js';
import { chunkIndexedRelation, cleanDeadStages, stageChunks, type StagedChunk } from './stage.js';
import { addRejects, diagnoseRejects, isReadError, keptRejects, NO_REJECTS, NULL_CHUNK_INDEX, relationRejects, RunRejects } from '../safety/reject-rows.js';
import { SchemaGuard } from '../safety/schema-drift.js';
import { verifyWrittenChunk } from '../safety/verify-backfill.js';
import { runIncremental } from '../incremental/incremental-run.js';
import { isCdcJob } from '../../connectors/open-connectors.js';
import type { IncrementalOutcome } from '../incremental/incremental.js';
import { warnIndexes } from './index-advice.js';

export interface RunOptions {
  /** Only chunks overlapping [from, to) (ISO dates/times for time chunks, integers for key chunks). */
  readonly from?: string | undefined;
  readonly to?: string | undefined;
  /** Process the selected chunks again even when done. */
  readonly restate?: boolean | undefined;
  /** Process only chunks that failed before. */
  readonly retryFailed?: boolean | undefined;
  readonly concurrency?: number | undefined;
  /** Stop at the first chunk that fails for good (default: continue with the others). */
  readonly failFast?: boolean | undefined;
  /** Aborting stops taking chunks; in-flight chunks get `job.shutdownTimeoutMs` to finish, then are interrupted. */
  readonly signal?: AbortSignal | undefined;
  /** Aborting interrupts in-flight chunks at once (a second Ctrl-C); their leases are released. */
  readonly hardSignal?: AbortSignal | undefined;
  readonly events?: EventBus | undefined;
  /** Use this ledger instead of opening the job's (tests, embedding). */
  readonly ledger?: Ledger | undefined;
  /** Incremental jobs: the instant taken as now (epoch ms) for the window's end; default the clock. */
  readonly now?: number | undefined;
  /** @internal Set by the incremental runner: run these window chunks instead of the plan's. */
  readonly window?: { readonly chunks: readonly Chunk[]; readonly runId: string; readonly chunkDone: (key: string) => Promise<void> } | undefined;
  /** @internal Set by the incremental runner: this is the job's full backfill (its history). */
  readonly history?: boolean | undefined;
}

export type ChunkOutcome = 'done' | 'failed' | 'skipped' | 'interrupted';

export interface RunResult extends RunResultSummary {
  readonly runId: string;
  readonly total: number;
  readonly chunks: readonly { readonly key: string; readonly outcome: ChunkOutcome; readonly error?: string }[];
  /** Incremental jobs: the phase, the window read and where the watermark moved. */
  readonly incremental?: IncrementalOutcome;
}

const LEASE_MS = 60_000;

/**
 * Run (or resume) a backfill. Returns a result instead of throwing when chunks fail. A job with
 * `incremental:` runs its full backfill first and a window past the watermark afterwards, unless
 * chunks are named explicitly (--from/--to, --restate, --retry-failed): those run as history chunks.
 */
export async function runBackfill(job: Job, options: RunOptions = {}): Promise<RunResult> {
  if (isCdcJob(job)) throw new PlanError(`job ${job.name} captures changes (source.cdc): it streams them with runCdc (\`backfill run\`), it has no chunks to run`);
  const explicit = options.from !== undefined || options.to !== undefined || options.restate === true || options.retryFailed === true;
  if (job.incremental !== undefined && options.window === undefined && options.history !== true && !explicit) {
    return runIncremental(job, options, runChunks);
  }
  return runChunks(job, options);
}

async function runChunks(job: Job, options: RunOptions): Promise<RunResult> {
  const started = Date.now();
  const events = options.events ?? new EventBus();
  const runId = options.window?.runId ?? ulid();
  const owner = `${hostname()}:${process.pid}:${runId}`;
  const ledger = options.ledger ?? (await openLedger(job));
  const session = await DuckSession.create(job.duckdb);
  const source = await createSource(job);
  const target = await createTarget(job).catch(async (err: unknown) => {
    await source.close();
    throw err;
  });
  const main = await session.connect();
  const stageDir = join(job.stateDir, 'stage', `${process.pid}-${runId}`);
  const outcomes = new Map<string, { outcome: ChunkOutcome; error?: string; stats?: ChunkStats }>();
  let runStarted = false;
  let runTimer: NodeJS.Timeout | undefined;
  let onePass: OnePass | undefined;
  const rejects = new RunRejects(job.rejects, runId);

  // Two levels of stopping: `stopping` takes no new chunks; `hard` interrupts the ones in flight.
  const hard = new AbortController();
  let stopping: string | undefined;
  let graceTimer: NodeJS.Timeout | undefined;
  const stop = (reason: string, grace: boolean): void => {
    if (stopping === undefined) {
      stopping = reason;
      events.emit('run:stopping', { runId, reason });
    }
    if (!grace) hard.abort(new AbortedError(reason));
    else if (graceTimer === undefined) graceTimer = setTimeout(() => hard.abort(new AbortedError(reason)), job.shutdownTimeoutMs).unref();
  };
  const onExternalAbort = (): void => stop(describeError(options.signal?.reason ?? 'stopped'), true);
  options.signal?.addEventListener('abort', onExternalAbort, { once: true });
  const onHardAbort = (): void => stop(describeError(options.hardSignal?.reason ?? 'stopped'), false);
  options.hardSignal?.addEventListener('abort', onHardAbort, { once: true });
  if (options.signal?.aborted === true) onExternalAbort();

  try {
    await ledger.closeDeadRuns(job.name, ownerAlive);
    const described = await describeJob(job, source, main);
    // The source's columns against the recorded schema: fail or evolve the target (schemaChanges).
    const drift = await SchemaGuard.open(job, ledger, source, main, described);
    await drift.prepareTarget(target, main);
    await warnIndexes(target, main, events, runId);
    if (job.write.mode === 'replace' && target.capabilities.replaceBy === 'range' && described.outputColumnType === undefined) {
      throw new PlanError(`write.mode replace deletes the chunk's range in ${target.describe()}, so the transform's output must keep the chunk column "${job.chunking.column}"`);
    }
    checkBackup(job, target, described.outputColumnType !== undefined);
    // A source whose bounds would cost a scan is read once: that pass writes the output and
    // its chunks give the bounds. Otherwise plan first, then read.
    let passMs = 0;
    const t0Pass = Date.now();
    // `verify: true` reads each chunk's source rows again, so it takes per-chunk staging instead of one-pass writes.
    const early =
      stopping === undefined && drift.clean && !job.verify && options.window === undefined
        ? await onePassBeforePlan(job, source, target, main, ledger, described, hard.signal)
        : undefined;
    if (early !== undefined) {
      onePass = early.onePass;
      passMs = Date.now() - t0Pass;
    }
    const plan: PreparedPlan =
      options.window !== undefined ? { ...described, chunks: [...options.window.chunks], bounds: undefined } : (early?.plan ?? (await finishPlan(job, source, main, ledger, described)));
    await ledger.syncChunks(job.name, plan.chunks);
    await recoverStale(job, ledger, target, main, events, runId);

    const timezone = job.chunking.kind === 'time' ? job.chunking.timezone : 'UTC';
    const selected = selectChunks(plan.chunks, options.from, options.to, timezone);
    if (options.restate === true) await ledger.reset(job.name, selected.map((c) => c.key));
    const records = new Map((await ledger.listChunks(job.name)).map((r) => [r.key, r]));
    const todo = selected.filter((c) => {
      const status = records.get(c.key)?.status ?? 'pending';
      return options.retryFailed === true ? status === 'failed' : status !== 'done';
    });
    const concurrency = options.concurrency ?? job.concurrency;
    await ledger.startRun({
      runId, job: job.name, owner, host: hostname(), pid: process.pid, chunksTotal: todo.length,
      options: JSON.stringify({ from: options.from, to: options.to, restate: options.restate, retryFailed: options.retryFailed, concurrency }),
    });
    runStarted = true;
    runTimer = setInterval(() => void ledger.heartbeatRun(runId).catch(() => {}), 5000).unref();
    events.emit('run:start', { runId, job: job.name, total: plan.chunks.length, todo: todo.length, concurrency });

    let staged: Map<string, StagedChunk> | undefined;
    if (onePass !== undefined) {
      events.emit('stage:start', { runId, chunks: todo.length });
      events.emit('stage:done', { runId, chunks: todo.length, rows: onePass.rows, ms: passMs, pass: 'one-pass' });
    } else if (todo.length > 0 && !source.capabilities.prunes && stopping === undefined) {
      const t0 = Date.now();
      events.emit('stage:start', { runId, chunks: todo.length });
      // A source that cannot prune is read once. When the target can take every chunk's output
      // in that same pass, that pass is the whole write; otherwise it splits the rows per chunk.
      onePass = drift.clean && !job.verify ? await tryOnePass(job, source, target, main, todo, plan, timezone, hard.signal) : undefined;
      if (onePass === undefined) {
        cleanDeadStages(join(job.stateDir, 'stage'));
        staged = await stageChunks(main, source, todo, job.chunking.column, plan.sourceColumnType, timezone, stageDir, hard.signal, source.rejectReader?.relation());
      }
      const rows = onePass?.rows ?? [...(staged?.values() ?? [])].reduce((n, s) => n + s.rows, 0);
      events.emit('stage:done', { runId, chunks: todo.length, rows, ms: Date.now() - t0, pass: onePass === undefined ? 'split' : 'one-pass' });
    }
    // A window leaves rows without a cursor value to the full backfill: they belong to no window.
    if ((onePass !== undefined || staged !== undefined) && options.window === undefined) {
      // Bad lines and NULL chunk values met by the pass belong to no chunk: the plan's first one keeps them.
      const nulls = staged?.get(String(NULL_CHUNK_INDEX))?.relation ?? target.shareRelation?.(onePass?.output.chunks.get(String(NULL_CHUNK_INDEX)));
      const first = plan.chunks[0];
      await rejects.collectPass(main, source.rejectReader, nulls, job.chunking.column, todo.find((c) => c.key === first?.key));
    }

    const pool = pLimit(concurrency);
    const writeSlots = pLimit(target.capabilities.maxConcurrentWrites ?? Number.MAX_SAFE_INTEGER);
    const route = drift.clean ? chooseRoute(job, source, target) : 'engine';
    const copyDirect = route === 'copy-stream';
    const pushdown = route === 'in-database';
    // Row-by-row transforms write exactly the rows they read, so appends and replaces need not
    // materialise the chunk to count them; merges report changed rows and still count reads apart.
    const direct = job.write.mode !== 'merge' && (await isRowLocal(job, source, main));
    const ctx: ChunkContext = {
      job, ledger, session, source, target, plan, events, runId, owner, staged, onePass, writeSlots, timezone, hard: hard.signal, copyDirect, pushdown, direct, rejects, drift,
      chunkDone: options.window?.chunkDone,
    };
    await Promise.all(
      todo.map((chunk) =>
        pool(async () => {
          if (stopping !== undefined) {
            outcomes.set(chunk.key, { outcome: 'interrupted' });
            return;
          }
          const result = await processChunk(ctx, chunk);
          outcomes.set(chunk.key, result);
          if (result.outcome === 'failed' && options.failFast === true) stop(`chunk ${chunk.key} failed (--fail-fast)`, false);
        }),
      ),
    );
    if (options.window !== undefined && stopping === undefined) {
      // Housekeeping: the window's chunks are committed whatever happens here, and a later run prunes again.
      await forgetOldWindows(ledger, job.name, target, main).catch((err: unknown) =>
        events.emit('warning', { runId, message: `old window chunk records were kept: ${describeError(err)}` }),
      );
    }
    const result = summarize(runId, plan.chunks.length, todo, outcomes, stopping, started);
    await ledger.finishRun(runId, {
      status: result.status, chunksDone: result.done, chunksFailed: result.failed, rowsRead: result.rowsRead,
      rowsWritten: result.rowsWritten, bytes: result.bytes, ...(stopping === undefined ? {} : { error: stopping }),
    });
    events.emit('run:done', { runId, result });
    return result;
  } catch (err) {
    if (runStarted) await ledger.finishRun(runId, { status: 'failed', chunksDone: 0, chunksFailed: 0, rowsRead: 0, rowsWritten: 0, bytes: 0, error: describeError(err) });
    throw err;
  } finally {
    options.signal?.removeEventListener('abort', onExternalAbort);
    options.hardSignal?.removeEventListener('abort', onHardAbort);
    onePass?.output.cleanup();
    if (graceTimer !== undefined) clearTimeout(graceTimer);
    if (runTimer !== undefined) clearInterval(runTimer);
    main.close();
    session.close();
    await source.close().catch(() => {});
    await target.close().catch(() => {});
    rmSync(stageDir, { recursive: true, force: true });
    if (options.ledger === undefined) await ledger.close();
  }
}

/**
 * A job run every few minutes would pile up window chunk records for ever: keep the latest window
 * runs' only. The target's commit markers of those chunks go first, so a crash in between leaves
 * ledger records whose markers are gone (forgotten again next time), never markers nothing prunes.
 */
async function forgetOldWindows(ledger: Ledger, job: string, target: Target, conn: DuckConn): Promise<void> {
  const unrestored = new Set((await ledger.listBackups(job)).filter((b) => b.restoredAt === null).map((b) => b.chunkKey));
  const stale = staleWindowChunks(await ledger.listChunks(job), unrestored);
  if (stale.length === 0) return;
  await target.forgetCommits?.(conn, stale);
  await ledger.forgetChunks(job, stale);
}

interface ChunkContext {
  readonly job: Job;
  readonly ledger: Ledger;
  readonly session: DuckSession;
  readonly source: Source;
  readonly target: Target;
  readonly plan: PreparedPlan;
  readonly events: EventBus;
  readonly runId: string;
  readonly owner: string;
  readonly staged: Map<string, StagedChunk> | undefined;
  readonly onePass: OnePass | undefined;
  readonly writeSlots: ReturnType<typeof pLimit>;
  readonly timezone: string;
  readonly hard: AbortSignal;
  /** Move chunks as PostgreSQL COPY text from source to target, skipping DuckDB. */
  readonly copyDirect: boolean;
  /** Source and target are one database: each chunk is an INSERT … SELECT inside it. */
  readonly pushdown: boolean;
  /** Write the chunk straight from its relation (rows read = rows written); otherwise materialise it first. */
  readonly direct: boolean;
  readonly rejects: RunRejects;
  /** Compares each chunk's output with the recorded schema before it writes. */
  readonly drift: SchemaGuard;
  /** Called once a chunk is done in the ledger (incremental windows move the watermark). */
  readonly chunkDone: ((key: string) => Promise<void>) | undefined;
}

async function processChunk(ctx: ChunkContext, chunk: Chunk): Promise<{ outcome: ChunkOutcome; error?: string; stats?: ChunkStats }> {
  const { job, ledger, events, runId } = ctx;
  const ref: ChunkRef = { key: chunk.key, lo: chunk.lo, hi: chunk.hi };
  // Claims of this chunk's failed attempts: one may have committed after all (the reply to COMMIT lost).
  const failedClaims: string[] = [];
  for (;;) {
    if (ctx.hard.aborted) return { outcome: 'interrupted' };
    const lease = await ledger.claim(job.name, chunk, ctx.owner, runId, LEASE_MS);
    if (lease === undefined) return { outcome: 'skipped' };
    events.emit('chunk:start', { runId, chunk: ref, attempt: lease.attempt, token: lease.token });
    const t0 = Date.now();
    try {
      const { stats, marked } = (await committedEarlier(ctx, chunk, failedClaims)) ?? (await attemptChunk(ctx, lease, t0));
      faultPoint('after-commit');
      // `verify: true`: the chunk is done only when the target's rows match the source's.
      if (job.verify) await verifyWrittenChunk(ctx, chunk);
      if (!marked) await ledger.complete(lease, stats, Date.now() - t0);
      events.emit('chunk:done', { runId, chunk: ref, attempt: lease.attempt, stats, ms: Date.now() - t0 });
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
      await ledger.fail(lease, message, Date.now() - t0);
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

async function attemptChunk(ctx: ChunkContext, lease: Lease, t0: number): Promise<{ stats: ChunkStats; marked: boolean }> {
  const { job, plan, source, target, ledger, staged } = ctx;
  const chunk = lease.chunk;
  // The chunk's own abort: shutdown, timeout, or a lost lease.
  const controller = new AbortController();
  const onHard = (): void => controller.abort(ctx.hard.reason);
  ctx.hard.addEventListener('abort', onHard, { once: true });
  const timeout = setTimeout(
    () => controller.abort(new BackfillError('CHUNK_TIMEOUT', `chunk ${chunk.key} timed out after ${job.timeoutMs} ms`, { retryable: true })),
    job.timeoutMs,
  ).unref();
  const heartbeat = setInterval(() => {
    ledger.heartbeat(lease, LEASE_MS).catch((err: unknown) => controller.abort(err));
  }, LEASE_MS / 3).unref();
  const conn = await ctx.session.connect();
  const temp = quoteIdent(`backfill_chunk_${lease.token}`);
  let opened: OpenedChunk | undefined;
  let read: ChunkRead | undefined;
  // Rows set aside before the write (bad lines, NULL chunk values); the target may refuse more, within the limits.
  let early = ctx.rejects.passRejects(chunk);
  try {
    await source.attach(conn);
    await target.attach(conn);
    const range =
      plan.outputColumnType === undefined ? undefined : { column: job.chunking.column, ...rangeLiterals(chunk, plan.outputColumnType, ctx.timezone) };
    // Rows read, when the engine counts them itself (staged or materialised chunks).
    let rowsRead: number | undefined;
    // A ledger in the target's own database commits the chunk's mark in the data's transaction.
    // (Not with `verify: true`: the mark waits for the check after the commit.)
    const markDone =
      !job.verify && ledger.completeSql !== undefined && ledger.database !== undefined && ledger.database === target.database
        ? (s: { rowsRead: number; rowsWritten: number; bytes: number; rowsRejected?: number }) =>
            (ledger.completeSql as NonNullable<Ledger['completeSql']>)(
              lease,
              { ...s, rowsRead: (rowsRead ?? s.rowsRead) + early.count, rowsRejected: early.count + (s.rowsRejected ?? 0) },
              Date.now() - t0,
            )
        : undefined;
    let write: ChunkWrite = {
      chunk, token: lease.token, lease: leaseId(lease.owner, lease.token), generation: lease.generation, mode: job.write.mode, key: job.write.key,
      query: '', range, conn, signal: controller.signal, markDone, backup: backupRequest(job, ctx.runId),
    };
    const finish = async (result: WriteResult): Promise<{ stats: ChunkStats; marked: boolean }> => {
      if (controller.signal.aborted && result.marked !== true) throw controller.signal.reason;
      const all = addRejects(early, result.rejected ?? NO_REJECTS);
      ctx.rejects.commit(chunk, all, all !== early);
      await recordBackup(ledger, job, ctx.runId, chunk, result.backup);
      return {
        stats: { rowsRead: (rowsRead ?? result.rowsRead ?? result.rowsWritten) + early.count, rowsWritten: result.rowsWritten, rowsRejected: all.count, bytes: result.bytes },
        marked: result.marked === true,
      };
    };
    const share = ctx.onePass?.take(chunk);
    const budget = (): number => ctx.rejects.targetBudget(early.count);
    if (share !== undefined && target.publishChunk !== undefined) {
      ctx.rejects.record(chunk, early);
      write = { ...write, maxRejects: budget() };
      // One-pass writes are taken only for transforms without filters: every row read reaches the target.
      const publish = target.publishChunk.bind(target);
      return await finish(await ctx.writeSlots(() => publish(write, share.staged)));
    }
    const stage = staged?.get(chunk.key);
    const chunkRead: ChunkRead = { chunk, column: job.chunking.column, literals: rangeLiterals(chunk, plan.sourceColumnType, ctx.timezone) };
    read = chunkRead;
    if (ctx.pushdown || ctx.copyDirect) {
      ctx.rejects.record(chunk, early);
      // PostgreSQL to PostgreSQL without an engine transform: the rows never enter DuckDB; in one
      // database they never leave the server.
      const direct: ChunkWrite = ctx.pushdown
        ? { ...write, pushdown: (source.chunkSql as NonNullable<Source['chunkSql']>)(chunkRead) }
        : { ...write, copyIn: (format) => (source.copyOut as NonNullable<Source['copyOut']>)(chunkRead, controller.signal, format) };
      return await finish(await ctx.writeSlots(() => target.write(direct)));
    }
    // A CSV read sets bad lines aside when they are allowed (a source read in one pass had them
    // charged there already); a prunable source's bad lines are then counted before the write.
    const reader = source.rejectReader;
    const keepLines = stage === undefined && reader !== undefined && (!source.capabilities.prunes || budget() > 0 || early.count > 0);
    opened =
      stage !== undefined ? inPlace(stage.relation) : keepLines ? inPlace(reader.chunkRelation(chunkRead)) : await source.openChunk(chunkRead, conn, controller.signal);
    const relation = opened.relation;
    const countLines = keepLines && source.capabilities.prunes;
    if (source.capabilities.prunes && !source.capabilities.cheapBounds && chunk.key === plan.chunks[0]?.key) {
      // Rows with NULL in the chunk column fall in no range; the first chunk counts them (cheap where the source prunes).
      const nulls = await source.openChunk({ ...chunkRead, nulls: true }, conn, controller.signal);
      try {
        early = addRejects(early, await relationRejects(conn, nulls.relation, `NULL in the chunk column "${job.chunking.column}"`, ctx.rejects.keep));
      } finally {
        await nulls.close().catch(() => {});
      }
    }
    // Row-by-row appends and replaces write exactly what they read; otherwise materialise the
    // chunk once so rows read are counted and the transform sees `source` as just this chunk.
    rowsRead = stage?.rows;
    let query: string;
    if (ctx.direct && !countLines) {
      query = transformQuery(job, relation);
    } else {
      const created = await conn.all<{ Count: string }>(`CREATE OR REPLACE TEMP TABLE ${temp} AS SELECT * FROM ${relation}`, controller.signal);
      rowsRead = Number(created[0]?.Count ?? 0);
      query = transformQuery(job, temp);
    }
    if (countLines) early = addRejects(early, await (reader as NonNullable<typeof reader>).take(conn, ctx.rejects.keep));
    ctx.rejects.record(chunk, early);
    query = await ctx.drift.conform(conn, query, chunk.key, source.chunkFiles?.(read));
    return await finish(await ctx.writeSlots(() => target.write({ ...write, query, maxRejects: budget() })));
  } catch (err) {
    // A strict read that failed on a bad line: find every bad line of the chunk, keep them, and say where.
    if (read !== undefined && !controller.signal.aborted && source.rejectReader !== undefined && source.capabilities.prunes && isReadError(err)) {
      const found = await diagnoseRejects(conn, source.rejectReader, read, ctx.rejects.keep).catch(() => NO_REJECTS);
      if (found.count > 0) ctx.rejects.record(chunk, addRejects(early, found));
    }
    // The target refused more rows than allowed: keep them too, so the failure can be looked at.
    if (err instanceof TooManyRejectsError) ctx.rejects.record(chunk, addRejects(early, err.rejects));
    throw controller.signal.aborted && !(err instanceof BackfillError && err.code === 'SOURCE_DATA') ? (controller.signal.reason ?? err) : err;
  } finally {
    clearTimeout(timeout);
    clearInterval(heartbeat);
    ctx.hard.removeEventListener('abort', onHard);
    if (!ctx.direct) await conn.run(`DROP TABLE IF EXISTS ${temp}`).catch(() => {});
    await opened?.close().catch(() => {});
    conn.close();
  }
}

/**
 * Before writing a chunk again: when the target's commit marker names one of its failed
 * attempts, that attempt's transaction committed although the attempt saw an error (the
 * connection broke before the reply to COMMIT). Writing again would append its rows twice.
 */
async function committedEarlier(ctx: ChunkContext, chunk: Chunk, failedClaims: readonly string[]): Promise<{ stats: ChunkStats; marked: boolean } | undefined> {
  if (failedClaims.length === 0 || !ctx.target.capabilities.transactional) return undefined;
  const conn = await ctx.session.connect();
  try {
    await ctx.target.attach(conn);
    const committed = await ctx.target.committedLease(conn, chunk);
    if (committed === undefined || !failedClaims.includes(committed.lease)) return undefined;
    ctx.events.emit('warning', { runId: ctx.runId, message: `chunk ${chunk.key} had committed although its attempt failed; recorded it as done` });
    return { stats: { rowsRead: committed.rows, rowsWritten: committed.rows, rowsRejected: 0, bytes: 0 }, marked: false };
  } finally {
    conn.close();
  }
}

/** Whether the transform maps each source row to exactly one output row (no aggregate, window, join or filter). */
async function isRowLocal(job: Job, source: Source, conn: DuckConn): Promise<boolean> {
  if (job.transform === undefined) return true;
  const explain = await conn.all<{ explain_value: string }>(`EXPLAIN ${transformQuery(job, source.relation())}`);
  return !NOT_ROW_LOCAL.test(explain.map((r) => r.explain_value).join('\n'));
}

/**
 * Chunks left `running` by a dead process: when the target holds the chunk's commit marker with
 * the lease's token, the data committed before the ledger mark — adopt it instead of redoing it.
 */
async function recoverStale(job: Job, ledger: Ledger, target: Target, conn: DuckConn, events: EventBus, runId: string): Promise<void> {
  for (const stale of await ledger.staleChunks(job.name, Date.now(), ownerAlive)) {
    const chunk: Chunk = { key: stale.key, kind: stale.kind, lo: stale.lo, hi: stale.hi, tag: stale.tag };
    // With `verify: true` a commit never checked is redone, not adopted.
    const committed = target.capabilities.transactional && !job.verify ? await target.committedLease(conn, chunk) : undefined;
    if (committed !== undefined && stale.leaseOwner !== null && committed.lease === leaseId(stale.leaseOwner, stale.fencingToken)) {
      const rejected = keptRejects(job.rejects.dir, chunk);
      const stats = { rowsRead: committed.rows + rejected, rowsWritten: committed.rows, rowsRejected: rejected, bytes: 0 };
      if (await ledger.adoptCommitted(job.name, stale.key, stale.fencingToken, stats)) {
        events.emit('warning', { runId, message: `chunk ${stale.key} had committed before its process stopped; recorded it as done` });
      }
    } else {
      await ledger.resetStale(job.name, stale.key, stale.fencingToken);
    }
  }
}

function summarize(
  runId: string,
  total: number,
  todo: readonly Chunk[],
  outcomes: Map<string, { outcome: ChunkOutcome; error?: string; stats?: ChunkStats }>,
  stopping: string | undefined,
  started: number,
): RunResult {
  const count = (o: ChunkOutcome): number => [...outcomes.values()].filter((x) => x.outcome === o).length;
  const sum = (f: (s: ChunkStats) => number): number => [...outcomes.values()].reduce((n, x) => n + (x.stats === undefined ? 0 : f(x.stats)), 0);
  const failed = count('failed');
  const interrupted = count('interrupted') + todo.filter((c) => !outcomes.has(c.key)).length;
  return {
    runId, total,
    status: stopping !== undefined && interrupted > 0 ? 'interrupted' : failed > 0 ? 'failed' : 'done',
    done: count('done'), failed, skipped: count('skipped'), interrupted,
    rowsRead: sum((s) => s.rowsRead), rowsWritten: sum((s) => s.rowsWritten), rowsRejected: sum((s) => s.rowsRejected), bytes: sum((s) => s.bytes),
    ms: Date.now() - started,
    chunks: todo.map((c) => {
      const o = outcomes.get(c.key);
      return { key: c.key, outcome: o?.outcome ?? 'interrupted', ...(o?.error === undefined ? {} : { error: o.error }) };
    }),
  };
}

/**
 * How chunk rows travel: through DuckDB (the engine), as a COPY stream from a PostgreSQL source
 * straight into a PostgreSQL target, or not at all when both are one database (INSERT … SELECT).
 */
export function chooseRoute(job: Job, source: Source, target: Target): 'engine' | 'copy-stream' | 'in-database' {
  if (job.transform !== undefined) return 'engine';
  if (source.database !== undefined && source.database === target.database && source.chunkSql !== undefined && target.capabilities.copyText) return 'in-database';
  if (source.capabilities.copyText && target.capabilities.copyText && source.copyOut !== undefined) return 'copy-stream';
  return 'engine';
}

/** A claim's name for commit markers: unique across runs and ledgers because the owner holds the run's id. */
export function leaseId(owner: string, token: number): string {
  return `${owner}#${token}`;
}

interface OnePass {
  readonly output: OnePassOutput;
  readonly rows: number;
  /** The chunk's share, once: a retry reads the chunk from the source instead. */
  take(chunk: Chunk): { staged: unknown } | undefined;
}

function onePassOf(output: OnePassOutput, keyOf: (chunk: Chunk) => string | undefined): OnePass {
  const taken = new Set<string>();
  return {
    output,
    rows: output.rows,
    take: (chunk) => {
      const key = keyOf(chunk);
      if (key === undefined || taken.has(chunk.key)) return undefined;
      taken.add(chunk.key);
      return { staged: output.chunks.get(key) };
    },
  };
}

/** Plan operators that make a transform's output depend on more than one row at a time, or drop rows. */
const NOT_ROW_LOCAL = /\b(HASH_GROUP_BY|PERFECT_HASH_GROUP_BY|UNGROUPED_AGGREGATE|STREAMING_WINDOW|WINDOW|ORDER_BY|TOP_N|LIMIT|STREAMING_LIMIT|LIMIT_PERCENT|HASH_JOIN|NESTED_LOOP_JOIN|PIECEWISE_MERGE_JOIN|IE_JOIN|ASOF_JOIN|CROSS_PRODUCT|UNION|DISTINCT|SAMPLE|UNNEST|CTE|CTE_SCAN|RECURSIVE_CTE|DELIM_JOIN|LEFT_DELIM_JOIN|RIGHT_DELIM_JOIN|FILTER)\b/;

/**
 * Write every pending chunk in the one pass over the source when that is the same as writing
 * them one by one: the target supports it, the mode does not read old output (not merge), and
 * the transform maps each row on its own (no aggregates, windows, joins, filters) and keeps the
 * chunk index column.
 */
async function tryOnePass(
  job: Job, source: Source, target: Target, conn: DuckConn, todo: readonly Chunk[], plan: PreparedPlan, timezone: string, signal: AbortSignal,
): Promise<OnePass | undefined> {
  if (target.writeAll === undefined || target.publishChunk === undefined || !(target.capabilities.onePassModes ?? []).includes(job.write.mode)) return undefined;
  if (!(await isRowLocal(job, source, conn))) return undefined;
  const relation = chunkIndexedRelation(source, todo, job.chunking.column, plan.sourceColumnType, timezone, source.rejectReader?.relation());
  const query = transformQuery(job, relation);
  if (!(await describeQuery(conn, query)).some((c) => c.name === CHUNK_INDEX_COLUMN)) return undefined;
  const output = await target.writeAll(conn, query, signal);
  const index = new Map(todo.map((c, i) => [c.key, String(i)]));
  return onePassOf(output, (chunk) => index.get(chunk.key));
}

/**
 * The one pass without known bounds: when a chunk's lower bound follows from the row alone
 * (key chunks, or single calendar units in UTC), each row is tagged with it, and the chunks
 * present in the output give the bounds — the source is read once instead of twice.
 */
async function onePassBeforePlan(
  job: Job, source: Source, target: Target, conn: DuckConn, ledger: Ledger, described: DescribedJob, signal: AbortSignal,
): Promise<{ onePass: OnePass; plan: PreparedPlan } | undefined> {
  if (source.capabilities.prunes || target.writeAll === undefined || target.publishChunk === undefined) return undefined;
  if (!(target.capabilities.onePassModes ?? []).includes(job.write.mode)) return undefined;
  if (job.chunking.from !== undefined || job.chunking.to !== undefined) return undefined;
  if (!(await boundsNeedScan(job, source, ledger))) return undefined;
  const col = quoteIdent(job.chunking.column);
  let bucket: string;
  if (job.chunking.kind === 'key') {
    const size = job.chunking.size.toString();
    bucket = `(${col} - (((${col} % ${size}) + ${size}) % ${size}))`;
  } else {
    if (job.chunking.step.n !== 1 || job.chunking.timezone !== 'UTC') return undefined;
    const unit = job.chunking.step.unit;
    bucket =
      described.sourceColumnType.toUpperCase() === 'DATE'
        ? `epoch_ms(CAST(date_trunc('${unit}', ${col}) AS TIMESTAMP))`
        : `epoch_ms(date_trunc('${unit}', ${col}))`;
  }
  if (!(await isRowLocal(job, source, conn))) return undefined;
  // Rows with NULL in the chunk column are set aside under NULL_CHUNK_INDEX, to be counted as rejected.
  const relation = `(SELECT *, coalesce(${bucket}, ${NULL_CHUNK_INDEX}) AS ${quoteIdent(CHUNK_INDEX_COLUMN)} FROM ${source.rejectReader?.relation() ?? source.relation()})`;
  const query = transformQuery(job, relation);
  if (!(await describeQuery(conn, query)).some((c) => c.name === CHUNK_INDEX_COLUMN)) return undefined;
  const output = await target.writeAll(conn, query, signal);
  const values = [...output.chunks.keys()].filter((v) => v !== String(NULL_CHUNK_INDEX)).map((v) => BigInt(v)).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const min = values[0];
  const max = values[values.length - 1];
  const bounds: SourceBounds | undefined =
    min === undefined || max === undefined ? undefined : job.chunking.kind === 'key' ? { min, max } : { min: Number(min), max: Number(max) };
  const fingerprint = source.fingerprint();
  if (fingerprint !== undefined) {
    await ledger.saveBounds(job.name, fingerprint, job.chunking.column, min === undefined ? null : String(min), max === undefined ? null : String(max));
  }
  const plan: PreparedPlan = { ...described, chunks: planChunks(job.chunking, bounds), bounds };
  const keyOf = (chunk: Chunk): string => (chunk.kind === 'key' ? chunk.lo : String(Date.parse(chunk.lo)));
  return { onePass: onePassOf(output, keyOf), plan };
}
