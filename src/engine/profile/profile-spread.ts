// Rows per chunk from what a source knows of its spread: histogram buckets and ranges shared out over the chunks they overlap.

import type { Chunk } from '../../core/chunk.js';
import type { RowSpread } from '../../connectors/source-profile.js';

/** A chunk's bounds as numbers (epoch ms for time, the integers for keys). */
export function chunkSpan(chunk: Chunk): { lo: number; hi: number } {
  return chunk.kind === 'time' ? { lo: Date.parse(chunk.lo), hi: Date.parse(chunk.hi) } : { lo: Number(chunk.lo), hi: Number(chunk.hi) };
}

/**
 * Estimated rows of each chunk. A piece holding `rows` over `[lo, hi]` gives each chunk the share
 * of its width the chunk covers (rows are assumed even within a piece); a piece of one value goes
 * whole to the chunk holding it. Rows outside every chunk (before `chunk.from`, after `chunk.to`) count nowhere.
 */
export function rowsPerChunk(spread: RowSpread, chunks: readonly Chunk[]): number[] {
  if (spread.kind === 'counts') return chunks.map((_, i) => spread.counts[i] ?? 0);
  const spans = chunks.map(chunkSpan);
  const out = chunks.map(() => 0);
  const pieces =
    spread.kind === 'ranges'
      ? spread.ranges
      : spread.bounds.slice(1).map((hi, i) => ({ lo: spread.bounds[i] as number, hi, rows: spread.rows / (spread.bounds.length - 1) }));
  for (const piece of pieces) {
    if (piece.rows <= 0 || !(piece.hi >= piece.lo)) continue;
    let i = firstChunkEndingAfter(spans, piece.lo);
    if (piece.hi === piece.lo) {
      const span = spans[i];
      if (span !== undefined && span.lo <= piece.lo) out[i] = (out[i] as number) + piece.rows;
      continue;
    }
    const width = piece.hi - piece.lo;
    for (; i < spans.length; i++) {
      const span = spans[i] as { lo: number; hi: number };
      if (span.lo >= piece.hi) break;
      const overlap = Math.min(piece.hi, span.hi) - Math.max(piece.lo, span.lo);
      if (overlap > 0) out[i] = (out[i] as number) + (piece.rows * overlap) / width;
    }
  }
  return out.map((n) => Math.round(n));
}

/** Index of the first chunk whose end lies after `value` (chunks are sorted and contiguous). */
function firstChunkEndingAfter(spans: readonly { lo: number; hi: number }[], value: number): number {
  let lo = 0;
  let hi = spans.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if ((spans[mid] as { hi: number }).hi <= value) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
