// `backups`: the backups a job's runs took (run, time, chunks, rows, size, where), and pruning old ones.

import { dirname } from 'node:path';
import { UsageError } from '../../core/errors.js';
import { createTarget } from '../../connectors/open-connectors.js';
import { DuckSession } from '../../runtime/duckdb-session.js';
import type { Job } from '../../job/job.js';
import type { BackupRecord, Ledger, LedgerReader } from '../../ledger/ledger.js';
import { openLedger, openLedgerReader } from '../../ledger/open-ledger.js';

/** One run's backups together. */
export interface RunBackups {
  readonly runId: string;
  /** When the run took its first backup. */
  readonly createdAt: number;
  readonly chunks: number;
  readonly rows: number;
  readonly bytes: number;
  /** The folder or table holding them. */
  readonly location: string;
  readonly targetKind: string;
  /** Set once `rollback` has put every one of them back. */
  readonly restoredAt: number | null;
}

/** The job's backups by run, newest first. */
export async function listBackups(job: Job, options: { ledger?: LedgerReader } = {}): Promise<RunBackups[]> {
  const ledger = options.ledger ?? (await openLedgerReader(job));
  if (ledger === undefined) return [];
  try {
    return summarize(await ledger.listBackups(job.name));
  } finally {
    if (options.ledger === undefined) await ledger.close();
  }
}

export interface PruneOptions {
  /** Keep the backups of the newest N runs. */
  readonly keep?: number | undefined;
  /** Remove backups taken longer ago than this. */
  readonly olderThanMs?: number | undefined;
  readonly ledger?: Ledger | undefined;
  readonly now?: number | undefined;
}

/** Remove old backups from the target's storage and from the ledger; returns what was removed and what is kept. */
export async function pruneBackups(job: Job, options: PruneOptions): Promise<{ removed: RunBackups[]; kept: RunBackups[] }> {
  if ((options.keep === undefined) === (options.olderThanMs === undefined)) throw new UsageError('--prune needs exactly one of --keep N or --older-than DURATION');
  const ledger = options.ledger ?? (await openLedger(job));
  try {
    const all = await ledger.listBackups(job.name);
    const runs = summarize(all);
    const now = options.now ?? Date.now();
    const removed = runs.filter((r, i) => (options.keep !== undefined ? i >= options.keep : r.createdAt < now - (options.olderThanMs as number)));
    if (removed.length > 0) {
      const target = await createTarget(job);
      const session = await DuckSession.create(job.duckdb);
      const conn = await session.connect();
      try {
        for (const run of removed) {
          const records = all.filter((b) => b.runId === run.runId);
          // Only backups of the job's present target kind can be removed by its connector; others are only forgotten.
          if (run.targetKind === job.target.type) await target.dropBackups(conn, records);
          await ledger.deleteBackups(job.name, run.runId);
        }
      } finally {
        conn.close();
        session.close();
        await target.close().catch(() => {});
      }
    }
    const gone = new Set(removed.map((r) => r.runId));
    return { removed, kept: runs.filter((r) => !gone.has(r.runId)) };
  } finally {
    if (options.ledger === undefined) await ledger.close();
  }
}

function summarize(backups: readonly BackupRecord[]): RunBackups[] {
  const byRun = new Map<string, BackupRecord[]>();
  for (const b of backups) byRun.set(b.runId, [...(byRun.get(b.runId) ?? []), b]);
  const runs = [...byRun.entries()].map(([runId, list]): RunBackups => {
    const locations = new Set(list.map((b) => b.location));
    const first = list[0] as BackupRecord;
    return {
      runId,
      createdAt: Math.min(...list.map((b) => b.createdAt)),
      chunks: list.length,
      rows: list.reduce((n, b) => n + b.rows, 0),
      bytes: list.reduce((n, b) => n + b.bytes, 0),
      // File backups keep one folder per chunk under the run's folder; table backups share one table.
      location: locations.size === 1 ? first.location : dirname(first.location),
      targetKind: first.targetKind,
      restoredAt: list.every((b) => b.restoredAt !== null) ? Math.max(...list.map((b) => b.restoredAt as number)) : null,
    };
  });
  return runs.sort((a, b) => b.createdAt - a.createdAt || (a.runId < b.runId ? 1 : -1));
}
