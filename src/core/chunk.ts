// A chunk: one half-open slice of history, the unit of work, retry and bookkeeping.

/**
 * time: [lo, hi) as ISO instants; key: [lo, hi) as integers; range: (lo, hi] as values taken from
 * the data (JSON arrays, one element per chunk column; lo empty = open below); all: the whole source.
 */
export type ChunkKind = 'time' | 'key' | 'range' | 'all';

export interface Chunk {
  /** Stable identity within a job: `<lo>/<hi>` in canonical text. */
  readonly key: string;
  readonly kind: ChunkKind;
  /** Canonical bounds: ISO-8601 UTC instants for time, decimal integers for keys, JSON arrays for ranges, empty for all. */
  readonly lo: string;
  readonly hi: string;
  /** A short name safe to put in file names. */
  readonly tag: string;
}

export interface ChunkStats {
  readonly rowsRead: number;
  readonly rowsWritten: number;
  readonly rowsRejected: number;
  /** Bytes the target was sent; null where it cannot tell (a load inside the database, a DuckDB table). */
  readonly bytes: number | null;
}

export const ZERO_STATS: ChunkStats = { rowsRead: 0, rowsWritten: 0, rowsRejected: 0, bytes: 0 };

export function timeChunk(loMs: number, hiMs: number): Chunk {
  const lo = isoInstant(loMs);
  const hi = isoInstant(hiMs);
  const compact = (iso: string): string => iso.replace(/[-:]/g, '').replace('.', '');
  return { key: `${lo}/${hi}`, kind: 'time', lo, hi, tag: `${compact(lo)}_${compact(hi)}` };
}

export function keyChunk(lo: bigint, hi: bigint): Chunk {
  return { key: `${lo}/${hi}`, kind: 'key', lo: lo.toString(), hi: hi.toString(), tag: `k${signed(lo)}_${signed(hi)}` };
}

/** The one chunk of a job without `chunk:`: the whole source. */
export function allChunk(): Chunk {
  return { key: 'all', kind: 'all', lo: '', hi: '', tag: 'all' };
}

/**
 * A chunk of the values in (lo, hi] of the chunk column(s), compared in the source's own order;
 * `lo` undefined for the first chunk (open below). Values are kept as JSON (strings for
 * anything a number could round); `index` names the chunk in file names.
 */
export function rangeChunk(lo: readonly RangeValue[] | undefined, hi: readonly RangeValue[], index: number): Chunk {
  const loText = lo === undefined ? '' : JSON.stringify(lo);
  const hiText = JSON.stringify(hi);
  const tag = `r${String(index).padStart(6, '0')}`;
  // Bounds can be long text; the key stays short (targets keep it in a VARCHAR(255) commit marker) and still names these bounds.
  return { key: `${tag}-${fnv1a64(`${loText}/${hiText}`)}`, kind: 'range', lo: loText, hi: hiText, tag };
}

/** FNV-1a, 64 bits, as 16 hex digits: a short, stable name for a text. */
function fnv1a64(text: string): string {
  let h = 0xcbf29ce484222325n;
  for (const byte of new TextEncoder().encode(text)) h = ((h ^ BigInt(byte)) * 0x100000001b3n) & 0xffffffffffffffffn;
  return h.toString(16).padStart(16, '0');
}

/** One value of a range bound: text (also UUIDs and decimals, exactly as the source printed them) or a safe integer. */
export type RangeValue = string | number;

/** A range chunk's bound back as values; undefined for an open bound. */
export function rangeValues(text: string): RangeValue[] | undefined {
  if (text === '') return undefined;
  return JSON.parse(text) as RangeValue[];
}

/**
 * SQL text of a chunk's bounds as a condition needs them: `lo` absent = open below, `hi` absent
 * = open above, both absent = every row. `holdsHi`: the chunk holds its upper bound and not its
 * lower one, (lo, hi] — range chunks; time and key chunks are [lo, hi).
 */
export interface RangeLiterals {
  readonly lo?: string | undefined;
  readonly hi?: string | undefined;
  readonly holdsHi?: boolean | undefined;
}

/**
 * The chunk column(s) as one SQL expression: a quoted name, or a row of them compared as a tuple
 * (lexicographically, as PostgreSQL, MySQL and DuckDB compare row values).
 */
export function columnExpr(
  on: { readonly column: string; readonly columns?: readonly string[] | undefined; readonly bytewise?: readonly string[] | undefined },
  quote: (name: string) => string,
  prefix = '',
  /** How this database compares a text column byte by byte (PostgreSQL: `COLLATE "C"`), for the columns `on.bytewise` names. */
  bytes?: (expr: string) => string,
): string {
  const names = on.columns !== undefined && on.columns.length > 1 ? on.columns : [on.column];
  const one = (n: string): string => (bytes !== undefined && on.bytewise?.includes(n) === true ? bytes(`${prefix}${quote(n)}`) : `${prefix}${quote(n)}`);
  return names.length === 1 ? one(names[0] as string) : `(${names.map(one).join(', ')})`;
}

/** Rows with NULL in any chunk column: they belong to no chunk. */
export function nullCondition(on: { readonly column: string; readonly columns?: readonly string[] | undefined }, quote: (name: string) => string): string {
  const names = on.columns !== undefined && on.columns.length > 1 ? on.columns : [on.column];
  return `(${names.map((n) => `${quote(n)} IS NULL`).join(' OR ')})`;
}

/** The condition selecting a chunk's rows, for a column expression (a quoted name, or a row of them for a tuple). */
export function rangeCondition(column: string, literals: RangeLiterals): string {
  const parts: string[] = [];
  if (literals.lo !== undefined) parts.push(`${column} ${literals.holdsHi === true ? '>' : '>='} ${literals.lo}`);
  if (literals.hi !== undefined) parts.push(`${column} ${literals.holdsHi === true ? '<=' : '<'} ${literals.hi}`);
  return parts.length === 0 ? 'TRUE' : `(${parts.join(' AND ')})`;
}

/** `2021-03-01T00:00:00Z`; milliseconds only when not zero. */
export function isoInstant(ms: number): string {
  const iso = new Date(ms).toISOString();
  return iso.endsWith('.000Z') ? `${iso.slice(0, -5)}Z` : iso;
}

function signed(n: bigint): string {
  return n < 0n ? `m${(-n).toString()}` : n.toString();
}
