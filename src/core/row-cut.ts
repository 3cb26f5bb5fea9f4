// Chunks of about N rows: boundaries cut from a column's cumulative counts, rounded to calendar units or key multiples.

import { DateTime, IANAZone } from 'luxon';
import { keyChunk, rangeChunk, timeChunk, type Chunk, type RangeValue } from './chunk.js';
import { PlanError } from './errors.js';
import { MAX_CHUNKS } from './planner.js';

/**
 * One distinct value of the column and the exact number of rows up to and including it (from the
 * start of the cut). A source reports only the values where the running count crosses a multiple
 * of `grainOf(target)`, plus the first and last values: so fewer than one grain of rows lies strictly between
 * two reported values, and a value holding a grain or more is always reported.
 */
export interface CumPoint<V> {
  readonly value: V;
  readonly cum: number;
}

/** The running-count step at which a source reports a value: a quarter of the target, so rounding moves a boundary by less than that. */
export function grainOf(target: number): number {
  return Math.max(1, Math.floor(target / 4));
}

/**
 * Where chunks end: indices into `points`, each chunk holding the values after the previous end up
 * to and including its own. A chunk holds at most `target` rows, unless it is one reported value
 * with what lies just before it (less than a grain): a value heavier than the target is never split.
 */
export function cutEnds<V>(points: readonly CumPoint<V>[], target: number): number[] {
  if (!(target >= 1)) throw new PlanError(`chunk.rows must be at least 1, got ${target}`);
  const ends: number[] = [];
  let base = 0;
  let start = 0;
  for (let i = 0; i < points.length; i++) {
    const cum = (points[i] as CumPoint<V>).cum;
    if (cum - base > target && i > start) {
      ends.push(i - 1);
      base = (points[i - 1] as CumPoint<V>).cum;
      start = i;
    }
    if (cum - base > target) {
      // One step alone is over the target: it is a chunk by itself.
      ends.push(i);
      base = cum;
      start = i + 1;
    }
    if (ends.length > MAX_CHUNKS) throw new PlanError(`more than ${MAX_CHUNKS} chunks; choose a larger chunk.rows`);
  }
  if (start < points.length) ends.push(points.length - 1);
  return ends;
}

/** A planned chunk and the rows the cut counted in it (exact for ranges; within a grain for rounded bounds). */
export interface CutChunk {
  readonly chunk: Chunk;
  readonly rows: number;
}

/** Units tried from the coarsest down: a boundary lands on the first one that fits between two reported values. */
const TIME_UNITS = ['year', 'month', 'day', 'hour', 'minute', 'second'] as const;

/**
 * Time chunks [lo, hi) over epoch-millisecond values. `after`: the end of the chunks already
 * recorded (new chunks start there); otherwise the first starts at the local day of the minimum.
 * `dates`: the column holds dates, so every boundary is a local midnight. The last chunk ends at
 * the local midnight after the maximum.
 */
export function cutTime(points: readonly CumPoint<number>[], target: number, timezone: string, dates: boolean, after?: number): CutChunk[] {
  if (!IANAZone.isValidZone(timezone)) throw new PlanError(`unknown time zone "${timezone}"`);
  const units = dates ? TIME_UNITS.slice(0, 3) : TIME_UNITS;
  const at = (ms: number): DateTime => DateTime.fromMillis(ms, { zone: timezone });
  const nextDay = (ms: number): number => at(ms).startOf('day').plus({ days: 1 }).toMillis();
  const boundary = (v: number, limit: number): number => {
    for (const unit of units) {
      const b = at(v).startOf(unit).plus({ [`${unit}s`]: 1 }).toMillis();
      if (b <= limit) return b;
    }
    return dates ? nextDay(v) : v + 1;
  };
  const first = points[0];
  const lo = after ?? (first === undefined ? 0 : at(first.value).startOf('day').toMillis());
  return cutOrdered(points, target, lo, boundary, nextDay, timeChunk);
}

/** Key chunks [lo, hi) over integer values, boundaries on the roundest multiple of a power of ten that fits; the last ends just past the maximum. */
export function cutKeys(points: readonly CumPoint<bigint>[], target: number, after?: bigint): CutChunk[] {
  const boundary = (v: bigint, limit: bigint): bigint => {
    for (let m = 10n ** 18n; m > 1n; m /= 10n) {
      const b = (floorDiv(v, m) + 1n) * m;
      if (b <= limit) return b;
    }
    return v + 1n;
  };
  const first = points[0];
  const lo = after ?? (first === undefined ? 0n : first.value);
  return cutOrdered(points, target, lo, boundary, (v) => v + 1n, keyChunk);
}

function cutOrdered<V extends number | bigint>(
  points: readonly CumPoint<V>[], target: number, lo: V, boundary: (v: V, limit: V) => V, pastEnd: (v: V) => V, make: (lo: V, hi: V) => Chunk,
): CutChunk[] {
  const ends = cutEnds(points, target);
  const out: CutChunk[] = [];
  let from = lo;
  let base = 0;
  for (const [k, e] of ends.entries()) {
    const end = points[e] as CumPoint<V>;
    const next = points[e + 1];
    const hi = k === ends.length - 1 || next === undefined ? pastEnd(end.value) : boundary(end.value, next.value);
    out.push({ chunk: make(from, hi), rows: end.cum - base });
    from = hi;
    base = end.cum;
  }
  return out;
}

/**
 * Range chunks (lo, hi] whose bounds are reported values (one per chunk column, a tuple for
 * several), compared in the source's own order. The first is open below unless it follows
 * `after` (the last recorded bound); the last ends at the maximum. `index0` numbers the first.
 */
export function cutRanges(points: readonly CumPoint<readonly RangeValue[]>[], target: number, index0: number, after?: readonly RangeValue[]): CutChunk[] {
  const ends = cutEnds(points, target);
  const out: CutChunk[] = [];
  let from = after;
  let base = 0;
  for (const e of ends) {
    const end = points[e] as CumPoint<readonly RangeValue[]>;
    out.push({ chunk: rangeChunk(from, end.value, index0 + out.length), rows: end.cum - base });
    from = end.value;
    base = end.cum;
  }
  return out;
}

function floorDiv(a: bigint, b: bigint): bigint {
  const q = a / b;
  return a % b !== 0n && (a < 0n) !== (b < 0n) ? q - 1n : q;
}

/**
 * The one query that reports a column's running row count (see `CumPoint`): distinct values
 * counted, summed in the column's own order (its collation, in the database that holds it), kept
 * where the count crosses a multiple of `grain` and at the first and last value. Plain SQL that
 * PostgreSQL, MySQL 8 / MariaDB 10.2+ and DuckDB all run. `cols` are quoted column expressions,
 * `text(k)` renders a value as text for the caller, `where` restricts the rows (TRUE for all).
 */
export function cumulativeCountSql(from: string, cols: readonly string[], text: (k: string, i: number) => string, where: string, grain: number): string {
  const keys = cols.map((_, i) => `k${i}`);
  const order = keys.join(', ');
  return (
    `SELECT ${keys.map((k, i) => `${text(k, i)} AS v${i}`).join(', ')}, cum FROM (` +
    `SELECT ${order}, n, SUM(n) OVER (ORDER BY ${order} ROWS UNBOUNDED PRECEDING) AS cum, ` +
    `ROW_NUMBER() OVER (ORDER BY ${order}) AS rn, COUNT(*) OVER () AS groups FROM (` +
    `SELECT ${cols.map((c, i) => `${c} AS k${i}`).join(', ')}, COUNT(*) AS n FROM ${from} ` +
    `WHERE ${cols.map((c) => `${c} IS NOT NULL`).join(' AND ')} AND (${where}) GROUP BY ${cols.join(', ')}` +
    `) AS backfill_groups) AS backfill_counts ` +
    `WHERE FLOOR((cum - n) / ${grain}) < FLOOR(cum / ${grain}) OR rn = 1 OR rn = groups ORDER BY ${order}`
  );
}
