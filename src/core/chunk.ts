// A chunk: one half-open slice of history, the unit of work, retry and bookkeeping.

export type ChunkKind = 'time' | 'key';

export interface Chunk {
  /** Stable identity within a job: `<lo>/<hi>` in canonical text. */
  readonly key: string;
  readonly kind: ChunkKind;
  /** Canonical bounds: ISO-8601 UTC instants for time, decimal integers for keys. */
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

/** `2021-03-01T00:00:00Z`; milliseconds only when not zero. */
export function isoInstant(ms: number): string {
  const iso = new Date(ms).toISOString();
  return iso.endsWith('.000Z') ? `${iso.slice(0, -5)}Z` : iso;
}

function signed(n: bigint): string {
  return n < 0n ? `m${(-n).toString()}` : n.toString();
}
