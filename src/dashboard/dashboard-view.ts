// What the dashboard shows of one job, built from the ledger only: the status document, every chunk as a cell, throughput, the commands to act.

import type { ChunkKind } from '../core/chunk.js';
import { isAbsolute, relative } from 'node:path';
import { redactSecrets } from '../core/errors.js';
import { ledgerName } from '../ledger/open-ledger.js';
import type { Job } from '../job/job.js';
import type { ChunkRecord, LedgerReader, RunRecord } from '../ledger/ledger.js';
import { statusDocument, statusFromLedger, type JobStatus } from '../engine/status/read-status.js';
import { listBackups, type RunBackups } from '../engine/safety/list-backups.js';
import { isWindowChunk } from '../core/watermark.js';

/** One chunk as the page draws it: a cell. */
export interface ChunkCell {
  readonly key: string;
  readonly kind: ChunkKind;
  readonly lo: string;
  readonly hi: string;
  readonly status: ChunkRecord['status'];
  /** A chunk of an incremental window (not part of the history's plan). */
  readonly window: boolean;
  readonly attempts: number;
  readonly rowsRead: number | null;
  readonly rowsWritten: number | null;
  readonly rowsRejected: number | null;
  readonly bytes: number | null;
  readonly durationMs: number | null;
  readonly startedAt: number | null;
  readonly finishedAt: number | null;
  readonly runId: string | null;
  /** Who holds a running chunk: `host:pid:runId`. */
  readonly owner: string | null;
  readonly error: string | null;
  /** `backfill run … --from lo --to hi`: redoes this chunk (failed) — absent for done and incremental-window chunks. */
  readonly retry: string | null;
}

/** Everything but the cells: small, sent whole on every change. */
export interface JobSummary {
  readonly job: string;
  /** The job file as given to `backfill ui`, which the commands below name. */
  readonly file: string;
  /** Type and where (a table, or a path relative to the dashboard's working folder when inside it); never a URL. */
  readonly source: string;
  readonly target: string;
  /** Where the ledger is, safe to show (a URL without its password). */
  readonly ledger: string;
  /** Where rejected rows are kept. */
  readonly rejectsDir: string;
  /** The same document `backfill status --json` prints (with whatever fields it carries, e.g. a throttle). */
  readonly status: JobStatus | ReturnType<typeof statusDocument>;
  readonly commands: { readonly run: string; readonly retryFailed: string | null; readonly status: string };
  readonly backups: readonly (RunBackups & { readonly rollback: string })[];
  readonly throughput: Throughput;
  readonly progress: RunProgress | null;
  /** The runs the ledger holds, as the fleet panel shows them: host, pid, heartbeat, alive. */
  readonly workers: readonly Worker[];
  /** When the dashboard read the ledger (epoch ms). */
  readonly readAt: number;
}

export interface Throughput {
  /** Bucket starts (epoch seconds) and the rows written per second in each, over the done chunks' finish times. */
  readonly at: readonly number[];
  readonly rowsPerSecond: readonly number[];
  readonly chunksDone: readonly number[];
  /** Rows of all chunks when every chunk is as heavy as the done ones on average; null before any is done. */
  readonly estimatedRows: number | null;
}

export interface RunProgress {
  readonly runId: string;
  readonly status: RunRecord['status'];
  readonly startedAt: number;
  readonly chunksTotal: number;
  readonly chunksDone: number;
  readonly chunksFailed: number;
  readonly rowsWritten: number;
  /** Rows written per second since the run started; null before its first chunk. */
  readonly rowsPerSecond: number | null;
  /** Milliseconds left at the run's pace so far; null when it is not running or has no pace yet. */
  readonly etaMs: number | null;
}

export interface Worker {
  readonly runId: string;
  readonly host: string;
  readonly pid: number;
  readonly status: RunRecord['status'];
  readonly alive: boolean;
  readonly startedAt: number;
  readonly heartbeatAt: number | null;
  readonly finishedAt: number | null;
}

export interface JobView {
  readonly summary: JobSummary;
  readonly cells: readonly ChunkCell[];
}

/** Read the view of a job through an open reader; `undefined` reader: the job has no ledger yet. */
export async function readJobView(job: Job, file: string, reader: LedgerReader | undefined, now: number, cwd = process.cwd()): Promise<JobView> {
  const records = reader === undefined ? [] : await reader.listChunks(job.name);
  const status = reader === undefined ? undefined : await statusFromLedger(job, reader, records);
  const backups = reader === undefined ? [] : await listBackups(job, { ledger: reader });
  const cells = records.map((c) => toCell(c, file));
  const runs = status?.runs ?? [];
  const summary: JobSummary = {
    job: job.name,
    file,
    source: describeSide(job.source, cwd),
    target: describeSide(job.target, cwd),
    ledger: job.ledgerUrl === undefined ? shownPath(job.ledgerPath, cwd) : ledgerName(job),
    rejectsDir: shownPath(job.rejects.dir, cwd),
    status: statusDocument(job, status),
    commands: {
      run: command(['run', file]),
      retryFailed: (status?.counts.failed ?? 0) > 0 ? command(['run', file, '--retry-failed']) : null,
      status: command(['status', file]),
    },
    backups: backups.map((b) => ({ ...b, rollback: command(['rollback', file, '--run', b.runId]) })),
    throughput: throughput(records),
    progress: progress(records, runs, now),
    workers: runs.map((r) => ({ runId: r.runId, host: r.host, pid: r.pid, status: r.status, alive: r.alive, startedAt: r.startedAt, heartbeatAt: r.heartbeatAt, finishedAt: r.finishedAt })),
    readAt: now,
  };
  return redactDeep({ summary, cells });
}

function toCell(c: ChunkRecord, file: string): ChunkCell {
  // --from/--to name time and key chunks; value ranges and the whole-source chunk are retried with the job's other failed chunks.
  const byBounds = c.kind === 'time' || c.kind === 'key';
  const retry = c.status === 'failed' && !isWindowChunk(c.key) ? command(byBounds ? ['run', file, '--from', c.lo, '--to', c.hi] : ['run', file, '--retry-failed']) : null;
  return {
    key: c.key, kind: c.kind, lo: c.lo, hi: c.hi, status: c.status, window: isWindowChunk(c.key), attempts: c.attempts,
    rowsRead: c.rowsRead, rowsWritten: c.rowsWritten, rowsRejected: c.rowsRejected, bytes: c.bytes,
    durationMs: c.durationMs, startedAt: c.startedAt, finishedAt: c.finishedAt, runId: c.runId, owner: c.status === 'running' ? c.leaseOwner : null, error: c.error, retry,
  };
}

/** `csv data/events-*.csv`, `postgres public.orders`: the type and where, never a connection URL. */
function describeSide(side: { readonly type: string }, cwd: string): string {
  const { table, path } = side as { table?: unknown; path?: unknown };
  if (typeof table === 'string') return `${side.type} ${table}`;
  return typeof path === 'string' ? `${side.type} ${shownPath(path, cwd)}` : side.type;
}

/** A path under the working folder as the user would type it there; any other as it is. */
function shownPath(path: string, cwd: string): string {
  const rel = relative(cwd, path);
  return rel !== '' && !rel.startsWith('..') && !isAbsolute(rel) ? rel : path;
}

/** A command line a user can paste into a POSIX shell. */
export function command(args: readonly string[]): string {
  return ['backfill', ...args].map(shellWord).join(' ');
}

function shellWord(word: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

const BUCKETS = 60;

function throughput(records: readonly ChunkRecord[]): Throughput {
  const done = records.filter((c) => c.status === 'done' && c.finishedAt !== null);
  const estimatedRows = done.length === 0 ? null : Math.round((done.reduce((n, c) => n + (c.rowsRead ?? 0), 0) / done.length) * records.length);
  if (done.length === 0) return { at: [], rowsPerSecond: [], chunksDone: [], estimatedRows };
  const finishes = done.map((c) => c.finishedAt as number);
  const first = Math.min(...done.map((c) => c.startedAt ?? (c.finishedAt as number)));
  const last = Math.max(...finishes);
  // Whole seconds per bucket, at least one: a short run gets fewer buckets rather than fractions of a second.
  const width = Math.max(1000, Math.ceil((last - first + 1) / BUCKETS / 1000) * 1000);
  const count = Math.floor((last - first) / width) + 1;
  const rows = new Array<number>(count).fill(0);
  const chunks = new Array<number>(count).fill(0);
  for (const c of done) {
    const i = Math.floor(((c.finishedAt as number) - first) / width);
    rows[i] = (rows[i] ?? 0) + (c.rowsWritten ?? 0);
    chunks[i] = (chunks[i] ?? 0) + 1;
  }
  return {
    at: rows.map((_, i) => (first + i * width) / 1000),
    rowsPerSecond: rows.map((n) => Math.round((n * 1000) / width)),
    chunksDone: chunks,
    estimatedRows,
  };
}

function progress(records: readonly ChunkRecord[], runs: readonly (Omit<RunRecord, 'throttle'> & { readonly alive: boolean })[], now: number): RunProgress | null {
  const run = runs[0];
  if (run === undefined) return null;
  const mine = records.filter((c) => c.runId === run.runId);
  const done = mine.filter((c) => c.status === 'done');
  const failed = mine.filter((c) => c.status === 'failed').length;
  const rowsWritten = done.reduce((n, c) => n + (c.rowsWritten ?? 0), 0);
  const end = run.status === 'running' ? now : (run.finishedAt ?? now);
  const elapsed = Math.max(1, end - run.startedAt);
  const chunksDone = run.status === 'running' ? done.length : run.chunksDone;
  const left = run.chunksTotal - chunksDone - failed;
  const etaMs = run.status === 'running' && run.alive && chunksDone > 0 && left > 0 ? Math.round((elapsed / chunksDone) * left) : run.status === 'running' && left <= 0 ? 0 : null;
  return {
    runId: run.runId, status: run.alive || run.status !== 'running' ? run.status : 'interrupted', startedAt: run.startedAt, chunksTotal: run.chunksTotal,
    chunksDone, chunksFailed: run.status === 'running' ? failed : run.chunksFailed, rowsWritten,
    rowsPerSecond: chunksDone === 0 ? null : Math.round((rowsWritten * 1000) / elapsed), etaMs,
  };
}

/** Every string of a document through `redactSecrets`: an error text or a name that quotes a URL with a password shows `***`. */
export function redactDeep<T>(value: T): T {
  if (typeof value === 'string') return redactSecrets(value) as T;
  if (Array.isArray(value)) return value.map((v) => redactDeep(v)) as T;
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, redactDeep(v)])) as T;
  }
  return value;
}
