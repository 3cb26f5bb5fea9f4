// The ledger contract: the durable record of runs and chunks, split into a read side and a write side.

import type { Chunk, ChunkStats } from '../core/chunk.js';

export type ChunkStatus = 'pending' | 'running' | 'done' | 'failed';
export type RunStatus = 'running' | 'done' | 'failed' | 'interrupted';

export type { BackupRecord } from '../core/write.js';
import type { BackupRecord } from '../core/write.js';

/** Chunks cut by rows as the ledger keeps them: the chunking's spec (column(s) and rows, as JSON) and the chunks in order. */
export interface RecordedPlan {
  readonly spec: string;
  readonly chunks: readonly Chunk[];
}

export interface ChunkRecord {
  readonly job: string;
  readonly key: string;
  readonly kind: Chunk['kind'];
  readonly lo: string;
  readonly hi: string;
  readonly tag: string;
  readonly status: ChunkStatus;
  readonly attempts: number;
  /** How many times this chunk has completed; names append-mode output so a replay overwrites. */
  readonly generation: number;
  readonly runId: string | null;
  readonly leaseOwner: string | null;
  readonly leaseExpiresAt: number | null;
  readonly fencingToken: number;
  readonly startedAt: number | null;
  readonly finishedAt: number | null;
  readonly durationMs: number | null;
  readonly rowsRead: number | null;
  readonly rowsWritten: number | null;
  readonly rowsRejected: number | null;
  /** Null until done, and where the target could not tell the bytes it was sent. */
  readonly bytes: number | null;
  readonly error: string | null;
}

export interface RunRecord {
  readonly runId: string;
  readonly job: string;
  readonly owner: string;
  readonly host: string;
  readonly pid: number;
  readonly status: RunStatus;
  readonly startedAt: number;
  readonly heartbeatAt: number | null;
  readonly finishedAt: number | null;
  readonly options: string | null;
  readonly chunksTotal: number;
  readonly chunksDone: number;
  readonly chunksFailed: number;
  readonly rowsRead: number;
  readonly rowsWritten: number;
  /** The known bytes of its chunks; `bytesUnknown` chunks could not tell theirs. */
  readonly bytes: number;
  readonly bytesUnknown: number;
  readonly error: string | null;
  /** What the run is doing about its limits, as JSON of `ThrottleState` (core/throttle.ts); null before its first check. */
  readonly throttle: string | null;
}

/** A job's pause (`backfill pause`), obeyed by every process of the job; `pausedAt` null when it is not paused. */
export interface JobPause {
  readonly job: string;
  readonly pausedAt: number | null;
  readonly pausedBy: string | null;
  readonly reason: string | null;
}

/** A backup of what one chunk's write in one run changed, kept in the target's own storage. */

/**
 * Where an incremental job stands: every row whose cursor is below `value` has been read and
 * merged (the watermark), and which phase the job is in.
 */
export interface WatermarkRecord {
  readonly job: string;
  /** The cursor column the watermark belongs to. */
  readonly cursor: string;
  /** `time`: values are epoch milliseconds; `key`: integers. */
  readonly kind: 'time' | 'key';
  /** Decimal text of the watermark. */
  readonly value: string;
  /** `history`: the first full backfill is not complete yet; `incremental`: runs read windows from `value`. */
  readonly phase: 'history' | 'incremental';
  /** The last window a run started, [lo, hi), decimal text; null before the first. */
  readonly windowLo: string | null;
  readonly windowHi: string | null;
  readonly runId: string | null;
  readonly updatedAt: number;
}

/** What `status` and the dashboard may see: reads only. */
export interface LedgerReader {
  /** The chunks a `chunk.rows` job recorded (in order) and the chunking they were cut for; undefined before the first run. */
  chunkPlan(job: string): Promise<RecordedPlan | undefined>;
  listChunks(job: string): Promise<ChunkRecord[]>;
  getChunk(job: string, key: string): Promise<ChunkRecord | undefined>;
  listRuns(job: string, limit?: number): Promise<RunRecord[]>;
  /** Backups of the job (of one run when given), oldest first. */
  listBackups(job: string, runId?: string): Promise<BackupRecord[]>;
  /** The incremental job's watermark; undefined before its first run. */
  watermark(job: string): Promise<WatermarkRecord | undefined>;
  /**
   * A short text that changes whenever the job's chunks, runs, backups or watermark change (one
   * aggregate query): a watcher polls it and reads the rest only when it moved.
   */
  changeMarker(job: string): Promise<string>;
  /** The job's pause; undefined when it was never paused. */
  pauseOf(job: string): Promise<JobPause | undefined>;
  close(): Promise<void>;
}

/** A chunk claimed by one owner: every later write for it must present the token. */
export interface Lease {
  readonly job: string;
  readonly chunk: Chunk;
  readonly token: number;
  readonly owner: string;
  readonly attempt: number;
  readonly generation: number;
}

export interface Ledger extends LedgerReader {
  /**
   * For a ledger kept in a database server: `host:port/database`. A target in the same database
   * runs `completeSql` inside its own transaction, so data and mark commit together.
   */
  readonly database?: string;
  completeSql?(lease: Lease, stats: ChunkStats, durationMs: number): { text: string; values: unknown[] };
  /** Register the planned chunks; existing records are kept as they are. */
  syncChunks(job: string, chunks: readonly Chunk[]): Promise<void>;
  /** Claim a chunk unless it is done or leased by a live owner. One statement, returns the new fencing token. */
  claim(job: string, chunk: Chunk, owner: string, runId: string, leaseMs: number): Promise<Lease | undefined>;
  /** Extend the lease; throws a LEASE_LOST LedgerError if the token is no longer current. */
  heartbeat(lease: Lease, leaseMs: number): Promise<void>;
  complete(lease: Lease, stats: ChunkStats, durationMs: number): Promise<void>;
  fail(lease: Lease, error: string, durationMs: number): Promise<void>;
  /** Give the chunk back unfinished (shutdown, lost race); fenced by token. */
  release(lease: Lease, error?: string): Promise<void>;
  /** Put done or failed chunks back to pending so they are processed again (restate). */
  reset(job: string, keys: readonly string[]): Promise<number>;
  /** Remove the records of these chunks unless one is running (old incremental windows); returns how many went. */
  forgetChunks(job: string, keys: readonly string[]): Promise<number>;
  /** Running chunks whose lease expired or whose owner process is gone. */
  staleChunks(job: string, now: number, isOwnerAlive: (owner: string) => boolean): Promise<ChunkRecord[]>;
  /** Mark a stale chunk done because its target already holds its commit (crash between commit and mark). */
  adoptCommitted(job: string, key: string, token: number, stats: ChunkStats): Promise<boolean>;
  /** Put a stale chunk back to pending; fenced by the stale token. */
  resetStale(job: string, key: string, token: number): Promise<boolean>;

  /** min/max measured earlier for this source fingerprint; null values mean the source was empty. */
  cachedBounds(job: string, fingerprint: string, column: string): Promise<{ min: string | null; max: string | null } | undefined>;
  saveBounds(job: string, fingerprint: string, column: string, min: string | null, max: string | null): Promise<void>;

  /** Record (or extend) the job's chunks cut by rows. */
  saveChunkPlan(job: string, plan: RecordedPlan): Promise<void>;

  /** The source's output columns recorded for the job (JSON text of `{ name, type }[]`), if any. */
  sourceSchema(job: string): Promise<string | undefined>;
  saveSourceSchema(job: string, columns: string): Promise<void>;

  startRun(run: { runId: string; job: string; owner: string; host: string; pid: number; options: string; chunksTotal: number }): Promise<void>;
  heartbeatRun(runId: string): Promise<void>;
  finishRun(runId: string, result: { status: RunStatus; chunksDone: number; chunksFailed: number; rowsRead: number; rowsWritten: number; bytes: number; bytesUnknown?: number; error?: string }): Promise<void>;
  /** Note what the run is doing about its limits (JSON of `ThrottleState`). */
  setRunThrottle(runId: string, throttle: string): Promise<void>;
  /** Pause the job for every process; false when it already was paused. */
  pause(job: string, by: string, reason: string | null): Promise<boolean>;
  /** Lift the job's pause; false when it was not paused. */
  resume(job: string): Promise<boolean>;
  /**
   * The job's rate limit (core/throttle.ts `reserve`): reserve `costMs` from the job's next start
   * instant, shared by every process of the job, and return when this reservation may start.
   */
  reserveRate(job: string, costMs: number): Promise<number>;
  /** Move the job's next start instant by `deltaMs` (a finished chunk's real cost minus its estimate). */
  adjustRate(job: string, deltaMs: number): Promise<void>;
  /** Runs left `running` by a process that no longer exists are marked interrupted. */
  closeDeadRuns(job: string, isOwnerAlive: (owner: string) => boolean): Promise<number>;

  /** Create the watermark at `value` in phase `history` unless the job has one; returns the job's watermark. */
  initWatermark(w: { job: string; cursor: string; kind: 'time' | 'key'; value: bigint; runId: string }): Promise<WatermarkRecord>;
  /** Move the watermark forward to `value` (never back); false when it already was at or past it. */
  advanceWatermark(job: string, value: bigint, runId: string): Promise<boolean>;
  /** Note the window a run is about to read, and leave the history phase. */
  startWindow(job: string, lo: bigint, hi: bigint, runId: string): Promise<void>;
  /** Move the watermark back to `value` when it is past it (a rolled-back window is read again). */
  rewindWatermark(job: string, value: bigint): Promise<boolean>;

  /** Record a chunk's backup; a record for the same run and chunk is kept as it is (the first is the state before the run). */
  recordBackup(backup: Omit<BackupRecord, 'restoredAt'>): Promise<void>;
  /** Note that a backup was put back; false when it already was. */
  markBackupRestored(job: string, runId: string, chunkKey: string, at: number): Promise<boolean>;
  /** Forget the backups of a run (after their data was removed). */
  deleteBackups(job: string, runId: string): Promise<number>;
}
