// Incremental runs (`incremental:` in the job): the first run is the full backfill, each later run
// merges the window of rows whose cursor moved past the watermark, and the watermark moves only
// over chunks that committed. See docs/incremental.md.

import { DateTime } from 'luxon';
import { ulid } from 'ulid';
import type { Chunk } from '../../core/chunk.js';
import { PlanError } from '../../core/errors.js';
import { planChunks, type Chunking } from '../../core/planner.js';
import { advancedWatermark, isWindowChunk, MIN_CURSOR, windowChunk } from '../../core/watermark.js';
import { createSource, createTarget } from '../../connectors/open-connectors.js';
import { DuckSession } from '../../runtime/duckdb-session.js';
import { columnKind, describeQuery } from '../../runtime/duckdb-sql.js';
import type { Incremental, Job } from '../../job/job.js';
import type { Ledger, WatermarkRecord } from '../../ledger/ledger.js';
import { findBounds } from '../run/prepare.js';

/** What an incremental run did, beside the chunks it ran. */
export interface IncrementalOutcome {
  readonly cursor: string;
  readonly kind: 'time' | 'key';
  /** `history`: this run was (part of) the first full backfill; `window`: it read a window. */
  readonly phase: 'history' | 'window';
  /** The watermark before and after the run, as text (ISO instants for time cursors). */
  readonly watermarkBefore: string | undefined;
  readonly watermarkAfter: string | undefined;
  /** The window read, [lo, hi); undefined for a history run or when there was nothing to read. */
  readonly window: { readonly lo: string; readonly hi: string } | undefined;
}

/** The cursor column as the source has it, and — for an integer cursor — its largest value. */
export interface CursorProbe {
  readonly kind: 'time' | 'key';
  readonly type: string;
  /**
   * A TIMESTAMP without a time zone: its values are wall-clock times in `incremental.timezone`.
   * The watermark and windows then live in that same value space (wall-clock read as UTC), so
   * they compare with the column's values as they are.
   */
  readonly naive: boolean;
  /** Integer cursors: max(cursor) + 1 (the window's end); MIN_CURSOR for an empty source. */
  readonly end: bigint | undefined;
}

/** A job whose chunks run over the cursor instead of the chunk column, from `lo` to `hi`. */
export function windowJob(job: Job, kind: 'time' | 'key', lo?: bigint, hi?: bigint, naive = false): Job {
  return { ...job, chunking: windowChunking(job, kind, lo, hi, naive) };
}

function windowChunking(job: Job, kind: 'time' | 'key', lo?: bigint, hi?: bigint, naive = false): Chunking {
  const inc = job.incremental as Incremental;
  // Wall-clock values are aligned as they are (their midnight is the zone's midnight already).
  const timezone = naive ? 'UTC' : inc.alignZone;
  const chunking: Chunking =
    kind === 'time'
      ? { kind: 'time', column: inc.cursor, step: inc.step, timezone, from: lo === undefined ? undefined : Number(lo), to: hi === undefined ? undefined : Number(hi) }
      : { kind: 'key', column: inc.cursor, size: inc.size, from: lo, to: hi };
  return chunking;
}

/** The chunks of the window [lo, hi), keyed apart from the history chunks. */
export function windowChunks(job: Job, kind: 'time' | 'key', lo: bigint, hi: bigint, naive = false): Chunk[] {
  return planChunks(windowChunking(job, kind, lo, hi, naive), undefined).map(windowChunk);
}

/** Read the cursor column's type from the source (and an integer cursor's largest value). */
export async function probeCursor(job: Job): Promise<CursorProbe> {
  const inc = job.incremental as Incremental;
  const session = await DuckSession.create(job.duckdb);
  const conn = await session.connect();
  const source = await createSource(job);
  try {
    const target = await createTarget(job);
    const scope = target.capabilities.mergeScope;
    const where = target.describe();
    await target.close().catch(() => {});
    if (scope !== 'table') {
      throw new PlanError(`incremental runs merge changed rows wherever their key already is, but ${where} merges only within a chunk's own files; use a database target (PostgreSQL, MySQL, DuckDB)`);
    }
    await source.prepare(conn);
    const columns = await describeQuery(conn, `SELECT * FROM ${source.relation()}`);
    const found = columns.find((c) => c.name === inc.cursor);
    if (found === undefined) {
      throw new PlanError(`incremental.cursor "${inc.cursor}" is not a column of ${source.describe()}; it has: ${columns.map((c) => c.name).join(', ')}`);
    }
    const kind = columnKind(found.type);
    if (kind === undefined) {
      throw new PlanError(`incremental.cursor "${inc.cursor}" of ${source.describe()} has type ${found.type}; a cursor is a TIMESTAMP, TIMESTAMPTZ, DATE or integer column`);
    }
    if (kind === 'time' && inc.lookback.given === 'number') {
      throw new PlanError(`incremental.lookback: "${inc.cursor}" is a ${found.type}, so the lookback is a duration such as "2 hours", not a number`);
    }
    if (kind === 'key' && inc.lookback.given === 'duration') {
      throw new PlanError(`incremental.lookback: "${inc.cursor}" is an integer (${found.type}), so the lookback is a number of cursor values, not a duration`);
    }
    if (kind === 'key' && inc.settleMs > 0) {
      throw new PlanError(`incremental.settle applies to time cursors; "${inc.cursor}" is an integer (${found.type})`);
    }
    if (kind === 'time') return { kind, type: found.type, naive: NAIVE_TIME.test(found.type), end: undefined };
    const bounds = await findBounds(windowJob(job, 'key'), source, conn, undefined, found.type);
    return { kind, type: found.type, naive: false, end: bounds === undefined ? MIN_CURSOR : BigInt(bounds.max) + 1n };
  } finally {
    conn.close();
    session.close();
    await source.close().catch(() => {});
  }
}

/** Where a window run would end: now minus the settle delay for time cursors, past the largest value for integer ones. */
export function windowEnd(job: Job, probe: CursorProbe, now: number): bigint {
  const inc = job.incremental as Incremental;
  if (probe.kind === 'key') return probe.end as bigint;
  const end = Math.floor(now - inc.settleMs);
  return BigInt(probe.naive ? wallClock(end, inc.timezone) : end);
}

/** An instant as the wall-clock time a TIMESTAMP column written in `zone` would hold, read as UTC. */
export function wallClock(ms: number, zone: string): number {
  return DateTime.fromMillis(ms, { zone }).setZone('UTC', { keepLocalTime: true }).toMillis();
}

/** DuckDB types of a time without a zone (DATE is a calendar day in the job's zone, not a wall clock). */
const NAIVE_TIME = /^(TIMESTAMP|TIMESTAMP_S|TIMESTAMP_MS|TIMESTAMP_NS|DATETIME)$/i;

export function lookbackOf(job: Job, kind: 'time' | 'key'): bigint {
  const inc = job.incremental as Incremental;
  return kind === 'time' ? BigInt(inc.lookback.ms) : inc.lookback.count;
}

/** A watermark recorded for another cursor cannot be used: say so instead of reading the wrong rows. */
export function checkWatermark(job: Job, probe: CursorProbe, watermark: WatermarkRecord | undefined): void {
  const inc = job.incremental as Incremental;
  if (watermark === undefined) return;
  if (watermark.cursor !== inc.cursor || watermark.kind !== probe.kind) {
    throw new PlanError(
      `incremental.cursor is "${inc.cursor}" (${probe.kind}), but the ledger's watermark belongs to cursor "${watermark.cursor}" (${watermark.kind}); ` +
        'keep the cursor, or give the job a new name to start over',
    );
  }
}

/** A cursor value as people read it: an ISO instant for time cursors, the integer otherwise. */
export function formatCursor(kind: 'time' | 'key', value: bigint | string | null | undefined): string | undefined {
  if (value === null || value === undefined) return undefined;
  const v = BigInt(value);
  if (kind === 'key') return v.toString();
  return new Date(Number(v)).toISOString();
}

/**
 * Moves the watermark as a window's chunks commit: after each one, to the end of the unbroken run
 * of committed chunks from the window's start. Updates are serialised and never go backwards.
 */
export class WatermarkAdvancer {
  private readonly done = new Set<string>();
  private readonly bounds: { key: string; lo: bigint; hi: bigint }[];
  private chain: Promise<void> = Promise.resolve();
  private current: bigint;

  constructor(
    private readonly ledger: Ledger,
    private readonly job: string,
    chunks: readonly Chunk[],
    kind: 'time' | 'key',
    start: bigint,
    private readonly runId: string,
  ) {
    this.current = start;
    this.bounds = chunks.map((c) => ({ key: c.key, lo: kind === 'time' ? BigInt(Date.parse(c.lo)) : BigInt(c.lo), hi: kind === 'time' ? BigInt(Date.parse(c.hi)) : BigInt(c.hi) }));
  }

  /** Called once a window chunk is done in the ledger. */
  chunkDone(key: string): Promise<void> {
    if (!isWindowChunk(key)) return Promise.resolve();
    this.done.add(key);
    const next = this.chain.then(async () => {
      const to = advancedWatermark(this.current, this.bounds, this.done);
      if (to > this.current) {
        await this.ledger.advanceWatermark(this.job, to, this.runId);
        this.current = to;
      }
    });
    this.chain = next.catch(() => {});
    return next;
  }

  get value(): bigint {
    return this.current;
  }
}

export function newRunId(): string {
  return ulid();
}
