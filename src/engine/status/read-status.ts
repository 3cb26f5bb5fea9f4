// What `status` shows: the ledger's view of a job, read without taking any lock.

import { existsSync } from 'node:fs';
import type { Job } from '../../job/job.js';
import type { ChunkRecord, ChunkStatus, JobPause, LedgerReader, RunRecord, WatermarkRecord } from '../../ledger/ledger.js';
import type { ThrottleState } from '../../core/throttle.js';
import { isoInstant } from '../../core/chunk.js';
import { missingIntervals, overlaps } from '../../core/interval.js';
import { isWindowChunk } from '../../core/watermark.js';
import { formatCursor, wallClock } from '../incremental/incremental.js';
import { openLedgerReader, ledgerName } from '../../ledger/open-ledger.js';
import { rejectsFile } from '../safety/reject-rows.js';
import { ownerAlive } from '../../runtime/process-liveness.js';

export interface JobStatus {
  readonly job: string;
  readonly ledger: string;
  readonly counts: Readonly<Record<ChunkStatus, number>> & { readonly total: number };
  readonly rows: { readonly read: number; readonly written: number; readonly rejected: number };
  /** The known bytes of the done chunks; null when none of them could tell (see `bytesUnknown`). */
  readonly bytes: number | null;
  /** Done chunks whose target could not tell the bytes it was sent (rows moved inside a database, a DuckDB table). */
  readonly bytesUnknown: number;
  /** Where rejected rows are kept, and the chunks that have some (done chunks with their count; failed ones with a file). */
  readonly rejects: { readonly dir: string; readonly chunks: readonly { readonly key: string; readonly rejected: number | null; readonly file: string }[] };
  /**
   * Ranges of history no done chunk covers, within the span of every chunk the ledger knows, with
   * how many known chunks (not done) lie in each. Worked out by interval arithmetic, so chunks of
   * an earlier plan (another chunk size) count for what they cover.
   */
  readonly gaps: readonly { readonly lo: string; readonly hi: string; readonly chunks: number }[];
  /** Incremental jobs: the watermark, the last window, and its windows' chunks. */
  readonly incremental: IncrementalStatus | undefined;
  readonly failed: readonly { readonly key: string; readonly attempts: number; readonly error: string | null }[];
  readonly running: readonly { readonly key: string; readonly owner: string | null; readonly alive: boolean }[];
  /** Each recent run, newest first; `throttle` is what it last did about its limits (null before its first reading). */
  readonly runs: readonly (Omit<RunRecord, 'throttle'> & { readonly alive: boolean; readonly throttle: ThrottleState | null })[];
  /** The job's pause, its limits as the job file sets them, and what holds each live run (docs/limits.md). */
  readonly throttle: ThrottleStatus;
}

/** `status --json` → `throttle`: everything a dashboard needs to show why a job is not moving. */
export interface ThrottleStatus {
  /** The job-wide pause (`backfill pause`), obeyed by every process of the job; null when not paused. */
  readonly paused: { readonly since: number; readonly by: string | null; readonly reason: string | null } | null;
  /** The limits the job file sets (milliseconds for durations), and the concurrency it asks for. */
  readonly limits: Job['limits'] & { readonly concurrency: number; readonly adaptiveConcurrency: boolean };
  /** Each live run (status running, process alive): working, throttled or paused, why, since when, time held so far, chunks allowed at once. */
  readonly runs: readonly (ThrottleState & { readonly runId: string; readonly owner: string })[];
}

export interface IncrementalStatus {
  readonly cursor: string;
  readonly kind: 'time' | 'key';
  /** `history`: the first full backfill is not complete; `incremental`: runs read windows. */
  readonly phase: 'history' | 'incremental';
  /** Every row with a cursor below this has been read (ISO instant, or integer). */
  readonly watermark: string;
  /** Time cursors: how far the watermark is behind now, in ms. */
  readonly behindMs: number | undefined;
  readonly window: { readonly lo: string; readonly hi: string } | undefined;
  readonly updatedAt: number;
  readonly windowChunks: { readonly done: number; readonly failed: number; readonly pending: number; readonly running: number };
}

export async function readStatus(job: Job): Promise<JobStatus | undefined> {
  const ledger = await openLedgerReader(job);
  if (ledger === undefined) return undefined;
  try {
    return await statusFromLedger(job, ledger);
  } finally {
    await ledger.close();
  }
}

/** The status of a job from a reader the caller keeps open (the dashboard), given the chunks when it already read them. */
export async function statusFromLedger(job: Job, ledger: LedgerReader, all?: readonly ChunkRecord[]): Promise<JobStatus> {
  const records = all ?? (await ledger.listChunks(job.name));
  const runs = await ledger.listRuns(job.name, 10);
  const watermark = await ledger.watermark(job.name);
  const pause = await ledger.pauseOf(job.name);
  const chunks = records.filter((c) => !isWindowChunk(c.key));
  const windows = records.filter((c) => isWindowChunk(c.key));
  const summary = summarizeChunks(job, chunks, runs);
  return { ...summary, throttle: throttleStatus(job, pause, summary.runs), incremental: watermark === undefined ? undefined : incrementalStatus(job, watermark, windows) };
}

/** What `status --json` prints: the status, or a stub naming the ledger when the job has never run. */
export function statusDocument(job: Job, status: JobStatus | undefined): JobStatus | { readonly job: string; readonly ledger: string; readonly counts: { readonly total: 0 } } {
  return status ?? { job: job.name, ledger: ledgerName(job), counts: { total: 0 } };
}

function incrementalStatus(job: Job, w: WatermarkRecord, windows: readonly ChunkRecord[]): IncrementalStatus {
  const count = (status: ChunkStatus): number => windows.filter((c) => c.status === status).length;
  // A cursor without a time zone holds wall-clock times of incremental.timezone: compare like with like.
  const zone = job.incremental?.timezone ?? 'UTC';
  const now = zone === 'UTC' ? Date.now() : wallClock(Date.now(), zone);
  return {
    cursor: w.cursor,
    kind: w.kind,
    phase: w.phase,
    watermark: formatCursor(w.kind, w.value) as string,
    behindMs: w.kind === 'time' && w.phase === 'incremental' ? Math.max(0, now - Number(w.value)) : undefined,
    window: w.windowLo === null || w.windowHi === null || w.windowLo === w.windowHi ? undefined : { lo: formatCursor(w.kind, w.windowLo) as string, hi: formatCursor(w.kind, w.windowHi) as string },
    updatedAt: w.updatedAt,
    windowChunks: { done: count('done'), failed: count('failed'), pending: count('pending'), running: count('running') },
  };
}

/** The parts of the known span of history that no done chunk covers, per chunk kind. */
export function historyGaps(chunks: readonly ChunkRecord[]): { lo: string; hi: string; chunks: number }[] {
  const out: { lo: string; hi: string; chunks: number }[] = [];
  for (const kind of ['time', 'key'] as const) {
    const ofKind = chunks.filter((c) => c.kind === kind);
    if (ofKind.length === 0) continue;
    const num = (v: string): bigint => (kind === 'time' ? BigInt(Date.parse(v)) : BigInt(v));
    const text = (v: bigint): string => (kind === 'time' ? isoInstant(Number(v)) : v.toString());
    const ranges = ofKind.map((c) => ({ lo: num(c.lo), hi: num(c.hi), done: c.status === 'done' }));
    const within = { lo: ranges.reduce((m, r) => (r.lo < m ? r.lo : m), ranges[0]!.lo), hi: ranges.reduce((m, r) => (r.hi > m ? r.hi : m), ranges[0]!.hi) };
    for (const gap of missingIntervals(within, ranges.filter((r) => r.done))) {
      const inside = ranges.filter((r) => !r.done && overlaps(r, gap)).length;
      out.push({ lo: text(gap.lo), hi: text(gap.hi), chunks: inside });
    }
  }
  // Range chunks (and the one chunk of a job without chunk:) have no arithmetic: runs of chunks not done, in plan order (the ledger lists them so).
  let run: { lo: string; hi: string; chunks: number } | undefined;
  for (const c of chunks.filter((x) => x.kind === 'range' || x.kind === 'all')) {
    if (c.status === 'done') run = undefined;
    else if (run === undefined) out.push((run = { lo: c.lo, hi: c.hi, chunks: 1 }));
    else Object.assign(run, { hi: c.hi, chunks: run.chunks + 1 });
  }
  return out;
}

function throttleStatus(job: Job, pause: JobPause | undefined, runs: JobStatus['runs']): ThrottleStatus {
  return {
    paused: pause === undefined || pause.pausedAt === null ? null : { since: pause.pausedAt, by: pause.pausedBy, reason: pause.reason },
    limits: { ...job.limits, concurrency: job.concurrency, adaptiveConcurrency: job.adaptiveConcurrency },
    runs: runs.filter((r) => r.alive && r.throttle !== null).map((r) => ({ runId: r.runId, owner: r.owner, ...(r.throttle as ThrottleState) })),
  };
}

/** The run's last throttle reading; null when it has none, or it cannot be read (a ledger written by another version). */
function parseThrottle(text: string | null): ThrottleState | null {
  if (text === null) return null;
  try {
    return JSON.parse(text) as ThrottleState;
  } catch {
    return null;
  }
}

function summarizeChunks(job: Job, chunks: readonly ChunkRecord[], runs: readonly RunRecord[]): Omit<JobStatus, 'incremental' | 'throttle'> {
  const counts = { total: chunks.length, pending: 0, running: 0, done: 0, failed: 0 };
  let read = 0;
  let written = 0;
  let rejected = 0;
  let bytes = 0;
  let bytesUnknown = 0;
  for (const c of chunks) {
    counts[c.status]++;
    if (c.status === 'done') {
      read += c.rowsRead ?? 0;
      written += c.rowsWritten ?? 0;
      rejected += c.rowsRejected ?? 0;
      if (c.bytes === null) bytesUnknown++;
      else bytes += c.bytes;
    }
  }
  return {
    job: job.name,
    ledger: ledgerName(job),
    counts,
    rows: { read, written, rejected },
    bytes: bytesUnknown > 0 && bytesUnknown === counts.done ? null : bytes,
    bytesUnknown,
    rejects: { dir: job.rejects.dir, chunks: rejectedChunks(job, chunks) },
    gaps: historyGaps(chunks),
    failed: chunks.filter((c) => c.status === 'failed').map((c) => ({ key: c.key, attempts: c.attempts, error: c.error })),
    running: chunks
      .filter((c) => c.status === 'running')
      .map((c) => ({ key: c.key, owner: c.leaseOwner, alive: c.leaseOwner !== null && ownerAlive(c.leaseOwner) && (c.leaseExpiresAt ?? 0) > Date.now() })),
    runs: runs.map((r) => ({ ...r, alive: r.status === 'running' && ownerAlive(r.owner), throttle: parseThrottle(r.throttle) })),
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
