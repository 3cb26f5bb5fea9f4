// The duration estimate: slices of the heaviest chunk run for real into a scratch target at the job's concurrency, a cost per chunk and a cost per row fitted to their times, and every planned chunk laid out over the slots.

import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { ulid } from 'ulid';
import { keyChunk, timeChunk, type Chunk } from '../../core/chunk.js';
import { EventBus } from '../../core/events.js';
import { createScratchTarget } from '../../connectors/open-connectors.js';
import type { LightPiece } from '../../connectors/source-profile.js';
import type { Job } from '../../job/job.js';
import { runChunks } from '../run/run-chunks.js';
import type { LentSource } from '../run/run-options.js';
import { chunkSpan } from './profile-spread.js';

/**
 * Rows of a large slice as a share of all rows: the profile must cost a small part of the run it
 * sizes, and a slice must be large enough to cost per row what the run's chunks of millions cost.
 * Where slices are cut at any row (databases), the line through the small and large slices takes
 * a chunk's fixed cost apart, and 0.3% measured the run as well as 0.5% did in three quarters of
 * the profile's time: 24 profiles each of the skewed 50M-row PostgreSQL table, taking turns beside
 * its runs, estimated −19% to +26% of the runs with 150,000-row slices (0.45 s, the median) and
 * −17% to +30% with 250,000-row slices (0.61 s); 100,000-row slices (0.2%) leaned high
 * (docs/profile.md).
 */
export const LARGE_SHARE = 0.003;
/**
 * On whole pieces (dated files) a slice holds whole files, and what a row costs depends on which
 * ones: a gzipped file is inflated on one thread. At 0.3% the 50M-row demo's large slices were one
 * file each (one of them gzipped) and estimated +20% to +65% of the runs; at 0.5% one slice holds a
 * plain and a gzipped file and the other a plain one, and four profiles estimated −3% to +11%.
 */
export const LARGE_SHARE_WHOLE_PIECES = 0.005;
/** Bounds of a large slice: fewer rows drown the rate in a chunk's fixed cost; more only cost time. */
export const MIN_LARGE_ROWS = 50_000;
export const MAX_LARGE_ROWS = 500_000;
/** A small slice holds this share of a large one: far enough apart to tell a chunk's fixed cost from its rows' cost. */
export const SMALL_RATIO = 0.1;
/**
 * The first slices warm the process up (connections, the first write, code not yet compiled) and
 * are the size of small ones: what they take beyond the small ones is the warm-up a run pays once.
 */
export const WARM_RATIO = SMALL_RATIO;

export type SliceRole = 'warm' | 'small' | 'large';

export interface SampleSlice {
  readonly chunk: Chunk;
  readonly role: SliceRole;
  /** Rows the slice should hold if rows are even within the sampled chunk. */
  readonly expectedRows: number;
}

export interface SamplePlan {
  /** The planned chunk the slices are cut from: the heaviest. */
  readonly from: Chunk;
  /** Run in this order: one warm-up, one small and one large slice per slot. */
  readonly slices: readonly SampleSlice[];
  /** Chunks in flight at once, in the sample and in the estimate. */
  readonly slots: number;
  /** The warm-up slices are the cheapest pieces outside the sampled chunk, not its first rows. */
  readonly warmApart?: boolean;
}

/** Chunks in flight at once: the job's concurrency, at most one per core and per chunk (more than the cores share them). */
export function slotsFor(concurrency: number, cores: number, chunks: number): number {
  return Math.max(1, Math.min(concurrency, cores, chunks));
}

/**
 * Cut the heaviest chunk into consecutive slices — `slots` warm-up, `slots` small, `slots` large
 * ones — so that each group runs side by side as the run's chunks do. Slices are sized in rows
 * (rows are assumed even within the chunk), scaled down together when the chunk holds fewer. The
 * small slices are left out when every planned chunk holds at least a large slice's rows: they
 * only serve to cost chunks smaller than that. So are the warm-up slices then: they only keep the
 * first slices' warm-up out of the cost per chunk the small ones measure.
 *
 * `edges` are the bounds of the pieces a read takes whole (dated files pruned by name): a slice
 * that ends inside one reads all of it and keeps part, so it would cost more per row than the
 * run's chunks, which hold whole files. There every slice ends on an edge and holds one piece at
 * least, and a large slice holds at least twice the pieces of a small one, so the two sizes still
 * tell a chunk's fixed cost from its rows'. `light` are the cheapest of those pieces (plain files,
 * fewest bytes first): the warm-up slices are taken from them, outside the sampled chunk — a
 * warm-up slice only has to open a read and a write, and the chunk's first file may be a large
 * gzipped one.
 */
export function planSample(
  chunks: readonly Chunk[], rows: readonly number[], slots: number, edges: readonly number[] = [], light: readonly LightPiece[] = [],
): SamplePlan | undefined {
  const total = rows.reduce((a, b) => a + b, 0);
  let best = -1;
  for (let i = 0; i < chunks.length; i++) if (best < 0 || (rows[i] ?? 0) > (rows[best] ?? 0)) best = i;
  const chunk = chunks[best];
  const chunkRows = rows[best] ?? 0;
  if (chunk === undefined || chunkRows <= 0) return undefined;
  const large = Math.min(MAX_LARGE_ROWS, Math.max(MIN_LARGE_ROWS, total * (edges.length > 0 ? LARGE_SHARE_WHOLE_PIECES : LARGE_SHARE)));
  const all: [SliceRole, number][] = [['warm', large * WARM_RATIO], ['small', large * SMALL_RATIO], ['large', large]];
  const scale = Math.min(1, chunkRows / (slots * all.reduce((a, [, n]) => a + n, 0)));
  // Small slices tell a chunk's fixed cost from its rows'; that split changes the estimate only of
  // chunks smaller than a large slice (larger ones are costed at the large slices' rate, estimateRun).
  // The warm-up slices keep what the first slices pay once out of that fixed cost, so without small
  // slices there are none: the profile lends the sample its session, warm from describing the
  // source, and on the 50M-row demo the large slices then cost 1.16-1.22 µs a row cold against
  // 1.06-1.23 after a warm-up that took 0.08 s more (eight profiles of each; docs/profile.md).
  const small = rows.some((r) => r < large * scale);
  const want = small ? all : all.filter(([role]) => role === 'large');
  const span = chunkSpan(chunk);
  // Only chunks with numeric bounds (time, integer keys) can be cut.
  if (!Number.isFinite(span.lo) || !Number.isFinite(span.hi) || span.hi <= span.lo) return undefined;
  const density = chunkRows / Math.max(1, span.hi - span.lo);
  const inside = [...new Set(edges)].filter((e) => e > span.lo && e < span.hi).sort((a, b) => a - b);
  inside.push(span.hi);
  const slices: SampleSlice[] = [];
  // Warm up on the cheapest whole pieces outside the sampled chunk that hold half a warm-up's rows
  // at least, one per slot, where there are enough; otherwise on the chunk's first rows.
  const warmRows = large * WARM_RATIO * scale;
  const cheap = chunk.kind !== 'time' ? [] : light.filter((p) => (p.hi <= span.lo || p.lo >= span.hi) && p.hi > p.lo && p.rows >= warmRows / 2).slice(0, slots);
  const warmApart = small && cheap.length === slots;
  if (warmApart) for (const p of cheap) slices.push({ chunk: timeChunk(p.lo, p.hi), role: 'warm', expectedRows: p.rows });
  let cursor = span.lo;
  let smallPieces = 0;
  for (const [role, n] of want) {
    if (role === 'warm' && warmApart) continue;
    for (let s = 0; s < slots && cursor < span.hi; s++) {
      // A chunk that holds fewer rows than the slices want is taken whole, to its last value.
      const last = scale < 1 && role === 'large' && s === slots - 1;
      const aim = last ? span.hi : Math.min(span.hi, cursor + Math.max(1, Math.round((n * scale) / density)));
      let hi = aim;
      if (inside.length > 1) {
        // On whole pieces: the edge nearest the aim, one piece at least (two small slices' worth for a large one).
        const first = inside.findIndex((e) => e > cursor);
        let at = first;
        for (let j = first; j < inside.length; j++) if (Math.abs((inside[j] as number) - aim) < Math.abs((inside[at] as number) - aim)) at = j;
        if (role === 'large' && smallPieces > 0) at = Math.max(at, Math.min(inside.length - 1, first + 2 * smallPieces - 1));
        if (role === 'small') smallPieces = Math.max(smallPieces, at - first + 1);
        hi = inside[at] as number;
      }
      slices.push({ chunk: chunk.kind === 'time' ? timeChunk(cursor, hi) : keyChunk(BigInt(cursor), BigInt(hi)), role, expectedRows: Math.round((hi - cursor) * density) });
      cursor = hi;
    }
  }
  return { from: chunk, slices, slots, warmApart };
}

export interface SlicePoint {
  readonly role: SliceRole;
  readonly rows: number;
  /** Inside the chunk: claim to commit. */
  readonly seconds: number;
  /** When it started, from the first slice's start. */
  readonly at: number;
}

export interface SampleTiming {
  /** The sample run's time outside every chunk (opening, planning, the ledger): a real run pays it once too. */
  readonly outsideSeconds: number;
  /** The whole sample run, as the profile paid it. */
  readonly wallSeconds: number;
  readonly points: readonly SlicePoint[];
  readonly slots: number;
  readonly lo: string;
  readonly hi: string;
}

/**
 * Run the slices as a job of their own into a scratch copy of the target (never the real one),
 * with a ledger of its own. The job's own reject budget by default: where rows may be set aside
 * the read takes a slower path, and the sample must time the path the run takes. `keepRejects`
 * sets aside every bad row instead, for a sample that failed on them. `lent`: the profile's DuckDB
 * session and source, prepared and described, which the sample run uses instead of opening its own.
 */
export async function timeSample(job: Job, sample: SamplePlan, keepRejects = false, lent?: LentSource): Promise<SampleTiming> {
  const id = `p${Date.now().toString(36)}${Math.floor(Math.random() * 36 ** 4).toString(36)}`;
  const dir = join(job.stateDir, 'profile', id);
  mkdirSync(dir, { recursive: true });
  const name = `${job.name}-profile-${id}`.slice(0, 128);
  const scratch = await createScratchTarget(job, id, dir, name);
  const events = new EventBus();
  const roles = new Map(sample.slices.map((s) => [s.chunk.key, s.role]));
  const points: SlicePoint[] = [];
  let first = Infinity;
  let last = -Infinity;
  events.on('chunk:start', () => (first = Math.min(first, performance.now())));
  const ends: { role: SliceRole; rows: number; seconds: number; end: number }[] = [];
  events.on('chunk:done', (e) => {
    last = Math.max(last, performance.now());
    ends.push({ role: roles.get(e.chunk.key) ?? 'large', rows: e.stats.rowsRead, seconds: e.ms / 1000, end: performance.now() });
  });
  try {
    const sampleJob: Job = {
      // Timed at full speed: adaptive concurrency would time the source's load of the moment, not the work.
      ...job, name, target: scratch.target as Job['target'], incremental: undefined, concurrency: sample.slots, adaptiveConcurrency: false, verify: false,
      ledgerPath: join(dir, 'ledger.sqlite'), ledgerUrl: undefined, stateDir: join(dir, 'state'), retries: { ...job.retries, attempts: 1 },
      rejects: { perChunk: keepRejects ? Number.MAX_SAFE_INTEGER : job.rejects.perChunk, perRun: undefined, dir: join(dir, 'rejects') },
    };
    const t0 = performance.now();
    // The slices are the run's chunks, in this order, instead of the job's plan.
    const window = { chunks: sample.slices.map((s) => s.chunk), runId: ulid(), chunkDone: async () => {}, prune: async () => {} };
    const result = await runChunks(sampleJob, { events }, { window, lent });
    const wallMs = performance.now() - t0;
    // The first slice alone counts the rows with NULL chunk values, as the plan's first chunk does: a
    // warm-up slice failing on them costs the estimate nothing.
    const failed = result.chunks.find((c) => c.outcome === 'failed' && roles.get(c.key) !== 'warm');
    if (failed !== undefined) throw new Error(`a sampled slice failed: ${failed.error ?? 'unknown error'}`);
    const phaseMs = ends.length === 0 ? 0 : last - first;
    const ms = (s: number): number => Math.round(s * 1000) / 1000;
    for (const e of ends) points.push({ role: e.role, rows: e.rows, seconds: e.seconds, at: ms(Math.max(0, (e.end - first) / 1000 - e.seconds)) });
    // The range of the measured slices: the warm-up may have run elsewhere.
    const measuredSlices = sample.slices.filter((s) => s.role !== 'warm');
    const slices = (measuredSlices.length > 0 ? measuredSlices : sample.slices).map((s) => s.chunk);
    return {
      outsideSeconds: Math.max(0, wallMs - phaseMs) / 1000, wallSeconds: wallMs / 1000, points, slots: sample.slots,
      lo: (slices[0] as Chunk).lo, hi: (slices[slices.length - 1] as Chunk).hi,
    };
  } finally {
    await scratch.drop().catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  }
}

export interface ChunkCost {
  /** What every chunk costs whatever its rows (claim, opening its read and write, commit). */
  readonly perChunkSeconds: number;
  readonly perRowSeconds: number;
}

/**
 * The least-squares line through (rows, seconds) of the slices. Noise can tilt it below zero
 * on either side: then it goes through the origin (all cost per row).
 */
export function fitChunkCost(points: readonly { readonly rows: number; readonly seconds: number }[]): ChunkCost {
  const n = points.length;
  if (n === 0) return { perChunkSeconds: 0, perRowSeconds: 0 };
  const mx = points.reduce((a, p) => a + p.rows, 0) / n;
  const my = points.reduce((a, p) => a + p.seconds, 0) / n;
  const sxx = points.reduce((a, p) => a + (p.rows - mx) ** 2, 0);
  const sxy = points.reduce((a, p) => a + (p.rows - mx) * (p.seconds - my), 0);
  const slope = sxx > 0 ? sxy / sxx : NaN;
  if (Number.isFinite(slope) && slope > 0 && my - slope * mx >= 0) return { perChunkSeconds: my - slope * mx, perRowSeconds: slope };
  const sq = points.reduce((a, p) => a + p.rows * p.rows, 0);
  if (sq === 0) return { perChunkSeconds: my, perRowSeconds: 0 };
  return { perChunkSeconds: 0, perRowSeconds: points.reduce((a, p) => a + p.rows * p.seconds, 0) / sq };
}

/** When the last of `seconds` ends, taken in order by `slots` workers, each chunk by the first one free (as the run's pool does). */
export function poolSeconds(seconds: readonly number[], slots: number): number {
  const free = Array.from({ length: Math.max(1, slots) }, () => 0);
  for (const s of seconds) {
    let i = 0;
    for (let j = 1; j < free.length; j++) if ((free[j] as number) < (free[i] as number)) i = j;
    free[i] = (free[i] as number) + s;
  }
  return Math.max(...free);
}

export interface RunEstimate {
  readonly seconds: number;
  readonly cost: ChunkCost;
  /** Rows of a large slice where chunks above them are costed at the large slices' rate; 0 where the line holds for every chunk. */
  readonly largeRows: number;
  /** What the first slices took beyond the fitted line: warming up, paid once per run. */
  readonly warmSeconds: number;
  readonly outsideSeconds: number;
}

/**
 * The large slices must take this many times as long as the small ones for the line through them
 * to be drawn out past them: its slope is the difference of the two times, and with times close
 * together a few percent of noise in either tilts it by tens of percent (on whole files, a small
 * slice of one file and a large one of two; docs/profile.md).
 */
export const STEEP_ENOUGH = 3;

/**
 * What a chunk of `rows` costs: on the line up to the large slices' rows (`largeRows`, 0: the
 * line everywhere), and beyond them their rate — their time per row, their per-chunk part
 * included, which overstates a larger chunk by that part spread over their rows.
 */
export function chunkSeconds(cost: ChunkCost, largeRows: number, rows: number): number {
  const upTo = largeRows > 0 ? Math.min(rows, largeRows) : rows;
  const line = cost.perChunkSeconds + cost.perRowSeconds * upTo;
  return largeRows > 0 && rows > largeRows ? (line * rows) / largeRows : line;
}

/** The run: its time outside chunks once, the warm-up once, then the planned chunks at the measured cost laid over the slots. */
export function estimateRun(timing: SampleTiming, rowsPerChunk: readonly number[]): RunEstimate {
  const measured = timing.points.filter((p) => p.role !== 'warm');
  const mean = (role: SliceRole, of: (p: SlicePoint) => number): number => {
    const ps = timing.points.filter((p) => p.role === role);
    return ps.length === 0 ? 0 : ps.reduce((a, p) => a + of(p), 0) / ps.length;
  };
  const small = mean('small', (p) => p.seconds);
  // Without small slices (every chunk holds more rows than a large one) the large slices' rate is all there is.
  const rate = (ps: readonly SlicePoint[]): ChunkCost => ({ perChunkSeconds: 0, perRowSeconds: ps.reduce((a, p) => a + p.seconds, 0) / Math.max(1, ps.reduce((a, p) => a + p.rows, 0)) });
  const cost = small > 0 ? fitChunkCost(measured) : measured.length > 0 ? rate(measured) : fitChunkCost(timing.points);
  // The line goes on past the large slices only where they measured it well.
  const steep = small > 0 && mean('large', (p) => p.seconds) >= STEEP_ENOUGH * small;
  const largeRows = steep ? 0 : mean('large', (p) => p.rows);
  const predicted = (rows: number): number => chunkSeconds(cost, largeRows, rows);
  const warm = timing.points.filter((p) => p.role === 'warm').map((p) => p.seconds - predicted(p.rows));
  const warmSeconds = Math.max(0, ...warm);
  const pool = poolSeconds(rowsPerChunk.map(predicted), timing.slots);
  return { seconds: timing.outsideSeconds + warmSeconds + pool, cost, largeRows, warmSeconds, outsideSeconds: timing.outsideSeconds };
}

export type DurationEstimate =
  | {
      readonly seconds: number;
      readonly source: string;
      readonly sample: { readonly lo: string; readonly hi: string; readonly rows: number; readonly slices: number; readonly seconds: number; readonly points: readonly SlicePoint[] };
      readonly fit: { readonly perChunkMs: number; readonly perRowUs: number; readonly largeRows: number; readonly warmSeconds: number; readonly outsideSeconds: number; readonly slots: number };
    }
  | { readonly seconds: undefined; readonly source: string };

/** What the estimate is drawn from: the plan, the rows of each chunk, the cores, the source's whole pieces, and the profile's open source to sample with. */
export interface EstimateInputs {
  readonly chunks: readonly Chunk[];
  readonly rowsPerChunk: readonly number[];
  readonly cores: number;
  /** Bounds of the pieces a read takes whole (dated files pruned by name). */
  readonly edges?: readonly number[] | undefined;
  /** The source's cheapest pieces, fewest bytes first (warm-up slices). */
  readonly light?: readonly LightPiece[] | undefined;
  readonly lent?: LentSource | undefined;
  /** What describing the source took the profile (finding files, sniffing them): the lent sample run skips it, the run does not. */
  readonly describeSeconds?: number | undefined;
}

/** Sample, time and estimate; every figure says where it came from. */
export async function estimateDuration(job: Job, inputs: EstimateInputs): Promise<DurationEstimate> {
  const { chunks, rowsPerChunk, cores, edges = [], light = [], lent, describeSeconds = 0 } = inputs;
  const slots = slotsFor(job.concurrency, cores, chunks.length);
  const sample = planSample(chunks, rowsPerChunk, slots, edges, light);
  if (sample === undefined) return { seconds: undefined, source: 'not measured: no chunk with rows to cut slices from' };
  // Rows a run would reject (NULL chunk values, bad lines) are the profile's findings, not a reason to lose the timing.
  let keptAside = '';
  const measured = await timeSample(job, sample, false, lent).catch(async () => {
    keptAside = ' (bad rows set aside: with the job\'s reject budget a slice failed)';
    return timeSample(job, sample, true, lent);
  });
  const timing = { ...measured, outsideSeconds: measured.outsideSeconds + describeSeconds };
  const run = estimateRun(timing, rowsPerChunk);
  const n = (v: number): string => Math.round(v).toLocaleString('en-US');
  const sizes = (role: SliceRole): string => {
    const rows = timing.points.filter((p) => p.role === role).map((p) => p.rows);
    return rows.length === 0 ? '0' : `${rows.length} × ${n(rows.reduce((a, b) => a + b, 0) / rows.length)}`;
  };
  const rows = timing.points.reduce((a, p) => a + p.rows, 0);
  const total = rowsPerChunk.reduce((a, b) => a + b, 0);
  const withSmall = timing.points.some((p) => p.role === 'small');
  const warmed = timing.points.some((p) => p.role === 'warm');
  const source =
    `slices of ${sample.from.lo} … ${sample.from.hi}${edges.length > 0 ? ' on whole files' : ''} (${withSmall ? `${sizes('small')} and ` : ''}${sizes('large')} rows${warmed ? `, after ${sizes('warm')} to warm up${sample.warmApart === true ? ' on the smallest plain files' : ''}` : ''}) run into a scratch target ` +
    `${slots} at a time; ${!withSmall ? `every chunk at the large slices' ${(run.cost.perRowSeconds * 1e6).toFixed(2)} µs a row` : `fitted ${(run.cost.perChunkSeconds * 1000).toFixed(0)} ms a chunk + ${(run.cost.perRowSeconds * 1e6).toFixed(2)} µs a row${run.largeRows > 0 ? ` up to ${n(run.largeRows)} rows and the large slices' rate per row beyond (too close to the small slices' time to draw the line further)` : ''}`}, ` +
    `over the ${n(chunks.length)} planned chunks (${n(total)} rows) ${slots} at a time, plus ${run.outsideSeconds.toFixed(2)} s outside chunks${keptAside}` +
    (job.adaptiveConcurrency ? '; at full speed: under adaptive concurrency (this job\'s) the run takes longer while the tail of the source\'s latency rises' : '');
  return {
    seconds: run.seconds, source,
    sample: { lo: timing.lo, hi: timing.hi, rows, slices: timing.points.length, seconds: timing.wallSeconds, points: timing.points },
    fit: { perChunkMs: run.cost.perChunkSeconds * 1000, perRowUs: run.cost.perRowSeconds * 1e6, largeRows: run.largeRows, warmSeconds: run.warmSeconds, outsideSeconds: run.outsideSeconds, slots },
  };
}
