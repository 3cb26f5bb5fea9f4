// The contract every connector folder implements: a source, a target, capabilities as data.

import type { Chunk } from '../core/chunk.js';
import type { SourceBounds } from '../core/planner.js';
import type { WriteMode } from '../job/job.js';
import type { DuckConn } from './duckdb/duckdb-session.js';

export interface ColumnInfo {
  readonly name: string;
  /** DuckDB type name, e.g. BIGINT, TIMESTAMP, DECIMAL(12,2). */
  readonly type: string;
}

export interface SourceCapabilities {
  /**
   * Reading one chunk touches only that chunk's data (file names, hive folders, row-group
   * statistics). When false the engine stages all pending chunks in one pass instead of
   * scanning the whole source once per chunk.
   */
  readonly prunes: boolean;
  /** min/max of the chunk column come without a scan (from file names). */
  readonly cheapBounds: boolean;
}

/** Everything the source needs to know about a chunk to read it. */
export interface ChunkRead {
  readonly chunk: Chunk;
  readonly column: string;
  readonly literals: { readonly lo: string; readonly hi: string };
}

export interface Source {
  readonly capabilities: SourceCapabilities;
  /** One-time setup before planning: list files, check the configuration. */
  prepare(conn: DuckConn): Promise<void>;
  /** Connection-level setup (ATTACH …) for each chunk's connection. */
  attach(conn: DuckConn): Promise<void>;
  /** Changes whenever the source data may have changed (file names, sizes, times); undefined if unknown. */
  fingerprint(): string | undefined;
  /** The whole source as a DuckDB relation usable after FROM. */
  relation(): string;
  /** The rows of one chunk (predicate included) as a relation usable after FROM. */
  chunkRelation(read: ChunkRead): string;
  /** Bounds known without scanning the data, when the capability says so. */
  knownBounds(): SourceBounds | undefined;
  /** Text for messages, e.g. "csv data/*.csv (730 files)". */
  describe(): string;
}

export interface TargetCapabilities {
  readonly modes: readonly WriteMode[];
  /** How replace mode finds a chunk's old rows: by the chunk column's range, or by the files the chunk wrote. */
  readonly replaceBy: 'range' | 'chunk';
  /** The chunk's data and a commit marker commit in one transaction in the target. */
  readonly transactional: boolean;
  /** At most this many chunk writes at once; undefined for no limit. */
  readonly maxConcurrentWrites: number | undefined;
}

export interface ChunkWrite {
  readonly chunk: Chunk;
  readonly token: number;
  /** Completions of this chunk so far; names append output so that a replay overwrites it. */
  readonly generation: number;
  readonly mode: WriteMode;
  readonly key: readonly string[];
  /** A SELECT producing the chunk's output rows. */
  readonly query: string;
  /** The chunk column in the output, with literals of its bounds typed for the output column. */
  readonly range: { readonly column: string; readonly lo: string; readonly hi: string } | undefined;
  readonly conn: DuckConn;
  readonly signal: AbortSignal;
}

export interface WriteResult {
  readonly rowsWritten: number;
  readonly bytes: number;
}

export interface Target {
  readonly capabilities: TargetCapabilities;
  /** Create or check the destination for these output columns; clean leftovers of dead runs. */
  prepare(conn: DuckConn, columns: readonly ColumnInfo[]): Promise<void>;
  /** Connection-level setup for a chunk's connection (ATTACH …). */
  attach(conn: DuckConn): Promise<void>;
  write(write: ChunkWrite): Promise<WriteResult>;
  /** For transactional targets: the fencing token of the chunk's last committed write, if any. */
  committedToken(conn: DuckConn, chunk: Chunk): Promise<{ token: number; rows: number } | undefined>;
  describe(): string;
}
