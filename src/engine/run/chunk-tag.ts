// Per-row chunk tags for the one pass, as integer arithmetic and small list lookups: a CASE tree or date_trunc costs several times more per row.

import { DateTime } from 'luxon';
import type { Chunk } from '../../core/chunk.js';
import type { CalendarUnit } from '../../core/duration.js';

/** A row in no chunk to do (between two pending chunks): the caller filters it out. */
export const GAP_TAG = -2;
/** More cells than this and the lists get too long to send as SQL text: the caller keeps the CASE tree. */
export const MAX_CELLS = 50_000;

const TIMESTAMP = /^(TIMESTAMP|DATETIME)$/i;
const TIMESTAMPTZ = /^(TIMESTAMP WITH TIME ZONE|TIMESTAMPTZ)$/i;
/** Integer types whose every value fits a BIGINT (so ordinal arithmetic cannot overflow). */
const SMALL_INTEGERS = /^(TINYINT|SMALLINT|INTEGER|BIGINT|UTINYINT|USMALLINT|UINTEGER|INT1|INT2|INT4|INT8|INT|INT64|INT32|INT16)$/i;
const US_PER_MS = 1000n;
const US_PER_DAY = 86_400_000_000n;

type TypeClass = 'timestamp' | 'timestamptz' | 'date' | 'integer';

function typeClass(columnType: string, kind: Chunk['kind']): TypeClass | undefined {
  const type = columnType.trim();
  if (kind === 'key') return SMALL_INTEGERS.test(type) ? 'integer' : undefined;
  if (TIMESTAMP.test(type)) return 'timestamp';
  if (TIMESTAMPTZ.test(type)) return 'timestamptz';
  if (type.toUpperCase() === 'DATE') return 'date';
  return undefined;
}

/**
 * The column as an integer that orders exactly like it: epoch microseconds for timestamps
 * (naive ones read as UTC, as the chunk predicates do), days since 1970-01-01 for dates, the
 * key itself for integers. A cheap expression per row, unlike date_trunc (ICU for TIMESTAMPTZ).
 */
function ordinalSql(col: string, cls: TypeClass): string {
  if (cls === 'integer') return `CAST(${col} AS BIGINT)`;
  if (cls === 'date') return `(${col} - DATE '1970-01-01')`;
  return `epoch_us(${col})`;
}

/** A chunk bound as the ordinal of the literal `rangeLiterals` writes for it (a date is its local date in the zone). */
export function boundOrdinal(bound: string, kind: Chunk['kind'], cls: TypeClass, timezone: string): bigint {
  if (kind === 'key') return BigInt(bound);
  if (cls === 'date') {
    const local = DateTime.fromISO(bound, { zone: timezone }).toISODate() as string;
    return BigInt(Date.parse(`${local}T00:00:00Z`)) / (US_PER_DAY / US_PER_MS);
  }
  return BigInt(Date.parse(bound)) * US_PER_MS;
}

/** How rows are cut into cells: the SQL of a row's cell (0-based), and where each cell starts as an ordinal. */
interface CellScheme {
  readonly cellSql: string;
  readonly cells: number;
  start(cell: number): bigint;
}

/**
 * The index (in `chunks`) of the chunk holding each row, for rows whose ordinal `ord` lies in
 * [first lo, last hi) — the caller filters the rest — and `GAP_TAG` for a row between two
 * listed chunks that are not adjacent. Undefined when the column's type or the chunks do not
 * allow it (unsorted, overlapping, too many cells): the caller falls back to the CASE tree.
 *
 * The range is cut into cells so that no cell holds more than one chunk boundary; each cell
 * then looks its chunk up in constant lists: `L[cell] + (ord >= N[cell]) * D[cell]`, where N is
 * the boundary inside the cell and D the step of index across it — no CASE per row. When the
 * chunks are whole UTC months (or years), cells are those months and no cell holds a boundary.
 */
export function chunkIndexExpr(col: string, chunks: readonly Chunk[], columnType: string, timezone: string): string | undefined {
  const first = chunks[0];
  // Range chunks compare values in the source's order: only the CASE tree follows it.
  if (first === undefined || first.kind === 'range' || first.kind === 'all') return undefined;
  const cls = typeClass(columnType, first.kind);
  if (cls === undefined) return undefined;
  // Segment bounds P[0] < P[1] < … and each segment's label: a chunk's index, or a gap.
  const points: bigint[] = [];
  const labels: number[] = [];
  for (const [i, chunk] of chunks.entries()) {
    const lo = boundOrdinal(chunk.lo, chunk.kind, cls, timezone);
    const hi = boundOrdinal(chunk.hi, chunk.kind, cls, timezone);
    if (hi <= lo) return undefined;
    const last = points[points.length - 1];
    if (last !== undefined && lo < last) return undefined;
    if (last !== undefined && lo > last) labels.push(GAP_TAG);
    if (last === undefined || lo > last) points.push(lo);
    points.push(hi);
    labels.push(i);
  }
  const ord = ordinalSql(col, cls);
  const schemes = [monthScheme(col, cls, points), gridScheme(ord, points)];
  for (const scheme of schemes) {
    if (scheme === undefined || scheme.cells > MAX_CELLS) continue;
    const lookup = cellLookup(scheme, points, labels);
    if (lookup === undefined) continue;
    // Months first: a month scheme whose cells hold a boundary is no better than the grid.
    if (scheme !== schemes[schemes.length - 1] && lookup.d.some((d) => d !== 0)) continue;
    const cell = `(${scheme.cellSql}) + 1`;
    const base = `${list(lookup.l)}[${cell}]`;
    if (lookup.d.every((d) => d === 0)) return base;
    return `(${base} + CAST(${ord} >= ${list(lookup.n)}[${cell}] AS INTEGER) * ${list(lookup.d)}[${cell}])`;
  }
  return undefined;
}

/** Cells of equal width: the narrowest segment between the first and the last (those two may be clipped). */
function gridScheme(ord: string, points: readonly bigint[]): CellScheme | undefined {
  const b0 = points[0] as bigint;
  const end = points[points.length - 1] as bigint;
  let width = end - b0;
  for (let j = 1; j + 2 < points.length; j++) {
    const w = (points[j + 1] as bigint) - (points[j] as bigint);
    if (w < width) width = w;
  }
  const cells = (end - b0 + width - 1n) / width;
  if (cells > BigInt(MAX_CELLS)) return undefined;
  // Clamped: a filter may be evaluated after this expression, and a far-off value must not overflow.
  return { cellSql: `(least(greatest(${ord}, ${b0}), ${end}) - (${b0})) // ${width}`, cells: Number(cells), start: (c) => b0 + BigInt(c) * width };
}

/** Cells of whole UTC calendar months, for timestamps and dates. */
function monthScheme(col: string, cls: TypeClass, points: readonly bigint[]): CellScheme | undefined {
  if (cls === 'integer') return undefined;
  const perMs = cls === 'date' ? US_PER_DAY / US_PER_MS : 1n;
  const toMs = (p: bigint): number => Number(cls === 'date' ? p * perMs : p / US_PER_MS);
  const fromMs = (ms: number): bigint => (cls === 'date' ? BigInt(ms) / perMs : BigInt(ms) * US_PER_MS);
  const monthOf = (p: bigint): number => {
    const d = new Date(toMs(p));
    return d.getUTCFullYear() * 12 + d.getUTCMonth();
  };
  const m0 = monthOf(points[0] as bigint);
  const cells = monthOf((points[points.length - 1] as bigint) - 1n) - m0 + 1;
  // TIMESTAMPTZ's own year()/month() go through ICU; the same instant as a naive UTC timestamp does not.
  const t = cls === 'timestamptz' ? `make_timestamp(epoch_us(${col}))` : col;
  return {
    cellSql: `year(${t}) * 12 + month(${t}) - ${m0 + 1}`,
    cells,
    start: (c) => {
      const month = m0 + c;
      const d = new Date(0);
      d.setUTCFullYear(Math.floor(month / 12), ((month % 12) + 12) % 12, 1);
      return fromMs(d.getTime());
    },
  };
}

/** Per cell: the label at its start (L), the one boundary inside it (N, 0 when none) and the label step across it (D). */
function cellLookup(scheme: CellScheme, points: readonly bigint[], labels: readonly number[]): { l: number[]; n: bigint[]; d: number[] } | undefined {
  const l: number[] = [];
  const n: bigint[] = [];
  const d: number[] = [];
  const b0 = points[0] as bigint;
  let j = 0;
  for (let c = 0; c < scheme.cells; c++) {
    const start = scheme.start(c);
    const s = start > b0 ? start : b0;
    const e = scheme.start(c + 1);
    while (j + 1 < points.length - 1 && (points[j + 1] as bigint) <= s) j++;
    const inside = points.slice(j + 1, points.length - 1).filter((p) => p > s && p < e);
    if (inside.length > 1) return undefined;
    const label = labels[j] as number;
    l.push(label);
    if (inside.length === 1) {
      n.push(inside[0] as bigint);
      d.push((labels[j + 1] as number) - label);
    } else {
      n.push(0n);
      d.push(0);
    }
  }
  return { l, n, d };
}

function list(values: readonly (number | bigint)[]): string {
  return `[${values.join(', ')}]`;
}

/**
 * A row's chunk when chunks are single UTC calendar units and the bounds are not known yet:
 * an integer naming the unit, and that unit's lower bound in epoch milliseconds. Hours, days and
 * weeks are tagged with the lower bound itself (a multiple of an hour, never the NULL tag -1);
 * months and years with a month count offset past DuckDB's earliest year, so never negative.
 */
export function unitTag(col: string, columnType: string, unit: CalendarUnit): { readonly sql: string; lowerMs(tag: bigint): number; tagOf(lowerMs: number): bigint } | undefined {
  const cls = typeClass(columnType, 'time');
  if (cls === undefined || cls === 'integer') return undefined;
  const floorTo = (x: string, step: bigint): string => `(${x} - ((${x} % ${step}) + ${step}) % ${step})`;
  if (unit === 'month' || unit === 'year') {
    const t = cls === 'timestamptz' ? `make_timestamp(epoch_us(${col}))` : col;
    const sql = unit === 'month' ? `((year(${t}) + ${YEAR_OFFSET}) * 12 + month(${t}) - 1)` : `((year(${t}) + ${YEAR_OFFSET}) * 12)`;
    return {
      sql,
      lowerMs: (tag) => {
        const months = Number(tag) - YEAR_OFFSET * 12;
        const d = new Date(0);
        d.setUTCFullYear(Math.floor(months / 12), ((months % 12) + 12) % 12, 1);
        return d.getTime();
      },
      tagOf: (ms) => {
        const d = new Date(ms);
        return BigInt((d.getUTCFullYear() + YEAR_OFFSET) * 12 + (unit === 'month' ? d.getUTCMonth() : 0));
      },
    };
  }
  // Days since 1970-01-01 (a Thursday); ISO weeks start on Monday, three days earlier.
  const days = cls === 'date' ? `(${col} - DATE '1970-01-01')` : `(${floorTo(`epoch_us(${col})`, US_PER_DAY)} // ${US_PER_DAY})`;
  let sql: string;
  if (unit === 'hour') {
    if (cls === 'date') return undefined;
    sql = `(${floorTo(`epoch_us(${col})`, 3_600_000_000n)} // 1000)`;
  } else if (unit === 'day') {
    sql = `(${days} * 86400000)`;
  } else {
    sql = `((${floorTo(`(${days} + 3)`, 7n)} - 3) * 86400000)`;
  }
  return { sql, lowerMs: (tag) => Number(tag), tagOf: (ms) => BigInt(ms) };
}

/** Added to years before counting months, so a month tag is positive for every year DuckDB can hold. */
const YEAR_OFFSET = 300_000;
