// `rollback`: put a run's backups back so the target is as it was before the run, verified by checksum, and mark its chunks pending.

import { RollbackRefusedError } from '../../core/errors.js';
import { createTarget } from '../../connectors/open-connectors.js';
import { DuckSession } from '../../runtime/duckdb-session.js';
import type { Job } from '../../job/job.js';
import type { BackupRecord, Ledger } from '../../ledger/ledger.js';
import { openLedger } from '../../ledger/open-ledger.js';
import { ownerAlive } from '../../runtime/process-liveness.js';
import { isWindowChunk } from '../../core/watermark.js';

export interface RollbackOptions {
  readonly runId: string;
  /** Roll back even when a later run has written the same chunks since (its changes there are undone too). */
  readonly force?: boolean | undefined;
  /** Use this ledger instead of opening the job's (tests, embedding). */
  readonly ledger?: Ledger | undefined;
}

export interface RollbackResult {
  readonly job: string;
  readonly runId: string;
  /** `already`: every backup of the run had been put back before; nothing was changed. */
  readonly status: 'rolled-back' | 'already';
  readonly chunks: readonly { readonly key: string; readonly rows: number; readonly checksum: string }[];
  readonly rowsRestored: number;
  /** When the run was first rolled back (status `already`). */
  readonly rolledBackAt?: number;
  readonly ms: number;
}

/**
 * Restore the target to its state before run `runId`, chunk by chunk (each in one transaction
 * where the target has them), check every chunk against its backup's checksum, and put the
 * run's chunks back to pending. Refuses, changing nothing, when the run took no backups, is still
 * running, or a later run has written the same chunks (unless `force`).
 */
export async function rollbackRun(job: Job, options: RollbackOptions): Promise<RollbackResult> {
  const started = Date.now();
  const ledger = options.ledger ?? (await openLedger(job));
  try {
    const backups = await checkRollback(job, ledger, options);
    const pending = backups.filter((b) => b.restoredAt === null).sort((a, b) => (a.chunkKey < b.chunkKey ? -1 : a.chunkKey > b.chunkKey ? 1 : 0));
    if (pending.length === 0) {
      const at = Math.min(...backups.map((b) => b.restoredAt ?? Date.now()));
      return { job: job.name, runId: options.runId, status: 'already', chunks: [], rowsRestored: 0, rolledBackAt: at, ms: Date.now() - started };
    }
    const target = await createTarget(job);
    const session = await DuckSession.create(job.duckdb);
    const conn = await session.connect();
    const chunks: { key: string; rows: number; checksum: string }[] = [];
    try {
      for (const backup of pending) {
        const restored = await target.restoreBackup(conn, backup);
        await ledger.markBackupRestored(job.name, options.runId, backup.chunkKey, Date.now());
        await ledger.reset(job.name, [backup.chunkKey]);
        chunks.push({ key: backup.chunkKey, ...restored });
      }
      await rewindForWindows(job, ledger, pending);
    } finally {
      conn.close();
      session.close();
      await target.close().catch(() => {});
    }
    return {
      job: job.name, runId: options.runId, status: 'rolled-back', chunks,
      rowsRestored: chunks.reduce((n, c) => n + c.rows, 0), ms: Date.now() - started,
    };
  } finally {
    if (options.ledger === undefined) await ledger.close();
  }
}

/**
 * An incremental window put back must be read again: the watermark goes back to the start of the
 * earliest window chunk restored (the next run's lookback reaches below it again, which is harmless).
 */
async function rewindForWindows(job: Job, ledger: Ledger, restored: readonly BackupRecord[]): Promise<void> {
  const windows = restored.filter((b) => isWindowChunk(b.chunkKey));
  const watermark = windows.length === 0 ? undefined : await ledger.watermark(job.name);
  if (watermark === undefined) return;
  const records = new Map((await ledger.listChunks(job.name)).map((c) => [c.key, c]));
  const starts = windows.flatMap((b) => {
    const lo = records.get(b.chunkKey)?.lo;
    return lo === undefined ? [] : [watermark.kind === 'time' ? BigInt(Date.parse(lo)) : BigInt(lo)];
  });
  if (starts.length > 0) await ledger.rewindWatermark(job.name, starts.reduce((m, v) => (v < m ? v : m)));
}

/** The run's backups, after every reason to refuse has been ruled out. */
async function checkRollback(job: Job, ledger: Ledger, options: RollbackOptions): Promise<BackupRecord[]> {
  const { runId } = options;
  const run = (await ledger.listRuns(job.name, 1_000_000)).find((r) => r.runId === runId);
  if (run === undefined) throw new RollbackRefusedError(`job ${job.name} has no run ${runId}; \`backfill backups\` lists the runs that can be rolled back`);
  if (run.status === 'running' && ownerAlive(run.owner)) throw new RollbackRefusedError(`run ${runId} is still running; stop it before rolling it back`);
  const backups = await ledger.listBackups(job.name, runId);
  if (backups.length === 0) {
    throw new RollbackRefusedError(
      `run ${runId} took no backups, so it cannot be rolled back (the job had backup: never, the run appended under backup: auto, the run changed no chunk, or its backups were pruned)`,
    );
  }
  const other = backups.find((b) => b.targetKind !== job.target.type);
  if (other !== undefined) {
    throw new RollbackRefusedError(`the backups of run ${runId} were taken from a ${other.targetKind} target, but the job now writes to ${job.target.type}`);
  }
  const pending = backups.filter((b) => b.restoredAt === null);
  const records = new Map((await ledger.listChunks(job.name)).map((c) => [c.key, c]));
  const now = Date.now();
  const running = pending.filter((b) => {
    const r = records.get(b.chunkKey);
    // A chunk left running by a process that is gone is not being written; the next run resets it.
    return r?.status === 'running' && r.leaseOwner !== null && ownerAlive(r.leaseOwner) && (r.leaseExpiresAt ?? 0) > now;
  });
  if (running.length > 0) throw new RollbackRefusedError(`chunk ${(running[0] as BackupRecord).chunkKey} is being written by a run right now; roll back when it has finished`);
  // The ledger names the last run that claimed each chunk: another id means a later run wrote it after this one.
  const later = pending.filter((b) => {
    const owner = records.get(b.chunkKey)?.runId;
    return owner !== null && owner !== undefined && owner !== runId;
  });
  if (later.length > 0 && options.force !== true) {
    const runs = [...new Set(later.map((b) => records.get(b.chunkKey)?.runId))].join(', ');
    const keys = later.slice(0, 3).map((b) => b.chunkKey).join(', ');
    throw new RollbackRefusedError(
      `a later run (${runs}) has written ${later.length} of the chunks run ${runId} changed (${keys}${later.length > 3 ? ', …' : ''}); ` +
        `rolling back would silently undo its changes there too. Roll back the later run first, or pass --force to restore the state before ${runId} anyway`,
    );
  }
  // Incremental windows overlap (each reads back the lookback), so a later window may have changed
  // the same rows under other chunk keys: restoring this one would undo them.
  if (options.force !== true && pending.some((b) => isWindowChunk(b.chunkKey))) {
    const laterWindows = [...records.values()].filter((c) => isWindowChunk(c.key) && c.runId !== null && c.runId !== runId && (c.startedAt ?? 0) > run.startedAt);
    if (laterWindows.length > 0) {
      const runs = [...new Set(laterWindows.map((c) => c.runId))].join(', ');
      throw new RollbackRefusedError(
        `run ${runId} read an incremental window, and later windows (runs ${runs}) have read past it since; rolling it back would undo their changes to the same rows. ` +
          'Roll back the later runs first (newest first), or pass --force',
      );
    }
  }
  return backups;
}

