// What `status` shows: the ledger's view of a job, read without taking any lock.

import { existsSync } from 'node:fs';
import type { Job } from '../job/job.js';
import type { ChunkRecord, ChunkStatus, RunRecord } from '../ledger/ledger.js';
import { openLedgerReader, ledgerName } from '../ledger/open-ledger.js';
import { rejectsFile } from './reject-rows.js';
import { ownerAlive } from './run-backfill.js';

export interface JobStatus {
  readonly job: string;
  readonly ledger: string;
  readonly counts: Readonly<Record<ChunkStatus, number>> & { readonly total: number };
  readonly rows: { readonly read: number; readonly written: number; readonly rejected: number };
  readonly bytes: number;
  /** Where rejected rows are kept, and the chunks that have some (done chunks with their count; failed ones with a file). */
  readonly rejects: { readonly dir: string; readonly chunks: readonly { readonly key: string; readonly rejected: number | null; readonly file: string }[] };
  /** Consecutive chunks not done, as ranges: the history still missing. */
  readonly notDone: readonly { readonly lo: string; readonly hi: string; readonly chunks: number }[];
  readonly failed: readonly { readonly key: string; readonly attempts: number; readonly error: string | null }[];
  readonly running: readonly { readonly key: string; readonly owner: string | null; readonly alive: boolean }[];
  readonly runs: readonly (RunRecord & { readonly alive: boolean })[];
}

export async function readStatus(job: Job): Promise<JobStatus | undefined> {
  const ledger = await openLedgerReader(job);
  if (ledger === undefined) return undefined;
  try {
    const chunks = await ledger.listChunks(job.name);
    const runs = await ledger.listRuns(job.name, 10);
    return summarizeChunks(job, chunks, runs);
  } finally {
    await ledger.close();
  }
}

function summarizeChunks(job: Job, chunks: readonly ChunkRecord[], runs: readonly RunRecord[]): JobStatus {
  const counts = { total: chunks.length, pending: 0, running: 0, done: 0, failed: 0 };
  let read = 0;
  let written = 0;
  let rejected = 0;
  let bytes = 0;
  const notDone: { lo: string; hi: string; chunks: number }[] = [];
  for (const c of chunks) {
    counts[c.status]++;
    if (c.status === 'done') {
      read += c.rowsRead ?? 0;
      written += c.rowsWritten ?? 0;
      rejected += c.rowsRejected ?? 0;
      bytes += c.bytes ?? 0;
      continue;
    }
    const last = notDone[notDone.length - 1];
    if (last !== undefined && last.hi === c.lo) {
      last.hi = c.hi;
      last.chunks++;
    } else {
      notDone.push({ lo: c.lo, hi: c.hi, chunks: 1 });
    }
  }
  return {
    job: job.name,
    ledger: ledgerName(job),
    counts,
    rows: { read, written, rejected },
    bytes,
    rejects: { dir: job.rejects.dir, chunks: rejectedChunks(job, chunks) },
    notDone,
    failed: chunks.filter((c) => c.status === 'failed').map((c) => ({ key: c.key, attempts: c.attempts, error: c.error })),
    running: chunks
      .filter((c) => c.status === 'running')
      .map((c) => ({ key: c.key, owner: c.leaseOwner, alive: c.leaseOwner !== null && ownerAlive(c.leaseOwner) && (c.leaseExpiresAt ?? 0) > Date.now() })),
    runs: runs.map((r) => ({ ...r, alive: r.status === 'running' && ownerAlive(r.owner) })),
  };
}

function rejectedChunks(job: Job, chunks: readonly ChunkRecord[]): { key: string; rejected: number | null; file: string }[] {
  const out: { key: string; rejected: number | null; file: string }[] = [];
  for (const c of chunks) {
    const file = rejectsFile(job.rejects.dir, c);
    if (c.status === 'done' && (c.rowsRejected ?? 0) > 0) out.push({ key: c.key, rejected: c.rowsRejected, file });
    else if (c.status === 'failed' && existsSync(file)) out.push({ key: c.key, rejected: null, file });
  }
  return out;
}
