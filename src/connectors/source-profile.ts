// What a source tells `backfill profile` about its data from its own statistics and catalog: the shapes each connector's `<system>-profile.ts` returns.

import type { Chunk } from '../core/chunk.js';
import type { DuckConn } from '../runtime/duckdb-session.js';

/** A figure and where it came from (`pg_class.reltuples`, `parquet footers`, `exact count`…), so a reader knows how far to trust it. */
export interface Figure<T> {
  readonly value: T;
  readonly source: string;
}

/**
 * How the rows spread over the chunk column, as the source knows it. Values are numbers: epoch
 * milliseconds for time columns, the integers themselves for keys.
 * - `histogram`: equi-depth bucket bounds (PostgreSQL `pg_stats`): each bucket holds the same share of `rows`.
 * - `ranges`: pieces each holding `rows` spread evenly over `[lo, hi]` (Parquet row groups, dated files, index estimates).
 * - `counts`: the exact rows of each requested chunk, in request order.
 */
export type RowSpread =
  | { readonly kind: 'histogram'; readonly bounds: readonly number[]; readonly rows: number; readonly source: string }
  | { readonly kind: 'ranges'; readonly ranges: readonly { readonly lo: number; readonly hi: number; readonly rows: number }[]; readonly source: string }
  | { readonly kind: 'counts'; readonly counts: readonly number[]; readonly source: string };

export interface ProfileRequest {
  /** The chunk column, its kind and its DuckDB type. */
  readonly column: string;
  readonly kind: 'time' | 'key';
  readonly columnType: string;
  /** The job's chunks, in order; `counts` answer in this order. */
  readonly chunks: readonly Chunk[];
  /** Count per chunk with one aggregate query instead of reading statistics. */
  readonly exact: boolean;
  /** The merge key (`write.key`), whose uniqueness is checked; empty when the job has none. */
  readonly key: readonly string[];
  /** min/max of the chunk column as numbers, as planning found them; undefined for an empty source. */
  readonly bounds: { readonly min: number; readonly max: number } | undefined;
  /** The job's time zone (`chunk.timezone`; UTC for key chunks): dated file names are read in it. */
  readonly timezone: string;
  /** A DuckDB connection on which the source is attached (for sources DuckDB reads). */
  readonly conn: DuckConn;
}

/** Duplicate merge keys in the source: how many keys occur more than once, and a few of them. */
export interface DuplicateKeys {
  readonly keys: number;
  readonly examples: readonly { readonly key: string; readonly rows: number }[];
  readonly source: string;
}

/**
 * A source's own account of its data. Every member is optional: what a source leaves out, the
 * engine measures over `Source.relation()` with DuckDB (sources DuckDB reads), or reports unknown.
 */
export interface SourceProfile {
  readonly rows?: Figure<number>;
  readonly bytes?: Figure<number>;
  /** Rows whose chunk column is NULL. */
  readonly nullRows?: Figure<number>;
  readonly spread?: RowSpread;
  /** Whether an index leads with the chunk column, and the statement that adds one; absent where indexes do not apply (files). */
  readonly chunkIndex?: { readonly present: boolean; readonly statement: string; readonly table: string };
  /** The chunk column is a timestamp without time zone. */
  readonly zoneless?: boolean;
  readonly duplicates?: DuplicateKeys;
  /**
   * Edges (as numbers, like `spread`) of the pieces a chunk's read takes whole even when it wants
   * part of one: dated files pruned by name. The duration sample cuts its slices on them.
   */
  readonly wholeReads?: readonly number[];
  /**
   * The cheapest of those pieces to read — uncompressed files, fewest bytes first, with their
   * estimated rows — for the duration sample to warm up on (a gzipped file is inflated on one
   * thread and checked whole first, several times a plain file's time).
   */
  readonly lightPieces?: readonly LightPiece[];
}

/** A piece a read takes whole (a dated file), as numbers like `spread`, with its estimated rows. */
export interface LightPiece {
  readonly lo: number;
  readonly hi: number;
  readonly rows: number;
}
