// What a change-data-capture source offers the engine: the table, the initial copy's reads, a stream
// of neutral change events with positions, confirmations, and the health and removal of its slot.

import type { RowText } from '../core/cdc-changes.js';
import type { ChangeEvent, WatermarkKind } from '../core/change-events.js';
import type { ColumnInfo } from '../core/column.js';

/** The settings a change-data-capture job resolves to (checked against the rest of the job). */
export type { CdcSettings } from '../core/cdc-settings.js';

/** The slot's state as `status` shows it. */
export interface SlotHealth {
  readonly slot: string;
  readonly exists: boolean;
  readonly active: boolean;
  readonly activePid: number | null;
  readonly confirmedFlushLsn: string | null;
  readonly restartLsn: string | null;
  readonly currentLsn: string;
  /** WAL written since the slot's confirmed position: what the target is behind by. */
  readonly lagBytes: number | null;
  /** WAL the server keeps for the slot (since its restart position). */
  readonly retainedBytes: number | null;
  readonly publication: string;
  readonly publicationExists: boolean;
  /** 'lost' when the server gave up the slot's WAL (max_slot_wal_keep_size). */
  readonly walStatus: string | null;
}

export interface ChangeStreamSpec {
  /** The table's columns, as `describeTable` returned them: rows come in this order. */
  readonly columns: readonly ColumnInfo[];
  readonly key: readonly string[];
}

/** The log from the slot's confirmed position on, as neutral events. */
export interface ChangeStream {
  /**
   * The events of the next message of the log (possibly none: a message of no concern), or
   * undefined after `waitMs` without one. Throws when the stream failed or ended.
   */
  next(waitMs: number): Promise<readonly ChangeEvent[] | undefined>;
  /** Everything up to `position` is durably applied: the source may forget it. */
  confirm(position: bigint): void;
  close(): Promise<void>;
}

export interface ChangeSource {
  /** The table's columns in their order, after checking the server, the key and what deletes carry. */
  describeTable(key: readonly string[]): Promise<ColumnInfo[]>;
  /** Create what streaming needs when missing; `newSlot` when the slot is new (it has not seen the past). */
  prepare(): Promise<{ readonly newSlot: boolean }>;
  /** Write a watermark into the log, committed before this returns. */
  emitWatermark(kind: WatermarkKind, nonce: string): Promise<void>;
  /** min/max of the key column the initial copy is chunked by; undefined for an empty table. */
  bounds(column: string): Promise<{ readonly min: bigint; readonly max: bigint } | undefined>;
  /** One chunk of the initial copy, `lo <= column < hi`: every column as text, as the stream would carry it. */
  readChunk(columns: readonly ColumnInfo[], column: string, lo: string, hi: string): Promise<RowText[]>;
  /** Start streaming from the slot's confirmed position. */
  openStream(spec: ChangeStreamSpec): Promise<ChangeStream>;
  /** A position as the target records it, and back. */
  formatPosition(position: bigint): string;
  parsePosition(text: string): bigint;
  health(): Promise<SlotHealth>;
  /** Drop the slot (refused while a process streams from it) and the publication; what is already gone is fine. */
  drop(): Promise<{ readonly slot: boolean; readonly publication: boolean }>;
  describe(): string;
  close(): Promise<void>;
}
