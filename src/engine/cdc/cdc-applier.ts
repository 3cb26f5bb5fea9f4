// The stream's applier: gathers each source transaction's changes, adds whole transactions to a
// micro-batch collapsed per key, writes the initial copy's chunks at their high watermarks, and applies
// a batch with its position in one target transaction, confirming it to the source only afterwards.

import type { CdcPosition, ChangeSink, SnapshotProgress } from '../../connectors/change-sink.js';
import type { CdcSettings, ChangeSource, ChangeStream } from '../../connectors/change-source.js';
import type { ColumnInfo } from '../../connectors/connector.js';
import { ChangeBatch, keyText } from '../../core/cdc-changes.js';
import type { ChangeEvent, WatermarkKind } from '../../core/change-events.js';
import { AbortedError, ConnectorError, PlanError } from '../../core/errors.js';
import type { EventBus } from '../../core/events.js';
import { faultPoint } from '../run/fault-points.js';
import type { CopyGate, OpenWindow } from './cdc-initial-copy.js';

/** What a transaction holds until its commit. */
type Op = Extract<ChangeEvent, { readonly kind: 'upsert' | 'delete' | 'truncate' | 'mark' }>;

interface Txn {
  readonly commitLsn: bigint;
  readonly skip: boolean;
  readonly ops: Op[];
}

/** The caught-up marker, and whether it came through (kept across reconnects: a batch may have applied it). */
export interface CaughtUp {
  caughtUpNonce: string | undefined;
  caughtUpSeen: boolean;
}

export interface ApplierSpec {
  readonly settings: CdcSettings;
  readonly key: readonly string[];
  readonly columns: readonly ColumnInfo[];
  readonly sink: ChangeSink;
  /** Prints and reads positions as the target records them. */
  readonly positions: Pick<ChangeSource, 'formatPosition' | 'parsePosition'>;
  /** The target's recorded position; undefined when it holds none. */
  readonly appliedLsn: string | undefined;
  readonly snapshot: SnapshotProgress;
  readonly events: EventBus;
  readonly runId: string;
  readonly carry: CaughtUp;
}

export class ChangeApplier implements CopyGate {
  stream: ChangeStream | undefined;
  window: OpenWindow | undefined;
  copyDone: boolean;
  /** The caught-up marker is in the batch being gathered; it counts once that batch has committed. */
  private caughtUpInBatch = false;
  stopping = false;
  batches = 0;
  /** Transactions the stream sent again that the target already held (committed there, not yet confirmed to the source). */
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
  private applied: bigint;
  /** Commit position and end position of the last transaction in the batch. */
  private batchCommit: bigint | undefined;
  private batchEnd: bigint | undefined;
  private batchSince: number | undefined;
  private txn: Txn | undefined;

  constructor(private readonly spec: ApplierSpec) {
    this.batch = new ChangeBatch(spec.key.map((k) => spec.columns.findIndex((c) => c.name === k)));
    this.applied = spec.appliedLsn === undefined ? 0n : spec.positions.parsePosition(spec.appliedLsn);
    this.snapshot = spec.snapshot;
    this.committedSnapshot = spec.snapshot;
    this.copyDone = spec.snapshot.done;
  }

  get appliedLsn(): string {
    return this.spec.positions.formatPosition(this.applied);
  }

  /** Read the stream until stopped (or caught up), applying a batch at a transaction boundary. */
  async consume(signal: AbortSignal | undefined, untilCaughtUp: boolean, driver: Promise<void>): Promise<void> {
    const stream = this.stream as ChangeStream;
    let driverError: Error | undefined;
    driver.catch((err: unknown) => (driverError = err as Error));
    try {
      for (;;) {
        if (driverError !== undefined) throw driverError;
        // Between transactions: a stop or being caught up ends the run after the batch is applied.
        if (this.txn === undefined) {
          const done = (signal?.aborted ?? false) || (untilCaughtUp && (this.spec.carry.caughtUpSeen || this.caughtUpInBatch) && this.copyDone);
          if (done || this.batchDue()) await this.flush();
          if (done) return;
        }
        const events = await stream.next(200);
        if (events === undefined) continue;
        for (const event of events) this.handle(event);
      }
    } finally {
      this.stopping = true;
      this.window?.reached.reject(new AbortedError('the cdc run stopped'));
    }
  }

  private batchDue(): boolean {
    if (this.batchCommit === undefined) return false;
    if (this.batch.operations >= this.spec.settings.batchRows) return true;
    return this.batchSince !== undefined && Date.now() - this.batchSince >= this.spec.settings.batchWaitMs;
  }

  private handle(event: ChangeEvent): void {
    switch (event.kind) {
      case 'idle':
        // Everything before the source's position has come through and nothing waits to be applied:
        // the source may let it go (writes to other tables would otherwise hold it back).
        if (this.txn === undefined && this.batchCommit === undefined) this.stream?.confirm(event.position);
        return;
      case 'begin':
        // Already in the target: its batch committed there before the source heard of it.
        this.txn = { commitLsn: event.commit, skip: event.commit <= this.applied, ops: [] };
        return;
      case 'upsert':
      case 'delete':
      case 'truncate':
      case 'mark':
        this.txn?.ops.push(event);
        return;
      case 'commit':
        this.commit(event.end);
        return;
    }
  }

  private commit(end: bigint | undefined): void {
    const txn = this.txn;
    this.txn = undefined;
    if (txn === undefined) return;
    if (txn.skip) {
      this.skipped++;
      // Nothing is waiting to be applied before it: the source may forget this transaction now.
      if (this.batchCommit === undefined && end !== undefined) this.stream?.confirm(end);
      return;
    }
    const window = this.window;
    for (const op of txn.ops) {
      switch (op.kind) {
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
          this.mark(op.mark, op.nonce);
          break;
      }
    }
    if (txn.ops.length === 0 && this.batchCommit === undefined) {
      // A transaction with nothing for this table, nothing pending before it.
      if (end !== undefined) this.stream?.confirm(end);
      return;
    }
    this.batchCommit = txn.commitLsn;
    this.batchEnd = end;
    this.batchSince ??= Date.now();
  }

  private mark(kind: WatermarkKind, nonce: string): void {
    if (kind === 'caught-up') {
      if (nonce === this.spec.carry.caughtUpNonce) this.caughtUpInBatch = true;
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
    this.spec.events.emit('cdc:chunk', { runId: this.spec.runId, chunk: { key: open.chunk.key, lo: open.chunk.lo, hi: open.chunk.hi }, rows: rows.length, dropped });
    open.reached.resolve();
  }

  /** Apply the batch and its position in one target transaction; only then confirm it to the source. */
  private async flush(): Promise<void> {
    if (this.batchCommit === undefined) return;
    const { sink, events, runId } = this.spec;
    const started = Date.now();
    const operations = this.batch.operations;
    const changes = this.batch.take();
    const position: CdcPosition = { lsn: this.spec.positions.formatPosition(this.batchCommit), slot: this.spec.settings.slot, snapshot: this.snapshot };
    let result;
    try {
      result = await sink.apply(changes, position);
    } catch (err) {
      throw err instanceof PlanError || err instanceof ConnectorError ? err : new ConnectorError(`applying changes to ${sink.describe()}: ${(err as Error).message}`, { cause: err });
    }
    faultPoint('cdc-after-commit');
    if (this.caughtUpInBatch) this.spec.carry.caughtUpSeen = true;
    this.applied = this.batchCommit;
    this.committedSnapshot = this.snapshot;
    if (this.batchEnd !== undefined) this.stream?.confirm(this.batchEnd);
    this.batchCommit = undefined;
    this.batchEnd = undefined;
    this.batchSince = undefined;
    this.batches++;
    this.upserted += result.upserted;
    this.deleted += result.deleted;
    events.emit('cdc:batch', { runId, lsn: position.lsn, operations, upserted: result.upserted, deleted: result.deleted, ms: Date.now() - started });
  }
}
