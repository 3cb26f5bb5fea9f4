// Skew of a chunk plan: the largest and median chunk and the heaviest periods, from rows per chunk.

import type { Chunk } from '../../core/chunk.js';

export interface ChunkRows {
  readonly lo: string;
  readonly hi: string;
  readonly rows: number;
}

export interface Skew {
  readonly largest: ChunkRows | undefined;
  readonly median: number;
  /** Largest chunk over the median chunk (0 when the median is empty). */
  readonly ratio: number;
  /** The five heaviest chunks, heaviest first. */
  readonly heaviest: readonly ChunkRows[];
  /** Chunks with no rows at all. */
  readonly empty: number;
}

export function skewOf(chunks: readonly Chunk[], rows: readonly number[]): Skew {
  const list: ChunkRows[] = chunks.map((c, i) => ({ lo: c.lo, hi: c.hi, rows: rows[i] ?? 0 }));
  const heaviest = [...list].sort((a, b) => b.rows - a.rows).slice(0, 5);
  const median = medianOf(list.map((c) => c.rows));
  const largest = heaviest[0];
  return { largest, median, ratio: largest !== undefined && median > 0 ? largest.rows / median : 0, heaviest, empty: list.filter((c) => c.rows === 0).length };
}

export function medianOf(values: readonly number[]): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}
