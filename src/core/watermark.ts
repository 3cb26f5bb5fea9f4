// Incremental windows: which cursor range a run reads, how its chunks are named, and how far the
// watermark may move once some of them have committed. Pure rules; the run loop applies them.

import type { Chunk } from './chunk.js';

/** Window chunks are kept in the job's ledger beside the history chunks, under keys of their own. */
export const WINDOW_PREFIX = 'window ';

export function isWindowChunk(key: string): boolean {
  return key.startsWith(WINDOW_PREFIX);
}

/** A history chunk's twin for a window: same bounds, a key and file tag that cannot meet a history chunk's. */
export function windowChunk(chunk: Chunk): Chunk {
  return { ...chunk, key: `${WINDOW_PREFIX}${chunk.key}`, tag: `w${chunk.tag}` };
}

/** Integer cursors and epoch-millisecond watermarks live in a 64-bit column. */
export const MIN_CURSOR = -(2n ** 63n);
export const MAX_CURSOR = 2n ** 63n - 1n;

/**
 * The cursor range [lo, hi) a run reads: from the watermark minus the lookback (rows that arrived
 * late, below the watermark) up to `upper` — now minus the settle delay for a time cursor, the
 * largest cursor value plus one for an integer cursor. Undefined when there is nothing to read.
 *
 * Consecutive windows always meet or overlap (each starts at or below where the watermark stands,
 * and the watermark never passes a window's end), so no cursor value falls between two runs.
 * Bounds are compared as `lo <= cursor < hi`: every row holding one cursor value, however many,
 * falls on the same side of every bound.
 */
export function incrementalWindow(watermark: bigint, lookback: bigint, upper: bigint): { lo: bigint; hi: bigint } | undefined {
  const lo = clamp(watermark - lookback);
  const hi = clamp(upper);
  return hi > lo ? { lo, hi } : undefined;
}

/**
 * Where the watermark may stand once the window's chunks in `done` have committed: the end of the
 * unbroken run of committed chunks from the window's start, never below `current`. A committed
 * chunk after a failed one does not count — the failed one's rows are below it and unread.
 */
export function advancedWatermark(current: bigint, windowChunks: readonly { readonly key: string; readonly lo: bigint; readonly hi: bigint }[], done: ReadonlySet<string>): bigint {
  const sorted = [...windowChunks].sort((a, b) => (a.lo < b.lo ? -1 : a.lo > b.lo ? 1 : 0));
  let reached: bigint | undefined;
  for (const c of sorted) {
    if (!done.has(c.key)) break;
    if (reached !== undefined && c.lo > reached) break;
    reached = c.hi;
  }
  return reached !== undefined && reached > current ? reached : current;
}

function clamp(v: bigint): bigint {
  return v < MIN_CURSOR ? MIN_CURSOR : v > MAX_CURSOR ? MAX_CURSOR : v;
}

/** Window chunk records of this many of the latest window runs are kept (for status, rollback's checks). */
export const KEEP_WINDOW_RUNS = 20;

/**
 * The window chunk records a ledger can forget: those of window runs older than the latest
 * `keep`, unless a backup of theirs has not been put back (a rollback may still need the record).
 */
export function staleWindowChunks(
  records: readonly { readonly key: string; readonly runId: string | null; readonly startedAt: number | null; readonly status: string }[],
  backedUp: ReadonlySet<string>,
  keep = KEEP_WINDOW_RUNS,
): string[] {
  const windows = records.filter((r) => isWindowChunk(r.key));
  const runStart = new Map<string, number>();
  for (const r of windows) {
    if (r.runId === null) continue;
    runStart.set(r.runId, Math.min(runStart.get(r.runId) ?? Infinity, r.startedAt ?? 0));
  }
  const recent = new Set([...runStart.entries()].sort((a, b) => b[1] - a[1]).slice(0, keep).map(([run]) => run));
  return windows.filter((r) => r.status !== 'running' && r.runId !== null && !recent.has(r.runId) && !backedUp.has(r.key)).map((r) => r.key);
}

