// The neutral change events a change-data-capture source hands the engine, whatever its log format.

import type { RowText } from './cdc-changes.js';

/** Which watermark a mark is: the copy window's bounds, or the end of what existed at the run's start. */
export type WatermarkKind = 'low' | 'high' | 'caught-up';

/**
 * One event of the change stream, in log order. Positions are the log's own order as integers
 * (the source prints them for the target's record); a transaction's changes lie between its
 * `begin` and `commit`.
 */
export type ChangeEvent =
  /** A source transaction starts; `commit` is where it commits in the log (0 when the log does not say). */
  | { readonly kind: 'begin'; readonly commit: bigint }
  /** An insert or update of the table: the new row, in the table's column order. */
  | { readonly kind: 'upsert'; readonly row: RowText }
  /** A delete (or the old key of an update that changed it): the key values in key order. */
  | { readonly kind: 'delete'; readonly key: readonly string[] }
  | { readonly kind: 'truncate' }
  /** A watermark the run itself wrote into the log. */
  | { readonly kind: 'mark'; readonly mark: WatermarkKind; readonly nonce: string }
  /** The transaction committed; `end` is the position to confirm once it is applied. */
  | { readonly kind: 'commit'; readonly end: bigint | undefined }
  /** The log is idle up to `position`: nothing before it is left to come. */
  | { readonly kind: 'idle'; readonly position: bigint };
