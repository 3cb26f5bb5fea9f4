// What a target does for change data capture: apply a micro-batch and record the stream's position in one transaction.

import type { ColumnInfo } from '../core/column.js';
import type { ChangeSet } from '../core/cdc-changes.js';

/** How far the initial copy of the table has gone (chunks are copied in key order). */
export interface SnapshotProgress {
  readonly done: boolean;
  /** Lower bound of the next chunk to copy; null before the copy is planned or once it is done. */
  readonly next: string | null;
  /** Exclusive upper bound of the copy, fixed when it was planned. */
  readonly to: string | null;
  readonly chunksDone: number;
  readonly chunksTotal: number;
}

/** The stream position recorded in the target, committed with the data it covers. */
export interface CdcPosition {
  /** Commit LSN of the last transaction applied; a transaction committing at or before it is skipped on resume. */
  readonly lsn: string;
  /** The replication slot the position belongs to. */
  readonly slot: string;
  readonly snapshot: SnapshotProgress;
}

export interface ChangeSinkSpec {
  readonly job: string;
  /** The source table's columns, in its order: `pgType` as PostgreSQL prints it, `type` the DuckDB equivalent. */
  readonly columns: readonly ColumnInfo[];
  readonly key: readonly string[];
  /** A folder for the sink's working files. */
  readonly workDir: string;
  /** Only to read or forget the position (status, drop): create and check nothing. */
  readonly readOnly?: boolean;
}

export interface ApplyResult {
  /** Rows inserted or really changed. */
  readonly upserted: number;
  readonly deleted: number;
}

export interface ChangeSink {
  /** The position recorded by the last batch applied, if any. */
  readPosition(): Promise<CdcPosition | undefined>;
  /** In ONE transaction: the batch's changes (truncate, deletes, upserts) and the new position. */
  apply(changes: ChangeSet, position: CdcPosition): Promise<ApplyResult>;
  /** Remove the recorded position (the slot was dropped: a new one starts over with a full copy). */
  forget(): Promise<void>;
  describe(): string;
  close(): Promise<void>;
}
