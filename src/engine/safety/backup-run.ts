// Automatic backups during a run: which writes back up, where, and how each backup is recorded in the ledger.

import { join } from 'node:path';
import type { Chunk } from '../../core/chunk.js';
import { PlanError } from '../../core/errors.js';
import type { BackupRequest, BackupTaken, Target } from '../../connectors/connector.js';
import type { Job } from '../../job/job.js';
import type { Ledger } from '../../ledger/ledger.js';

/** Whether this job's runs back up what they change: `auto` when the mode can change or remove rows (replace, merge). */
export function backsUp(job: Job): boolean {
  return job.backup === 'always' || (job.backup === 'auto' && job.write.mode !== 'append');
}

/** Refuse a run whose backups could not be taken, before any work. */
export function checkBackup(job: Job, target: Target, outputHasChunkColumn: boolean): void {
  if (!backsUp(job)) return;
  if (job.write.mode === 'append' && target.capabilities.replaceBy === 'range' && !outputHasChunkColumn) {
    throw new PlanError(
      `backup: always with write.mode append backs up the chunk's range in ${target.describe()}, so the transform's output must keep the chunk column "${job.chunking.column}"`,
    );
  }
}

/** What each chunk write of this run is asked to back up; undefined when the run takes no backups. */
export function backupRequest(job: Job, runId: string): BackupRequest | undefined {
  return backsUp(job) ? { runId, dir: join(job.stateDir, 'backups', runId) } : undefined;
}

/** Record a chunk's backup right after its write, before the chunk is marked done. */
export async function recordBackup(ledger: Ledger, job: Job, runId: string, chunk: Chunk, taken: BackupTaken | undefined): Promise<void> {
  if (taken === undefined) return;
  await ledger.recordBackup({
    job: job.name, runId, chunkKey: chunk.key, targetKind: job.target.type, location: taken.location,
    rows: taken.rows, bytes: taken.bytes, checksum: taken.checksum, detail: taken.detail, createdAt: Date.now(),
  });
}
