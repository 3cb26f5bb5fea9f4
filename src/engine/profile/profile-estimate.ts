// The duration estimate: one sampled slice of one chunk run for real into a scratch target, its rate scaled to the whole plan.

import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Chunk } from '../../core/chunk.js';
import { EventBus } from '../../core/events.js';
import type { Chunking } from '../../core/planner.js';
import { createScratchTarget } from '../../connectors/open-connectors.js';
import type { Job } from '../../job/job.js';
import { runBackfill } from '../run/run-backfill.js';
import { chunkSpan } from './profile-spread.js';

/** Share of the rows the sample takes: the profile must cost a small part of the run it sizes. */
export const SAMPLE_SHARE = 0.01;
/** Fewest rows worth timing: below this a chunk's fixed cost drowns its rate. */
export const MIN_SAMPLE_ROWS = 20_000;

export interface SampleSlice {
  /** The chunk sampled, and the part of it read. */
  readonly chunk: Chunk;
  readonly chunking: Chunking;
  readonly expectedRows: number;
}

/** The heaviest chunk, cut to about `share` of all rows (rows are assumed even within it). */
export function pickSlice(chunking: Chunking, chunks: readonly Chunk[], rows: readonly number[], share = SAMPLE_SHARE): SampleSlice | undefined {
  const total = rows.reduce((a, b) => a + b, 0);
  let best = -1;
  for (let i = 0; i < chunks.length; i++) if (best < 0 || (rows[i] ?? 0) > (rows[best] ?? 0)) best = i;
  const chunk = chunks[best];
  const chunkRows = rows[best] ?? 0;
  if (chunk === undefined || chunkRows === 0) return undefined;
  const want = Math.min(chunkRows, Math.max(MIN_SAMPLE_ROWS, total * share));
  const span = chunkSpan(chunk);
  const width = Math.max(1, Math.ceil(((span.hi - span.lo) * want) / chunkRows));
  const hi = Math.min(span.hi, span.lo + width);
  const clipped: Chunking =
    chunking.kind === 'time' ? { ...chunking, from: span.lo, to: hi } : { ...chunking, from: BigInt(span.lo), to: BigInt(hi) };
  return { chunk, chunking: clipped, expectedRows: Math.round((chunkRows * (hi - span.lo)) / (span.hi - span.lo)) };
}

export interface SampleTiming {
  /** The run's time outside its chunks (opening, planning, ledger): paid once by a real run too. */
  readonly fixedSeconds: number;
  /** Time inside the sampled chunk. */
  readonly chunkSeconds: number;
  readonly rows: number;
  readonly lo: string;
  readonly hi: string;
}

/** Run the slice as its own job into a scratch copy of the target (never the real one), with a ledger of its own. */
export async function timeSlice(job: Job, slice: SampleSlice): Promise<SampleTiming> {
  const id = `p${Date.now().toString(36)}${Math.floor(Math.random() * 36 ** 4).toString(36)}`;
  const dir = join(job.stateDir, 'profile', id);
  mkdirSync(dir, { recursive: true });
  const name = `${job.name}-profile-${id}`.slice(0, 128);
  const scratch = await createScratchTarget(job, id, dir, name);
  const events = new EventBus();
  let chunkMs = 0;
  events.on('chunk:done', (e) => (chunkMs += e.ms));
  try {
    const sampleJob: Job = {
      ...job, name, target: scratch.target as Job['target'], chunking: slice.chunking, incremental: undefined, concurrency: 1, verify: false,
      ledgerPath: join(dir, 'ledger.sqlite'), ledgerUrl: undefined, stateDir: join(dir, 'state'), retries: { ...job.retries, attempts: 1 },
      // Rows a run would reject (NULL chunk values, bad lines) are the profile's findings, not a reason to lose the timing.
      rejects: { perChunk: Number.MAX_SAFE_INTEGER, perRun: undefined, dir: join(dir, 'rejects') },
    };
    const t0 = performance.now();
    const result = await runBackfill(sampleJob, { events });
    const totalMs = performance.now() - t0;
    const failed = result.chunks.find((c) => c.outcome === 'failed');
    if (failed !== undefined) throw new Error(`the sampled chunk failed: ${failed.error ?? 'unknown error'}`);
    const lo = slice.chunking.kind === 'time' ? new Date(Number(slice.chunking.from)).toISOString() : String(slice.chunking.from);
    const hi = slice.chunking.kind === 'time' ? new Date(Number(slice.chunking.to)).toISOString() : String(slice.chunking.to);
    return { fixedSeconds: Math.max(0, totalMs - chunkMs) / 1000, chunkSeconds: chunkMs / 1000, rows: result.rowsRead, lo, hi };
  } finally {
    await scratch.drop().catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * The run's duration: its fixed part once, then every chunk at the sample's rate, the chunks
 * shared among the slots that run at once (`concurrency`, at most one per core and per chunk).
 */
export function estimateSeconds(timing: SampleTiming, totalRows: number, chunks: number, concurrency: number, cores: number): number {
  if (timing.rows <= 0) return timing.fixedSeconds + timing.chunkSeconds * chunks / Math.max(1, Math.min(concurrency, cores, chunks));
  const slots = Math.max(1, Math.min(concurrency, cores, chunks));
  return timing.fixedSeconds + ((timing.chunkSeconds / timing.rows) * totalRows) / slots;
}
