// The change-data-capture loop: stream a PostgreSQL table's changes into the target in micro-batches,
// each applied with its position in one target transaction and confirmed to the slot only after it
// committed; a table with history is first copied chunk by chunk between watermarks (DBLog).

import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { ulid } from 'ulid';
import type { Pgoutput } from 'pg-logical-replication';
import { ChangeBatch, keyText, parseWatermark, WATERMARK_PREFIX, WatermarkWindow, type RowText } from '../../core/cdc-changes.js';
import { cdcSettings } from '../../connectors/open-connectors.js';
import type { CdcSettings } from '../../core/cdc-settings.js';
import { formatLsn, parseLsn, ZERO_LSN } from '../../core/cdc-lsn.js';
import type { CdcPosition, ChangeSink, SnapshotProgress } from '../../connectors/change-sink.js';
import type { Chunk } from '../../core/chunk.js';
import { AbortedError, BackfillError, ConnectorError, describeError, PlanError } from '../../core/errors.js';
import { EventBus } from '../../core/events.js';
import { planChunks, type KeyChunking } from '../../core/planner.js';
import type { ColumnInfo, Target } from '../../connectors/connector.js';
import { PostgresCdcSource } from '../../connectors/postgres/postgres-cdc-source.js';
import type { PgChangeStream } from '../../connectors/postgres/postgres-cdc-stream.js';
import { DuckSession, type DuckConn } from '../../runtime/duckdb-session.js';
import { createTarget } from '../../connectors/open-connectors.js';
import type { Job } from '../../job/job.js';
import { faultPoint } from '../run/fault-points.js';

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

type Op =
  | { readonly op: 'upsert'; readonly row: RowText }
  | { readonly op: 'delete'; readonly key: readonly string[] }
  | { readonly op: 'truncate' }
  | { readonly op: 'mark'; readonly kind: 'low' | 'high' | 'caught-up'; readonly nonce: string };

interface Txn {
  readonly commitLsn: bigint;
  readonly skip: boolean;
  readonly ops: Op[];
}

interface OpenWindow {
  readonly window: WatermarkWindow;
  readonly chunk: Chunk;
  readonly last: boolean;
  readonly reached: { resolve(): void; reject(err: Error): void };
}

/** Open the source, the slot and the target's sink for a CDC job (shared by run, status and drop). */
export async function openCdc(job: Job): Promise<{ settings: CdcSettings; source: PostgresCdcSource; target: Target; session: DuckSession; conn: DuckConn }> {
  const settings = cdcSettings(job);
  if (settings === undefined || job.source.type !== 'postgres') throw new PlanError(`job ${job.name} has no cdc: field on a postgres source`);
  const target = await createTarget(job);
  if (target.openChangeSink === undefined) {
    await target.close().catch(() => {});
    throw new PlanError(`target: ${target.describe()} cannot take a change stream (it cannot apply deletes by key); use a postgres or duckdb target`);
  }
  const session = await DuckSession.create({ ...job.duckdb, threads: Math.min(2, job.duckdb.threads) });
  const conn = await session.connect();
  return { settings, source: new PostgresCdcSource(job.source, settings), target, session, conn };
}

export async function runCdc(job: Job, options: CdcRunOptions = {}): Promise<CdcRunResult> {
  const started = Date.now();
  const events = options.events ?? new EventBus();
  const runId = ulid();
  const { settings, source, target, session, conn } = await openCdc(job);
  const totals = { batches: 0, skipped: 0, changes: 0, upserted: 0, deleted: 0, rowsCopied: 0, rowsDropped: 0 };
  try {
    const columns = await source.describeTable(job.write.key);
    await source.ensurePublication();
    // A new slot has not seen what happened before it: the table is copied again, until a batch records that copy.
    let recopy = await source.ensureSlot();
    const carry = { caughtUpNonce: undefined as string | undefined, caughtUpSeen: false };
    if (options.untilCaughtUp === true) {
      carry.caughtUpNonce = randomUUID();
      await source.emit(`caught-up:${carry.caughtUpNonce}`);
    }
    // A lost connection (source, stream or target) is retried with backoff from the target's position.
    for (let failures = 0; ; ) {
      let state: CdcState | undefined;
      try {
        state = await streamOnce(job, settings, source, target, conn, columns, recopy, carry, events, runId, options, (s) => (state = s));
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
    conn.close();
    session.close();
    await target.close().catch(() => {});
    await source.close().catch(() => {});
  }
}

function add(totals: { batches: number; skipped: number; changes: number; upserted: number; deleted: number; rowsCopied: number; rowsDropped: number }, state: CdcState): void {
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
async function streamOnce(
  job: Job,
  settings: CdcSettings,
  source: PostgresCdcSource,
  target: Target,
  conn: DuckConn,
  columns: readonly ColumnInfo[],
  recopy: boolean,
  carry: { caughtUpNonce: string | undefined; caughtUpSeen: boolean },
  events: EventBus,
  runId: string,
  options: CdcRunOptions,
  started: (state: CdcState) => void,
): Promise<CdcState> {
  let sink: ChangeSink | undefined;
  let stream: PgChangeStream | undefined;
  let state: CdcState | undefined;
  try {
    sink = await target.openChangeSink?.(conn, { job: job.name, columns, key: job.write.key, workDir: join(job.stateDir, 'cdc') });
    if (sink === undefined) throw new PlanError('the target has no change sink');
    let position = await sink.readPosition();
    if (position !== undefined && (recopy || position.slot !== settings.slot)) {
      events.emit('warning', { runId, message: `slot ${settings.slot} is new: copying the table again (rows deleted in the source while no slot existed stay in the target)` });
      position = { lsn: position.lsn, slot: settings.slot, snapshot: { done: false, next: null, to: null, chunksDone: 0, chunksTotal: 0 } };
    }
    const chunking = job.chunking as KeyChunking;
    let snapshot = position?.snapshot ?? { done: false, next: null, to: null, chunksDone: 0, chunksTotal: 0 };
    let todo: Chunk[] = [];
    if (!snapshot.done) {
      if (snapshot.next === null || snapshot.to === null) {
        // Planned once, from the table as it is now (kept with the position); rows added later arrive through the stream.
        const bounds = await source.bounds(chunking.column);
        todo = bounds === undefined && (chunking.from === undefined || chunking.to === undefined) ? [] : planChunks(chunking, bounds);
        const first = todo[0];
        const last = todo[todo.length - 1];
        snapshot = first === undefined || last === undefined
          ? { done: true, next: null, to: null, chunksDone: 0, chunksTotal: 0 }
          : { done: false, next: first.lo, to: last.hi, chunksDone: 0, chunksTotal: todo.length };
      } else {
        todo = planChunks({ ...chunking, from: BigInt(snapshot.next), to: BigInt(snapshot.to) }, undefined);
      }
    }
    state = new CdcState(job, settings, columns, sink, position?.lsn ?? ZERO_LSN, snapshot, events, runId, carry);
    started(state);
    stream = await source.stream(ZERO_LSN);
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

/**
 * The initial copy: for each chunk, a low watermark, the chunk's rows, a high watermark; then wait
 * until the stream reached the high watermark (where the consumer writes the chunk) before the next.
 */
async function copyChunks(state: CdcState, source: PostgresCdcSource, columns: readonly ColumnInfo[], column: string, todo: readonly Chunk[], signal: AbortSignal | undefined): Promise<void> {
  for (let i = 0; i < todo.length; i++) {
    const chunk = todo[i] as Chunk;
    if (signal?.aborted === true || state.stopping) return;
    const window = new WatermarkWindow(chunk.key, randomUUID());
    const reached = new Promise<void>((resolve, reject) => {
      state.window = { window, chunk, last: i === todo.length - 1, reached: { resolve, reject } };
    });
    reached.catch(() => {});
    await source.emit(`low:${window.nonce}`);
    window.rows = await source.readChunk(columns, column, chunk.lo, chunk.hi);
    await source.emit(`high:${window.nonce}`);
    await reached;
  }
  state.copyDone = true;
}

class CdcState {
  stream: PgChangeStream | undefined;
  window: OpenWindow | undefined;
  copyDone: boolean;
  /** The caught-up marker is in the batch being gathered; it counts once that batch has committed. */
  private caughtUpInBatch = false;
  stopping = false;
  batches = 0;
  /** Transactions the stream sent again that the target already held (committed there, not yet confirmed to the slot). */
  skipped = 0;
  changes = 0;
  upserted = 0;
  deleted = 0;
  rowsCopied = 0;
  rowsDropped = 0;
  /** Snapshot progress as of the batch being gathered, and as of the last batch committed. */
  private snapshot: SnapshotProgress;
  committedSnapshot: SnapshotProgress;
  private readonly batch: ChangeBatch;
  private readonly keyIdx: number[];
  private applied: bigint;
  /** Commit LSN and end LSN of the last transaction in the batch. */
  private batchCommit: bigint | undefined;
  private batchEnd: string | undefined;
  private batchSince: number | undefined;
  private txn: Txn | undefined;
  /** The source table's relation id in the stream, set (after checking its columns) by each relation message. */
  private relationOid: number | undefined;

  constructor(
    private readonly job: Job,
    private readonly settings: CdcSettings,
    private readonly columns: readonly ColumnInfo[],
    private readonly sink: ChangeSink,
    appliedLsn: string,
    snapshot: SnapshotProgress,
    private readonly events: EventBus,
    private readonly runId: string,
    /** The caught-up marker, and whether it came through (kept across reconnects: a batch may have applied it). */
    private readonly carry: { caughtUpNonce: string | undefined; caughtUpSeen: boolean },
  ) {
    this.keyIdx = job.write.key.map((k) => columns.findIndex((c) => c.name === k));
    this.batch = new ChangeBatch(this.keyIdx);
    this.applied = parseLsn(appliedLsn);
    this.snapshot = snapshot;
    this.committedSnapshot = snapshot;
    this.copyDone = snapshot.done;
  }

  get appliedLsn(): string {
    return formatLsn(this.applied);
  }

  /** Read the stream until stopped (or caught up), applying a batch at a transaction boundary. */
  async consume(signal: AbortSignal | undefined, untilCaughtUp: boolean, driver: Promise<void>): Promise<void> {
    const stream = this.stream as PgChangeStream;
    let driverError: Error | undefined;
    driver.catch((err: unknown) => (driverError = err as Error));
    try {
      for (;;) {
        if (driverError !== undefined) throw driverError;
        // Between transactions: a stop or being caught up ends the run after the batch is applied.
        if (this.txn === undefined) {
          const done = (signal?.aborted ?? false) || (untilCaughtUp && (this.carry.caughtUpSeen || this.caughtUpInBatch) && this.copyDone);
          if (done || this.batchDue()) await this.flush();
          if (done) return;
        }
        const item = await stream.next(200);
        if (item === undefined) continue;
        if (item.kind === 'keepalive') {
          // Everything before the server's position has come through and nothing waits to be applied:
          // the slot may let that WAL go (writes to other tables would otherwise hold it back).
          if (this.txn === undefined && this.batchCommit === undefined) stream.confirm(item.walEnd);
          continue;
        }
        this.handle(item.message);
      }
    } finally {
      this.stopping = true;
      this.window?.reached.reject(new AbortedError('the cdc run stopped'));
    }
  }

  private batchDue(): boolean {
    if (this.batchCommit === undefined) return false;
    if (this.batch.operations >= this.settings.batchRows) return true;
    return this.batchSince !== undefined && Date.now() - this.batchSince >= this.settings.batchWaitMs;
  }

  private handle(message: Pgoutput.Message): void {
    switch (message.tag) {
      case 'begin': {
        const commitLsn = parseLsn(message.commitLsn ?? ZERO_LSN);
        // Already in the target: its batch committed there before the slot heard of it.
        this.txn = { commitLsn, skip: commitLsn <= this.applied, ops: [] };
        return;
      }
      case 'relation':
        if (`${message.schema}.${message.name}` === this.settings.table) this.checkRelation(message);
        return;
      case 'insert':
        if (this.ours(message.relation)) this.txn?.ops.push({ op: 'upsert', row: this.rowOf(message.new) });
        return;
      case 'update': {
        if (!this.ours(message.relation)) return;
        const row = this.rowOf(message.new);
        const before = message.key ?? message.old;
        if (before !== null) {
          // The key changed (or the identity is FULL): the old key goes first.
          const oldKey = this.job.write.key.map((k) => before[k] as string);
          const newKey = this.keyIdx.map((i) => row[i] as string);
          if (keyText(oldKey) !== keyText(newKey)) this.txn?.ops.push({ op: 'delete', key: oldKey });
        }
        this.txn?.ops.push({ op: 'upsert', row });
        return;
      }
      case 'delete': {
        if (!this.ours(message.relation)) return;
        const before = message.key ?? message.old ?? {};
        this.txn?.ops.push({ op: 'delete', key: this.job.write.key.map((k) => before[k] as string) });
        return;
      }
      case 'truncate':
        if (message.relations.some((r) => this.ours(r))) this.txn?.ops.push({ op: 'truncate' });
        return;
      case 'message': {
        if (message.prefix !== WATERMARK_PREFIX) return;
        const mark = parseWatermark(Buffer.from(message.content).toString('utf8'));
        if (mark !== undefined) this.txn?.ops.push({ op: 'mark', ...mark });
        return;
      }
      case 'commit':
        this.commit(message);
        return;
      default:
        return;
    }
  }

  private ours(relation: Pgoutput.MessageRelation): boolean {
    return relation.relationOid === this.relationOid;
  }

  private checkRelation(relation: Pgoutput.MessageRelation): void {
    const names = relation.columns.map((c) => c.name);
    const want = this.columns.map((c) => c.name);
    const added = names.filter((n) => !want.includes(n));
    const lost = want.filter((n) => !names.includes(n));
    if (added.length > 0 || lost.length > 0) {
      throw new PlanError(
        `the columns of ${this.settings.table} changed while streaming (${[...added.map((n) => `added ${n}`), ...lost.map((n) => `dropped ${n}`)].join(', ')}); ` +
          'change data capture does not follow schema changes: change the target table to match, then run again',
      );
    }
    this.relationOid = relation.relationOid;
  }

  private rowOf(tuple: Record<string, unknown>): RowText {
    return this.columns.map((c) => tuple[c.name] as string | null | undefined);
  }

  private commit(message: Pgoutput.MessageCommit): void {
    const txn = this.txn;
    this.txn = undefined;
    if (txn === undefined) return;
    if (txn.skip) {
      this.skipped++;
      // Nothing is waiting to be applied before it: the slot may forget this transaction now.
      if (this.batchCommit === undefined && message.commitEndLsn !== null) this.stream?.confirm(message.commitEndLsn);
      return;
    }
    const window = this.window;
    for (const op of txn.ops) {
      switch (op.op) {
        case 'upsert':
          window?.window.saw(this.batch.keyOf(op.row), op.row);
          this.batch.upsert(op.row);
          this.changes++;
          break;
        case 'delete':
          window?.window.saw(keyText(op.key), null);
          this.batch.delete(op.key);
          this.changes++;
          break;
        case 'truncate':
          window?.window.sawTruncate();
          this.batch.truncate();
          this.changes++;
          break;
        case 'mark':
          this.mark(op.kind, op.nonce);
          break;
      }
    }
    if (txn.ops.length === 0 && this.batchCommit === undefined) {
      // A transaction with nothing for this table, nothing pending before it.
      if (message.commitEndLsn !== null) this.stream?.confirm(message.commitEndLsn);
      return;
    }
    this.batchCommit = txn.commitLsn;
    this.batchEnd = message.commitEndLsn ?? undefined;
    this.batchSince ??= Date.now();
  }

  private mark(kind: 'low' | 'high' | 'caught-up', nonce: string): void {
    if (kind === 'caught-up') {
      if (nonce === this.carry.caughtUpNonce) this.caughtUpInBatch = true;
      return;
    }
    const open = this.window;
    if (open === undefined || open.window.nonce !== nonce) return;
    if (kind === 'low') {
      open.window.low();
      return;
    }
    if (!open.window.isOpen) return;
    // High watermark: the chunk's rows that nothing in the window changed go in here, in stream order.
    const { rows, dropped } = open.window.survivors((r) => this.batch.keyOf(r));
    for (const row of rows) this.batch.upsert(row);
    this.rowsCopied += rows.length;
    this.rowsDropped += dropped;
    this.snapshot = {
      done: open.last,
      next: open.last ? null : open.chunk.hi,
      to: open.last ? null : this.snapshot.to,
      chunksDone: this.snapshot.chunksDone + 1,
      chunksTotal: this.snapshot.chunksTotal,
    };
    this.window = undefined;
    this.events.emit('cdc:chunk', { runId: this.runId, chunk: { key: open.chunk.key, lo: open.chunk.lo, hi: open.chunk.hi }, rows: rows.length, dropped });
    open.reached.resolve();
  }

  /** Apply the batch and its position in one target transaction; only then confirm it to the slot. */
  private async flush(): Promise<void> {
    if (this.batchCommit === undefined) return;
    const started = Date.now();
    const operations = this.batch.operations;
    const changes = this.batch.take();
    const position: CdcPosition = { lsn: formatLsn(this.batchCommit), slot: this.settings.slot, snapshot: this.snapshot };
    let result;
    try {
      result = await this.sink.apply(changes, position);
    } catch (err) {
      throw err instanceof PlanError || err instanceof ConnectorError ? err : new ConnectorError(`applying changes to ${this.sink.describe()}: ${(err as Error).message}`, { cause: err });
    }
    faultPoint('cdc-after-commit');
    if (this.caughtUpInBatch) this.carry.caughtUpSeen = true;
    this.applied = this.batchCommit;
    this.committedSnapshot = this.snapshot;
    if (this.batchEnd !== undefined) this.stream?.confirm(this.batchEnd);
    this.batchCommit = undefined;
    this.batchEnd = undefined;
    this.batchSince = undefined;
    this.batches++;
    this.upserted += result.upserted;
    this.deleted += result.deleted;
    this.events.emit('cdc:batch', { runId: this.runId, lsn: position.lsn, operations, upserted: result.upserted, deleted: result.deleted, ms: Date.now() - started });
  }
}
