// Chunk planning: turn a chunking rule and the source's bounds into contiguous half-open chunks.

import { DateTime, IANAZone } from 'luxon';
import { allChunk, keyChunk, timeChunk, type Chunk } from './chunk.js';
import type { Step } from './duration.js';
import { PlanError } from './errors.js';

export interface TimeChunking {
  readonly kind: 'time';
  readonly column: string;
  readonly step: Step;
  readonly timezone: string;
  /** Inclusive start, epoch milliseconds. */
  readonly from?: number | undefined;
  /** Exclusive end, epoch milliseconds. */
  readonly to?: number | undefined;
}

export interface KeyChunking {
  readonly kind: 'key';
  readonly column: string;
  readonly size: bigint;
  readonly from?: bigint | undefined;
  readonly to?: bigint | undefined;
}

/**
 * Chunks sized by the data (`chunk: { column, rows }`): boundaries cut from the column's
 * distribution once and recorded in the ledger. Time and integer columns give time and key
 * chunks with irregular bounds; any other ordered column (or several, compared as a tuple)
 * gives range chunks whose bounds are values of the data.
 */
export interface RowsChunking {
  readonly kind: 'rows';
  /** The first (or only) chunk column. */
  readonly column: string;
  /** Every chunk column, in tuple order. */
  readonly columns: readonly string[];
  readonly rows: number;
  readonly timezone: string;
  readonly from?: undefined;
  readonly to?: undefined;
}

/** No `chunk:` in the job: one chunk, the whole source. */
export interface AllChunking {
  readonly kind: 'all';
  readonly column?: undefined;
  readonly from?: undefined;
  readonly to?: undefined;
}

/** Chunkings planned from the source's bounds alone: a calendar step or a key size. */
export type Chunking = TimeChunking | KeyChunking;

/** What a job's `chunk:` (or its absence) resolves to. */
export type JobChunking = Chunking | RowsChunking | AllChunking;

/** The smallest and largest chunk-column value in the source (ms for time, integers for keys). */
export type SourceBounds = { readonly min: number; readonly max: number } | { readonly min: bigint; readonly max: bigint };

export const MAX_CHUNKS = 1_000_000;

/** The column chunk predicates are written on; '' for a job without one (its one chunk's predicate names no column). */
export function chunkColumn(chunking: JobChunking): string {
  return chunking.column ?? '';
}

/** Every chunk column: several for a tuple (`chunk.rows` on a list), none without chunk:. */
export function chunkColumns(chunking: JobChunking): readonly string[] {
  if (chunking.kind === 'rows') return chunking.columns;
  return chunking.column === undefined ? [] : [chunking.column];
}

/** The zone chunk bounds are read in: the job's for time and rows chunkings, UTC otherwise. */
export function chunkTimezone(chunking: JobChunking): string {
  return chunking.kind === 'time' || chunking.kind === 'rows' ? chunking.timezone : 'UTC';
}

/**
 * Plan every chunk of the job. Chunks are contiguous (no gaps, no overlaps), aligned to
 * calendar boundaries in the job's time zone (or to multiples of `size`), clipped to the
 * job's from/to, and — when `to` is not given — the last chunk contains the source maximum.
 * `bounds` is undefined for an empty source; then both from and to must be known.
 */
export function planChunks(chunking: Chunking | AllChunking, bounds: SourceBounds | undefined): Chunk[] {
  if (chunking.kind === 'all') return [allChunk()];
  return chunking.kind === 'time' ? planTime(chunking, bounds) : planKeys(chunking, bounds);
}

function planTime(spec: TimeChunking, bounds: SourceBounds | undefined): Chunk[] {
  if (!IANAZone.isValidZone(spec.timezone)) throw new PlanError(`unknown time zone "${spec.timezone}"`);
  const min = bounds === undefined ? undefined : Number(bounds.min);
  const max = bounds === undefined ? undefined : Number(bounds.max);
  const start = spec.from ?? min;
  if (start === undefined) return [];
  if (spec.to === undefined && max === undefined) return [];
  if (spec.to !== undefined && spec.to <= start) {
    throw new PlanError(`chunk.to (${new Date(spec.to).toISOString()}) must be after chunk.from (${new Date(start).toISOString()})`);
  }
  const anchor = DateTime.fromMillis(start, { zone: spec.timezone }).startOf(spec.step.unit);
  if (!anchor.isValid) throw new PlanError(`cannot align ${new Date(start).toISOString()} in zone ${spec.timezone}`);
  const unitKey = `${spec.step.unit}s` as const;
  const chunks: Chunk[] = [];
  // Without an explicit from, chunks start on a calendar boundary so they stay the same when older data arrives.
  let lo = spec.from ?? anchor.toMillis();
  for (let k = 1; ; k++) {
    if (spec.to !== undefined ? lo >= spec.to : lo > (max as number)) break;
    const boundary = anchor.plus({ [unitKey]: k * spec.step.n }).toMillis();
    if (boundary <= lo) continue;
    const hi = spec.to !== undefined && boundary > spec.to ? spec.to : boundary;
    chunks.push(timeChunk(lo, hi));
    lo = hi;
    if (chunks.length > MAX_CHUNKS) throw new PlanError(`more than ${MAX_CHUNKS} chunks; choose a larger chunk.every`);
  }
  return chunks;
}

function planKeys(spec: KeyChunking, bounds: SourceBounds | undefined): Chunk[] {
  if (spec.size < 1n) throw new PlanError('chunk.size must be at least 1');
  const min = bounds === undefined ? undefined : BigInt(bounds.min);
  const max = bounds === undefined ? undefined : BigInt(bounds.max);
  const start = spec.from ?? (min === undefined ? undefined : floorDiv(min, spec.size) * spec.size);
  if (start === undefined) return [];
  if (spec.to === undefined && max === undefined) return [];
  if (spec.to !== undefined && spec.to <= start) throw new PlanError(`chunk.to (${spec.to}) must be greater than chunk.from (${start})`);
  const anchor = floorDiv(start, spec.size) * spec.size;
  const chunks: Chunk[] = [];
  let lo = start;
  let boundary = anchor;
  for (;;) {
    if (spec.to !== undefined ? lo >= spec.to : lo > (max as bigint)) break;
    boundary += spec.size;
    if (boundary <= lo) continue;
    const hi = spec.to !== undefined && boundary > spec.to ? spec.to : boundary;
    chunks.push(keyChunk(lo, hi));
    lo = hi;
    if (chunks.length > MAX_CHUNKS) throw new PlanError(`more than ${MAX_CHUNKS} chunks; choose a larger chunk.size`);
  }
  return chunks;
}

function floorDiv(a: bigint, b: bigint): bigint {
  const q = a / b;
  return a % b !== 0n && (a < 0n) !== (b < 0n) ? q - 1n : q;
}

/** Numeric view of a time or key chunk's bounds, for comparisons. */
export function chunkRange(chunk: Chunk): { lo: number; hi: number } | { lo: bigint; hi: bigint } {
  if (chunk.kind === 'all' || chunk.kind === 'range') throw new PlanError(`chunk ${chunk.key} has no numeric bounds (${chunk.kind} chunk)`);
  return chunk.kind === 'time'
    ? { lo: Date.parse(chunk.lo), hi: Date.parse(chunk.hi) }
    : { lo: BigInt(chunk.lo), hi: BigInt(chunk.hi) };
}

/** The chunks that overlap [from, to); either side may be open. */
export function selectChunks(chunks: readonly Chunk[], from: string | undefined, to: string | undefined, timezone: string): Chunk[] {
  if (from === undefined && to === undefined) return [...chunks];
  const other = chunks.find((c) => c.kind === 'all' || c.kind === 'range');
  if (other?.kind === 'all') throw new PlanError('--from/--to select part of a chunked history; this job has no chunk: and is one chunk, the whole source (run it without --from/--to)');
  if (other !== undefined) {
    throw new PlanError(
      '--from/--to select time or key chunks; this job\'s chunks are ranges of values compared in the source\'s own order (chunk.rows on a column that is neither a time nor an integer): run without --from/--to',
    );
  }
  return chunks.filter((chunk) => {
    if (chunk.kind === 'time') {
      const lo = Date.parse(chunk.lo);
      const hi = Date.parse(chunk.hi);
      const f = from === undefined ? -Infinity : parseInstant(from, timezone);
      const t = to === undefined ? Infinity : parseInstant(to, timezone);
      return lo < t && f < hi;
    }
    const lo = BigInt(chunk.lo);
    const hi = BigInt(chunk.hi);
    const f = from === undefined ? undefined : parseKey(from);
    const t = to === undefined ? undefined : parseKey(to);
    return (t === undefined || lo < t) && (f === undefined || f < hi);
  });
}

/**
 * Parse an ISO date or date-time. A value without an offset is wall-clock time in `timezone`;
 * `2021-03-01` means midnight there.
 */
export function parseInstant(text: string, timezone: string): number {
  const dt = DateTime.fromISO(text.trim().replace(' ', 'T'), { zone: timezone, setZone: true });
  if (!dt.isValid) throw new PlanError(`"${text}" is not an ISO date or date-time (e.g. 2021-03-01 or 2021-03-01T12:00:00Z)`);
  return dt.toMillis();
}

export function parseKey(text: string): bigint {
  if (!/^-?\d+$/.test(text.trim())) throw new PlanError(`"${text}" is not an integer key`);
  return BigInt(text.trim());
}
