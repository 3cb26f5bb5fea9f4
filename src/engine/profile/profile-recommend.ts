// The chunking and concurrency `profile` recommends: chunks of roughly 1–5 million rows at the busiest part of history, fewer under a memory cap.

import type { Chunk } from '../../core/chunk.js';
import { formatStep, type Step } from '../../core/duration.js';
import type { Chunking } from '../../core/planner.js';
import { chunkSpan } from './profile-spread.js';

/** Most rows a chunk should hold: enough to amortise each chunk's fixed cost, few enough to retry cheaply and bound memory. */
export const MAX_CHUNK_ROWS = 5_000_000;
export const MIN_CHUNK_ROWS = 1_000_000;
/** Under a memory cap a chunk's rows should take at most this share of the cap per chunk in flight (DuckDB sorts and buffers besides). */
const MEMORY_SHARE = 0.25;

export interface ChunkingAdvice {
  /** The job-file line: `chunk.every: 1 week` or `chunk.size: 2000000`. */
  readonly setting: string;
  /** The same as the `chunk:` field it sets. */
  readonly chunk: { readonly every: string } | { readonly size: number };
  readonly concurrency: number;
  /** Estimated rows of the busiest and of the median chunk with that setting. */
  readonly peakRows: number;
  readonly medianRows: number;
  readonly chunks: number;
  readonly reason: string;
}

const STEPS: readonly { step: Step; ms: number }[] = [
  { step: { n: 1, unit: 'hour' }, ms: 3_600_000 },
  { step: { n: 6, unit: 'hour' }, ms: 6 * 3_600_000 },
  { step: { n: 1, unit: 'day' }, ms: 86_400_000 },
  { step: { n: 1, unit: 'week' }, ms: 7 * 86_400_000 },
  { step: { n: 1, unit: 'month' }, ms: 30.44 * 86_400_000 },
  { step: { n: 3, unit: 'month' }, ms: 91.31 * 86_400_000 },
  { step: { n: 1, unit: 'year' }, ms: 365.25 * 86_400_000 },
];

export interface AdviceInput {
  readonly chunking: Chunking;
  readonly chunks: readonly Chunk[];
  readonly rows: readonly number[];
  /** Average bytes a row takes in the source, when known. */
  readonly bytesPerRow: number | undefined;
  readonly memoryLimitBytes: number | undefined;
  readonly cores: number;
}

/**
 * Densities (rows per unit of the chunk column) of the busiest and the median chunk decide: the
 * largest step whose busiest chunk stays under the row limit wins, so skewed history gets chunks
 * sized for its heaviest part. Concurrency: one chunk per core, never more than there are chunks.
 */
export function adviseChunking(input: AdviceInput): ChunkingAdvice | undefined {
  const densities = input.chunks.map((c, i) => {
    const span = chunkSpan(c);
    return (input.rows[i] ?? 0) / Math.max(1, span.hi - span.lo);
  });
  const total = input.rows.reduce((a, b) => a + b, 0);
  if (densities.length === 0 || total === 0) return undefined;
  const peak = Math.max(...densities);
  const sortedNonEmpty = densities.filter((d) => d > 0).sort((a, b) => a - b);
  const median = sortedNonEmpty[Math.floor(sortedNonEmpty.length / 2)] ?? 0;
  const first = chunkSpan(input.chunks[0] as Chunk).lo;
  const last = chunkSpan(input.chunks[input.chunks.length - 1] as Chunk).hi;
  const width = Math.max(1, last - first);
  const concurrencyFor = (chunks: number): number => Math.max(1, Math.min(input.cores, chunks));
  let limit = MAX_CHUNK_ROWS;
  let capped = '';
  if (input.memoryLimitBytes !== undefined && input.bytesPerRow !== undefined && input.bytesPerRow > 0) {
    const fits = Math.floor((input.memoryLimitBytes * MEMORY_SHARE) / input.bytesPerRow / concurrencyFor(input.chunks.length));
    if (fits < limit) {
      limit = Math.max(10_000, fits);
      capped = ` (memory capped: at most ${limit.toLocaleString('en-US')} rows a chunk)`;
    }
  }
  type Candidate = { setting: string; chunk: ChunkingAdvice['chunk']; width: number };
  const pick = (candidates: readonly Candidate[]): ChunkingAdvice => {
    const fitting = candidates.filter((c) => peak * c.width <= limit);
    const choice = fitting[fitting.length - 1] ?? (candidates[0] as Candidate);
    const chunks = Math.max(1, Math.ceil(width / choice.width));
    const peakRows = Math.min(total, Math.round(peak * choice.width));
    const medianRows = Math.min(total, Math.round(median * choice.width));
    const concurrency = concurrencyFor(chunks);
    const reason =
      fitting.length === 0
        ? `even the smallest chunks hold about ${peakRows.toLocaleString('en-US')} rows at the busiest period${capped}`
        : `the busiest chunk would hold about ${peakRows.toLocaleString('en-US')} rows and the median ${medianRows.toLocaleString('en-US')} ` +
          `(aim: ${MIN_CHUNK_ROWS.toLocaleString('en-US')}–${limit.toLocaleString('en-US')})${capped}; ${concurrency} in flight: one chunk per core`;
    return { setting: choice.setting, chunk: choice.chunk, concurrency, peakRows, medianRows, chunks, reason };
  };
  if (input.chunking.kind === 'time') {
    return pick(STEPS.map((s) => ({ setting: `chunk.every: ${formatStep(s.step)}`, chunk: { every: formatStep(s.step) }, width: s.ms })));
  }
  const sizes: Candidate[] = [];
  for (let exp = 0; exp <= 15; exp++) {
    for (const m of [1, 2, 5]) {
      const size = m * 10 ** exp;
      sizes.push({ setting: `chunk.size: ${size}`, chunk: { size }, width: size });
    }
  }
  return pick(sizes);
}
