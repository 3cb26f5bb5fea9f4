// The change-data-capture loop: stream a table's changes into the target in micro-batches, each applied
// with its position in one target transaction and confirmed to the source only after it committed; a
// table with history is first copied chunk by chunk between watermarks (DBLog). Lost connections are
// retried with backoff from the target's position.

import { randomUUID } from 'node:crypto';
import { ulid } from 'ulid';
import type { ChangeSink, SnapshotProgress } from '../../connectors/change-sink.js';
import type { CdcSettings, ChangeSource, ChangeStream } from '../../connectors/change-source.js';
import type { ColumnInfo, Target } from '../../connectors/connector.js';
import { BackfillError, describeError, PlanError } from '../../core/errors.js';
import { EventBus } from '../../core/events.js';
import type { KeyChunking } from '../../core/planner.js';
import type { Job } from '../../job/job.js';
import type { DuckConn } from '../../runtime/duckdb-session.js';
import { ChangeApplier, type CaughtUp } from './cdc-applier.js';
import { copyChunks, COPY_NOT_PLANNED, planCopy } from './cdc-initial-copy.js';
import { changeSinkSpec, closeCdc, openCdc } from './cdc-open.js';

export interface CdcRunOptions {
  /** Graceful stop: the batch in flight is applied and confirmed, then the run returns. */
  readonly signal?: AbortSignal | undefined;
  /** Return once the initial copy is done and the stream has passed the WAL position current at start. */
  readonly untilCaughtUp?: boolean | undefined;
  readonly events?: EventBus | undefined;
}

export interface CdcRunResult {
  readonly status: 'caught-up' | 'stopped';
  readonly runId: string;
  readonly slot: string;
  /** Commit LSN of the last transaction the target holds. */
  readonly lsn: string;
  readonly batches: number;
  /** Transactions resent by the slot that the target already held, skipped by their commit LSN. */
  readonly skipped: number;
  /** Row changes taken from the stream (before collapsing per key). */
  readonly changes: number;
  readonly upserted: number;
  readonly deleted: number;
  readonly snapshot: SnapshotProgress & { readonly rowsCopied: number; readonly rowsDropped: number };
  readonly ms: number;
}

type Totals = { batches: number; skipped: number; changes: number; upserted: number; deleted: number; rowsCopied: number; rowsDropped: number };

/** What one connection's worth of streaming shares with the run around it. */
interface StreamContext {
  readonly job: Job;
  readonly settings: CdcSettings;
  readonly source: ChangeSource;
  readonly target: Target;
  readonly conn: DuckConn;
  readonly columns: readonly ColumnInfo[];
  readonly carry: CaughtUp;
  readonly events: EventBus;
  readonly runId: string;
  readonly options: CdcRunOptions;
}

export async function runCdc(job: Job, options: CdcRunOptions = {}): Promise<CdcRunResult> {
  const started = Date.now();
  const events = options.events ?? new EventBus();
  const runId = ulid();
  const opened = await openCdc(job);
  const { settings, source } = opened;
  const totals: Totals = { batches: 0, skipped: 0, changes: 0, upserted: 0, deleted: 0, rowsCopied: 0, rowsDropped: 0 };
  try {
    const columns = await source.describeTable(job.write.key);
    // A new slot has not seen what happened before it: the table is copied again, until a batch records that copy.
    let recopy = (await source.prepare()).newSlot;
    const carry: CaughtUp = { caughtUpNonce: undefined, caughtUpSeen: false };
    if (options.untilCaughtUp === true) {
      carry.caughtUpNonce = randomUUID();
      await source.emitWatermark('caught-up', carry.caughtUpNonce);
    }
    const context: StreamContext = { job, settings, source, target: opened.target, conn: opened.conn, columns, carry, events, runId, options };
    // A lost connection (source, stream or target) is retried with backoff from the target's position.
    for (let failures = 0; ; ) {
      let state: ChangeApplier | undefined;
      try {
        state = await streamOnce(context, recopy, (s) => (state = s));
        add(totals, state);
        return {
          status: options.untilCaughtUp === true && !(options.signal?.aborted ?? false) ? 'caught-up' : 'stopped',
          runId,
          slot: settings.slot,
          lsn: state.appliedLsn,
          ...totals,
          snapshot: { ...state.committedSnapshot, rowsCopied: totals.rowsCopied, rowsDropped: totals.rowsDropped },
          ms: Date.now() - started,
        };
      } catch (err) {
        const progressed = state !== undefined && state.batches > 0;
        if (state !== undefined) add(totals, state);
        if (progressed) {
          recopy = false;
          failures = 0;
        }
        const retryable = err instanceof BackfillError && err.retryable;
        if (!retryable || (options.signal?.aborted ?? false) || ++failures >= job.retries.attempts) throw err;
        const delay = Math.min(job.retries.maxBackoffMs, job.retries.backoffMs * 2 ** (failures - 1));
        events.emit('warning', { runId, message: `${describeError(err)}; streaming again in ${Math.round(delay / 100) / 10}s (attempt ${failures + 1} of ${job.retries.attempts})` });
        await sleep(delay, options.signal);
      }
    }
  } finally {
    await closeCdc(opened);
  }
}

function add(totals: Totals, state: ChangeApplier): void {
  totals.batches += state.batches;
  totals.skipped += state.skipped;
  totals.changes += state.changes;
  totals.upserted += state.upserted;
  totals.deleted += state.deleted;
  totals.rowsCopied += state.rowsCopied;
  totals.rowsDropped += state.rowsDropped;
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
    function done(): void {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** One connection's worth of streaming: open the sink and the stream, copy what is left, apply until stopped. */
async function streamOnce(context: StreamContext, recopy: boolean, started: (state: ChangeApplier) => void): Promise<ChangeApplier> {
  const { job, settings, source, columns, events, runId, options } = context;
  let sink: ChangeSink | undefined;
  let stream: ChangeStream | undefined;
  try {
    sink = await context.target.openChangeSink?.(context.conn, changeSinkSpec(job, columns));
    if (sink === undefined) throw new PlanError('the target has no change sink');
    let position = await sink.readPosition();
    if (position !== undefined && (recopy || position.slot !== settings.slot)) {
      events.emit('warning', { runId, message: `slot ${settings.slot} is new: copying the table again (rows deleted in the source while no slot existed stay in the target)` });
      position = { lsn: position.lsn, slot: settings.slot, snapshot: COPY_NOT_PLANNED };
    }
    const chunking = job.chunking as KeyChunking;
    const { snapshot, todo } = await planCopy(source, chunking, position?.snapshot);
    const state = new ChangeApplier({ settings, key: job.write.key, columns, sink, positions: source, appliedLsn: position?.lsn, snapshot, events, runId, carry: context.carry });
    started(state);
    stream = await source.openStream({ columns, key: job.write.key });
    state.stream = stream;
    events.emit('cdc:start', { runId, job: job.name, slot: settings.slot, lsn: state.appliedLsn, chunksDone: snapshot.chunksDone, chunksTotal: snapshot.chunksTotal });
    const driver = copyChunks(state, source, columns, chunking.column, todo, options.signal);
    driver.catch(() => {});
    try {
      await state.consume(options.signal, options.untilCaughtUp === true, driver);
    } finally {
      // The copy stops at its next step; wait so that two never run at once.
      await driver.catch(() => {});
    }
    return state;
  } finally {
    await stream?.close();
    await sink?.close().catch(() => {});
  }
}
