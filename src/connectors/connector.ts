// The contract every connector folder implements: a source, a target, capabilities as data.

import type { Chunk, RangeLiterals } from '../core/chunk.js';
import { SourceDataError } from '../core/errors.js';
import type { JobChunking, SourceBounds } from '../core/planner.js';
import type { BackupRecord, WriteMode } from '../core/write.js';
import type { ColumnInfo } from '../core/column.js';
import type { DuckConn } from '../runtime/duckdb-session.js';
import type { ChangeSink, ChangeSinkSpec } from './change-sink.js';
import type { ProfileRequest, SourceProfile } from './source-profile.js';
import type { SourceHealth } from './source-health.js';
import type { CumulativeRequest, CumulativeRow } from './source-cut.js';

export type { CumulativeRequest, CumulativeRow } from './source-cut.js';

export type { ColumnInfo } from '../core/column.js';

/**
 * What a connector learns of the job it serves: never the whole job. Commit markers and scratch
 * names are kept per job name; fetch, load and scratch files go under the job's state folder.
 */
export interface ConnectorContext {
  readonly job: string;
  readonly stateDir: string;
  readonly chunking: JobChunking;
  readonly write: { readonly mode: WriteMode; readonly key: readonly string[] };
}

export interface SourceContext extends ConnectorContext {
  /** SQL the source database runs over the source (`transformIn: source`); undefined otherwise. */
  readonly sourceTransform: string | undefined;
  /** The engine's DuckDB runs under a memory limit, so readers keep their buffers small. */
  readonly memoryLimited: boolean;
}

export type TargetContext = ConnectorContext;

export interface SourceCapabilities {
  /**
   * Reading one chunk touches only that chunk's data (file names, hive folders, row-group
   * statistics). When false the engine stages all pending chunks in one pass instead of
   * scanning the whole source once per chunk.
   */
  readonly prunes: boolean;
  /** min/max of the chunk column come without a scan (from file names). */
  readonly cheapBounds: boolean;
  /** Can stream a chunk in PostgreSQL's COPY text format (`copyOut`). */
  readonly copyText: boolean;
}

/** A chunk's rows as a PostgreSQL COPY text stream, straight from a PostgreSQL source. */
/** PostgreSQL's COPY formats: text, or binary (faster, but only between columns of the same types). */
export type CopyFormat = 'text' | 'binary';

export interface CopyOut {
  readonly stream: NodeJS.ReadableStream;
  /** Give the connection back; `broken` when the stream failed midway. */
  release(broken: boolean): void;
}

/** Everything the source needs to know about a chunk to read it. */
export interface ChunkRead {
  readonly chunk: Chunk;
  /** The chunk column ('' for the one chunk of a job without one: its literals are empty, every row). */
  readonly column: string;
  /** Several chunk columns compared as a tuple (`chunk.column: [a, b]` with rows); `column` is then the first. */
  readonly columns?: readonly string[] | undefined;
  readonly literals: RangeLiterals;
  /** Read instead the rows whose chunk column is NULL (they belong to no chunk; the engine counts them as rejected). */
  readonly nulls?: boolean;
}

export interface Source {
  readonly capabilities: SourceCapabilities;
  /** One-time setup before planning: list files, check the configuration. */
  prepare(conn: DuckConn): Promise<void>;
  /** Connection-level setup (ATTACH …) for each chunk's connection. */
  attach(conn: DuckConn): Promise<void>;
  /** Columns with their native types, when the source system has them (database sources). */
  nativeColumns?(): readonly ColumnInfo[];
  /** Changes whenever the source data may have changed (file names, sizes, times); undefined if unknown. */
  fingerprint(): string | undefined;
  /**
   * The whole source as a DuckDB relation usable after FROM: described for its columns and,
   * for a source that cannot prune, staged in one pass. A source outside DuckDB (a database
   * server) returns an empty relation with the right columns and types.
   */
  relation(): string;
  /** The rows of one chunk (predicate included) as a DuckDB relation; may first fetch them to local files. */
  openChunk(read: ChunkRead, conn: DuckConn, signal: AbortSignal): Promise<OpenedChunk>;
  /** Bounds known without scanning the data, when the capability says so. */
  knownBounds(): SourceBounds | undefined;
  /**
   * min/max of the chunk column measured in the source system itself (a database's index),
   * as text: epoch milliseconds for timestamps, `YYYY-MM-DD` for dates, integers for keys.
   * Sources without it are measured by DuckDB over `relation()`.
   */
  measureBounds?(column: string, kind: 'time' | 'key', columnType: string): Promise<{ min: string | null; max: string | null }>;
  /**
   * `chunk.rows` on a database server: `cumulativeCountSql` run in the source itself, so its own
   * collation orders text. Sources without it are counted by DuckDB over `relation()`.
   */
  cumulativeCounts?(request: CumulativeRequest): Promise<readonly CumulativeRow[]>;
  /** The collation a text chunk column sorts by when it is not byte order: its range chunks cannot be found again by range in a target. */
  textCollation?(column: string): Promise<string | undefined>;
  /** All rows of the source, counted in the source system (sources whose `relation()` is empty). */
  countRows?(): Promise<number>;
  /** Text for messages, e.g. "csv data/*.csv (730 files)"; never holds a password. */
  describe(): string;
  close(): Promise<void>;
  /** For readers that can set bad lines aside (CSV) instead of failing the whole read. */
  readonly rejectReader?: RejectReader;
  /** A database that streams PostgreSQL COPY and runs chunk SQL itself; announced by `capabilities.copyText`. */
  readonly copy?: CopySource;
  /** A source made of files: the engine names them in messages and checks each one's columns. */
  readonly fileSet?: FileSet;
  /** `backfill profile`: what the source knows of its data from its catalog or metadata (see source-profile.ts); changes nothing. */
  profile?(request: ProfileRequest): Promise<SourceProfile>;
  /** Database sources (`traits.probes`): replica lag, load and latency for the run's limits (docs/limits.md). */
  readonly health?: SourceHealth;
}

/** What a source that speaks COPY offers beyond `Source`: the chunk as COPY text, or as SQL a target in the same database runs. */
export interface CopySource {
  /** `host:port/database`: a target in the same database can run the chunk as one INSERT … SELECT. */
  readonly database: string;
  /** The chunk's output rows as a SELECT in the source database's own SQL (pushdown into a target in the same database). */
  chunkSql(read: ChunkRead): string;
  /** The chunk's rows (all columns, source order) as COPY text (or binary). */
  copyOut(read: ChunkRead, signal: AbortSignal, format?: CopyFormat): Promise<CopyOut>;
}

/** What a source made of files offers beyond `Source`. */
export interface FileSet {
  /**
   * Files that differ in their own columns (a CSV header, a Parquet schema), as groups in file
   * order, each readable on its own; `byChunk` when each chunk reads only its own files (so a
   * changed file fails only its chunks). Sources without it are one group: `relation()`.
   */
  schemaGroups(): { readonly groups: readonly SchemaGroup[]; readonly byChunk: boolean };
  /** The files a chunk reads, for messages. */
  chunkFiles(read: ChunkRead): readonly string[];
}

/** One row kept aside: where it came from, its text, and why it was refused. */
export interface RejectedRow {
  /** The source file, when the row came from one. */
  readonly source: string | null;
  /** 1-based line in that file. */
  readonly line: number | null;
  /** The row's key, when known (target refusals). */
  readonly key: string | null;
  /** The row as read: the raw line, or the row as JSON. */
  readonly raw: string;
  readonly reason: string;
}

/** A target refused more rows than `ChunkWrite.maxRejects` allows; nothing of the chunk was written. Carries the rows found. */
export class TooManyRejectsError extends SourceDataError {
  constructor(
    message: string,
    readonly rejects: Rejects,
  ) {
    super(message);
  }
}

/** Rejected rows of one read or write: the exact count, and the rows kept (a bounded number). */
export interface Rejects {
  readonly count: number;
  readonly rows: readonly RejectedRow[];
}

/** The same relations as the source's, reading past bad lines and keeping them on the connection. */
export interface RejectReader {
  relation(): string;
  /** The chunk's rows, bad lines set aside: its files are checked first as `Source.openChunk` checks them (a `.gz` file found whole). */
  chunkRelation(read: ChunkRead): Promise<string>;
  /** The lines set aside by reads on this connection since the last call (at most `keep` rows kept); clears them. */
  take(conn: DuckConn, keep: number): Promise<Rejects>;
  /** For readers that turn a line they cannot parse into a row of NULLs (JSON lines): find those lines in the files, with their place. Only called when such rows turned up. */
  locate?(conn: DuckConn, keep: number): Promise<readonly RejectedRow[]>;
}

/** Source files sharing one set of columns. */
export interface SchemaGroup {
  readonly files: readonly string[];
  /** The group's files as a DuckDB relation with their own columns. */
  readonly relation: string;
}

export interface OpenedChunk {
  readonly relation: string;
  /** Remove anything fetched for the chunk. */
  close(): Promise<void>;
}

/** For sources DuckDB reads in place: the chunk is just a filtered relation. */
export function inPlace(relation: string): OpenedChunk {
  return { relation, close: async () => {} };
}

export interface TargetCapabilities {
  readonly modes: readonly WriteMode[];
  /** How replace mode finds a chunk's old rows: by the chunk column's range, or by the files the chunk wrote. */
  readonly replaceBy: 'range' | 'chunk';
  /** Where merge looks for a key: anywhere in the table, or only among the rows the same chunk wrote before (a lake's files). */
  readonly mergeScope: 'table' | 'chunk';
  /** The chunk's data and a commit marker commit in one transaction in the target. */
  readonly transactional: boolean;
  /** At most this many chunk writes at once; undefined for no limit. */
  readonly maxConcurrentWrites: number | undefined;
  /** Takes a chunk as a PostgreSQL COPY text stream (`ChunkWrite.copyIn`) instead of a DuckDB query. */
  readonly copyText: boolean;
  /** Modes in which `writeAll` + `publishChunk` may replace chunk-by-chunk writes. */
  readonly onePassModes?: readonly WriteMode[];
}

export interface ChunkWrite {
  readonly chunk: Chunk;
  readonly token: number;
  /**
   * Names this claim uniquely and for good (`owner#token`; the owner holds the run's id), so a
   * commit marker left by an older ledger or another run can never be mistaken for this one.
   */
  readonly lease: string;
  /** Completions of this chunk so far; names append output so that a replay overwrites it. */
  readonly generation: number;
  readonly mode: WriteMode;
  readonly key: readonly string[];
  /** A SELECT producing the chunk's output rows. */
  readonly query: string;
  /**
   * When the engine moves the chunk without DuckDB (PostgreSQL → PostgreSQL, no transform):
   * opens the source's COPY text stream of exactly the output columns; `query` is then unused.
   */
  readonly copyIn?: ((format: CopyFormat) => Promise<CopyOut>) | undefined;
  /** When source and target share a database: the source's SELECT of the chunk's rows, run inside the target's transaction. */
  readonly pushdown?: string | undefined;
  /**
   * When the ledger lives in the target's database: the ledger's fenced "chunk done" statement
   * for these stats, to run in the chunk's transaction. Exactly one row must change, or the
   * lease was lost and the transaction must roll back.
   */
  readonly markDone?: ((stats: { rowsRead: number; rowsWritten: number; bytes: number | null; rowsRejected?: number }) => { text: string; values: unknown[] }) | undefined;
  /** The chunk column in the output, with literals of its bounds typed for the output column. */
  readonly range: ChunkRange | undefined;
  /** Back up what this write will change, in the write itself and before it changes anything (`job.backup`). */
  readonly backup?: BackupRequest | undefined;
  readonly conn: DuckConn;
  readonly signal: AbortSignal;
  /**
   * Rows the target may refuse and set aside instead of failing the chunk (0 or absent: any
   * refusal fails it). The rows kept are at most this many plus a margin; the count is exact.
   */
  readonly maxRejects?: number | undefined;
}

/**
 * A chunk's scope in a table: the chunk column(s) and its bounds' literals (none: the whole table,
 * a job without chunk:); `bytewise`: text columns of range chunks, compared byte by byte.
 */
export type ChunkRange = { readonly column: string; readonly columns?: readonly string[] | undefined; readonly bytewise?: readonly string[] | undefined } & RangeLiterals;

export interface OnePassOutput {
  /** Each chunk's share of the output, by the value of `__backfill_chunk` its rows carried. */
  readonly chunks: ReadonlyMap<string, unknown>;
  /** Rows written in the pass, all chunks together. */
  readonly rows: number;
  /** Remove whatever was not published. */
  cleanup(): void;
}

/** The column that carries each row's chunk index through a one-pass write. */
export const CHUNK_INDEX_COLUMN = '__backfill_chunk';

export interface WriteResult {
  readonly rowsWritten: number;
  /** Bytes sent to the target; null when it cannot tell (rows moved inside the database). */
  readonly bytes: number | null;
  /** Rows the target received, when it counted them (COPY); the engine counts otherwise. */
  readonly rowsRead?: number;
  /** The ledger's mark committed with the data (`markDone` ran). */
  readonly marked?: boolean;
  /** Rows the target refused and set aside (only when `ChunkWrite.maxRejects` > 0); not in rowsWritten. */
  readonly rejected?: Rejects;
  /** The backup taken before the write changed data (when `ChunkWrite.backup` asked for one). */
  readonly backup?: BackupTaken;
}

/** What a target needs to read back the rows it holds for a chunk (verify, diff). */
export interface TargetRead {
  readonly chunk: Chunk;
  /** The transform's output columns: the read-back has exactly these, in this order, with the target's own types. */
  readonly columns: readonly ColumnInfo[];
  /** The chunk column in the output with literals typed for it; undefined when the output lacks it. */
  readonly range: ChunkWrite['range'];
}

/** Rows looked up by key: `keys` is a DuckDB relation (on the caller's connection) holding the `key` columns. */
export interface TargetKeyRead extends TargetRead {
  readonly keys: string;
  readonly key: readonly string[];
}

/** Where a run's backups go: database targets keep them in a table named after the run, file targets in `dir`. */
export interface BackupRequest {
  readonly runId: string;
  /** A folder for file backups, `<stateDir>/backups/<runId>`. */
  readonly dir: string;
}

/** A backup a chunk's write took; the engine records it in the ledger. */
export interface BackupTaken {
  readonly location: string;
  readonly rows: number;
  readonly bytes: number;
  /** Order-independent: the sum of 64-bit row hashes modulo 2^64, as computed by the target. */
  readonly checksum: string;
  /** JSON the target reads back to restore (mode, range, key, files…). */
  readonly detail: string;
}

/** The modulus of backup checksums (2^64) as SQL text. */
export const CHECKSUM_MODULUS = '18446744073709551616';

/** One pass for many chunks: what a target that can take it offers beyond `Target`. */
export interface OnePassWriter {
  /**
   * Write the output of `query` (which carries the chunk's index in `__backfill_chunk`) for every
   * chunk at once, invisible until each chunk is published.
   */
  writeAll(conn: DuckConn, query: string, signal: AbortSignal): Promise<OnePassOutput>;
  /** A DuckDB relation over one share of `writeAll` (the rows it set aside are read from there). */
  shareRelation(staged: unknown): string | undefined;
  /** Make one chunk's share of `writeAll` visible, replacing (or adding to) its previous output. */
  publishChunk(write: ChunkWrite, staged: unknown): Promise<WriteResult>;
}

export interface Target {
  readonly capabilities: TargetCapabilities;
  /** `host:port/database` for a database-server target; see `Ledger.database`. */
  readonly database?: string;
  /** Create or check the destination for these output columns; clean leftovers of dead runs. */
  prepare(conn: DuckConn, columns: readonly ColumnInfo[]): Promise<void>;
  /** Connection-level setup for a chunk's connection (ATTACH …). */
  attach(conn: DuckConn): Promise<void>;
  write(write: ChunkWrite): Promise<WriteResult>;
  /** Writes every chunk's output in one pass over the source; announced by `capabilities.onePassModes`. */
  readonly onePass?: OnePassWriter;
  /**
   * Schema evolution (`schemaChanges: evolve`): add those of `columns` that the existing
   * destination lacks (nullable, so earlier rows read NULL). A destination that does not exist
   * yet is left alone (`prepare` creates it with every column). Returns the names added.
   */
  addColumns(conn: DuckConn, columns: readonly ColumnInfo[]): Promise<readonly string[]>;
  /** Schema evolution: change the listed existing columns to these wider types (INTEGER → BIGINT, FLOAT → DOUBLE, wider DECIMAL). */
  widenColumns(conn: DuckConn, columns: readonly ColumnInfo[]): Promise<void>;
  /**
   * Put a chunk's backup back: remove what the run wrote in the chunk's scope, restore the
   * backed-up rows, and check that what is now there has the backup's checksum (in one
   * transaction where the target has them). Throws when the checksums differ.
   */
  restoreBackup(conn: DuckConn, backup: BackupRecord): Promise<{ rows: number; checksum: string }>;
  /**
   * Indexes the job's writes need and the existing destination lacks (replace deletes each chunk's
   * range: without an index that leads with the chunk column, every chunk scans the whole table and
   * the run slows down as history grows). One warning per missing index, with the exact statement
   * that adds it. Reads the catalog only; nothing when the destination does not exist yet (`prepare`
   * creates it with the index) or the target needs none.
   */
  indexAdvice?(conn: DuckConn): Promise<readonly string[]>;
  /** Remove the stored backups of these records (all of one run). */
  dropBackups(conn: DuckConn, backups: readonly BackupRecord[]): Promise<void>;
  /** For transactional targets: the lease (`ChunkWrite.lease`) of the chunk's last committed write, if any. */
  committedLease(conn: DuckConn, chunk: Chunk): Promise<{ lease: string; rows: number } | undefined>;
  /**
   * Remove the commit markers of these chunks (finished window chunks whose ledger records are
   * about to be forgotten), so a job run every few minutes does not pile them up for ever.
   */
  forgetCommits(conn: DuckConn, keys: readonly string[]): Promise<void>;
  /**
   * The rows the target holds for one chunk — its range, or the files the chunk wrote — as a DuckDB
   * relation of the output columns. Changes nothing in the target.
   */
  readChunk(conn: DuckConn, read: TargetRead, signal: AbortSignal): Promise<OpenedChunk>;
  /** The rows whose key is among `read.keys`, wherever they are in the target (merge diffs); targets whose `mergeScope` is `table`. Changes nothing. */
  readKeys?(conn: DuckConn, read: TargetKeyRead, signal: AbortSignal): Promise<OpenedChunk>;
  /**
   * Change data capture (docs/cdc.md): a sink that applies micro-batches of inserts, updates and
   * deletes by key, each with the stream's position, in one transaction. Targets without it cannot
   * take a change stream.
   */
  openChangeSink?(conn: DuckConn, spec: ChangeSinkSpec): Promise<ChangeSink>;
  describe(): string;
  close(): Promise<void>;
}
