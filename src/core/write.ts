// The write vocabulary every part shares: how a chunk lands in a target, and the backup it leaves.

/** append adds rows; replace deletes the chunk's old rows first; merge upserts by key. */
export type WriteMode = 'append' | 'replace' | 'merge';

/** A chunk's backup as the ledger keeps it: enough for the target that took it to put it back. */
export interface BackupRecord {
  readonly job: string;
  readonly runId: string;
  readonly chunkKey: string;
  /** The target's `type:` (parquet, duckdb, postgres, mysql): which connector can restore it. */
  readonly targetKind: string;
  /** Where the backup is: a folder, or a table in the target. */
  readonly location: string;
  /** Rows backed up (the rows the write could change or remove). */
  readonly rows: number;
  readonly bytes: number;
  /** Order-independent checksum of the backed-up rows, computed by the target; a restore must reproduce it. */
  readonly checksum: string;
  /** What the target needs to restore it (JSON: mode, range, key, files…). */
  readonly detail: string;
  readonly createdAt: number;
  /** When `rollback` put it back; null while it has not. */
  readonly restoredAt: number | null;
}
