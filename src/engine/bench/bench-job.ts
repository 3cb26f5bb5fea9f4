// `backfill bench`: run the job's write on a sample of its real source into a scratch target, one
// strategy at a time (concurrency, chunk size, write method, compression), and recommend settings.

import { fork } from 'node:child_process';
import { mkdirSync, rmdirSync, rmSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Chunk } from '../../core/chunk.js';
import { formatStep, type CalendarUnit, type Step } from '../../core/duration.js';
import { median } from '../../core/stats.js';
import { AbortedError, PlanError, UsageError } from '../../core/errors.js';
import type { Chunking } from '../../core/planner.js';
import type { ScratchTarget } from '../../connectors/scratch-target.js';
import { createScratchTarget } from '../../connectors/open-connectors.js';
import type { TargetConfig } from '../../connectors/registry.js';
import type { Job } from '../../job/job.js';
import type { BenchWorkerReply, BenchWorkerRequest } from './bench-worker.js';
import { planBackfill } from '../plan/plan-backfill.js';

export type BenchDimension = 'concurrency' | 'chunk size' | 'write method' | 'compression';
export const BENCH_DIMENSIONS: readonly BenchDimension[] = ['concurrency', 'chunk size', 'write method', 'compression'];

export interface BenchOptions {
  /** How many consecutive chunks of the plan to sample (default: 4, or twice the cores). */
  readonly chunks?: number | undefined;
  /** Sample the chunks overlapping [from, to) instead of the middle of the plan. */
  readonly from?: string | undefined;
  readonly to?: string | undefined;
  /** Runs per strategy; the median time is kept. */
  readonly reps?: number | undefined;
  readonly dimensions?: readonly BenchDimension[] | undefined;
  readonly onProgress?: ((line: string) => void) | undefined;
  readonly signal?: AbortSignal | undefined;
}

/** One way of running the job, changed from the job file in one setting at most. */
export interface BenchStrategy {
  readonly dimension: 'baseline' | BenchDimension;
  readonly label: string;
  /** The job-file change that gives this strategy (undefined for the baseline). */
  readonly setting: string | undefined;
  /** `empty`: a first load; `loaded`: a re-run over rows already in the target (how merges differ). */
  readonly scenario: 'empty' | 'loaded';
  readonly job: Job;
}

export interface BenchRow {
  readonly dimension: BenchStrategy['dimension'];
  readonly label: string;
  readonly setting: string | undefined;
  readonly scenario: BenchStrategy['scenario'];
  readonly status: 'ok' | 'failed';
  readonly error?: string;
  readonly seconds: number;
  readonly chunks: number;
  readonly rowsRead: number;
  readonly rowsWritten: number;
  readonly rowsPerSecond: number;
  /** Output bytes in the scratch target per second. */
  readonly mbPerSecond: number;
  readonly peakRssBytes: number;
  readonly outputBytes: number;
}

export interface BenchRecommendation {
  readonly dimension: BenchDimension;
  readonly setting: string;
  readonly label: string;
  readonly reason: string;
}

export interface BenchReport {
  readonly job: string;
  readonly target: string;
  readonly sample: { readonly lo: string; readonly hi: string; readonly chunks: number };
  readonly reps: number;
  readonly rows: readonly BenchRow[];
  readonly recommended: readonly BenchRecommendation[];
}

/** A strategy must beat the job as written by this much to be recommended: less is noise. */
const MIN_GAIN = 1.1;
/** A compression whose throughput is within this share of the fastest is judged on size. */
const NEAR_FASTEST = 0.85;

export async function benchJob(job: Job, options: BenchOptions = {}): Promise<BenchReport> {
  const cores = availableParallelism();
  const want = options.chunks ?? Math.max(4, 2 * cores);
  const reps = options.reps ?? 1;
  const progress = options.onProgress ?? (() => {});
  const plan = await planBackfill(job, { from: options.from, to: options.to });
  if (plan.chunks.length === 0) throw new UsageError(`job ${job.name} has no chunks to sample${options.from !== undefined || options.to !== undefined ? ' in --from/--to' : ''}`);
  const sample = pickSample(plan.chunks, options.from !== undefined || options.to !== undefined ? plan.chunks.length : want);
  const id = `${Date.now().toString(36)}${Math.floor(Math.random() * 36 ** 4).toString(36)}`;
  const benchName = `${job.name}-bench-${id}`.slice(0, 128);
  const dir = join(job.stateDir, 'bench', id);
  mkdirSync(dir, { recursive: true });
  const scratch = await createScratchTarget(job, id, dir, benchName);
  try {
    const strategies = benchStrategies(job, scratch, sample, dir, benchName, cores, options.dimensions ?? BENCH_DIMENSIONS);
    progress(`sampling ${sample.length} chunk(s) ${sample[0]?.lo} … ${sample[sample.length - 1]?.hi} into ${scratch.describe()}; ${strategies.length} strategies`);
    const rows: BenchRow[] = [];
    for (const strategy of strategies) {
      if (options.signal?.aborted === true) throw new AbortedError('bench interrupted');
      const row = await measure(strategy, scratch, reps, options.signal);
      rows.push(row);
      progress(`${strategy.label}${strategy.scenario === 'loaded' ? ' (over loaded rows)' : ''}: ${row.status === 'ok' ? `${Math.round(row.rowsPerSecond).toLocaleString('en-US')} rows/s` : `failed: ${row.error ?? ''}`}`);
    }
    const first = sample[0] as Chunk;
    const last = sample[sample.length - 1] as Chunk;
    return { job: job.name, target: scratch.describe(), sample: { lo: first.lo, hi: last.hi, chunks: sample.length }, reps, rows, recommended: recommend(rows) };
  } finally {
    await scratch.drop().catch(() => {});
    rmSync(dir, { recursive: true, force: true });
    // The parent folder too, unless another bench is running beside this one.
    try {
      rmdirSync(join(job.stateDir, 'bench'));
    } catch {
      // not empty, or already gone
    }
  }
}

/** `count` consecutive chunks from the middle of the plan: neither the ramp-up nor the newest data. */
export function pickSample(chunks: readonly Chunk[], count: number): Chunk[] {
  if (chunks.length <= count) return [...chunks];
  const start = Math.floor((chunks.length - count) / 2);
  return chunks.slice(start, start + count);
}

const UNITS: readonly CalendarUnit[] = ['hour', 'day', 'week', 'month', 'year'];

/** The strategies to try: the job as written, then one setting changed at a time. */
export function benchStrategies(
  job: Job, scratch: ScratchTarget<TargetConfig>, sample: readonly Chunk[], dir: string, benchName: string, cores: number, dimensions: readonly BenchDimension[],
): BenchStrategy[] {
  const own = job.chunking;
  if (own.kind !== 'time' && own.kind !== 'key') {
    throw new PlanError(`bench compares chunk sizes and strategies over a sample of chunk.every or chunk.size chunks; this job ${own.kind === 'all' ? 'has no chunk: (one chunk)' : 'uses chunk.rows'}: give it chunk.every or chunk.size to bench it`);
  }
  const first = sample[0] as Chunk;
  const last = sample[sample.length - 1] as Chunk;
  // Every strategy covers exactly the sample's rows, however it chunks them.
  const clip = (chunking: Chunking): Chunking =>
    chunking.kind === 'time'
      ? { ...chunking, from: Date.parse(first.lo), to: Date.parse(last.hi) }
      : { ...chunking, from: BigInt(first.lo), to: BigInt(last.hi) };
  let n = 0;
  const variant = (change: Partial<Pick<Job, 'concurrency' | 'target' | 'write'>> & { chunking?: Chunking }): Job => {
    n++;
    return {
      ...job, name: benchName, target: scratch.target, chunking: clip(own), ...change,
      // A concurrency tried is the setting `concurrency: N`: a fixed number, never adaptive.
      ...(change.concurrency === undefined ? {} : { adaptiveConcurrency: false }),
      ...(change.chunking === undefined ? {} : { chunking: clip(change.chunking) }),
      ledgerPath: join(dir, `strategy-${n}.ledger.sqlite`), ledgerUrl: undefined, stateDir: join(dir, `strategy-${n}`),
      // A strategy that fails is reported, not retried.
      retries: { ...job.retries, attempts: 1 },
    };
  };
  const out: BenchStrategy[] = [{ dimension: 'baseline', label: 'as written', setting: undefined, scenario: 'empty', job: variant({}) }];
  if (dimensions.includes('concurrency')) {
    for (const c of [1, 2, 4, 8, 16]) {
      if (c === job.concurrency || c > Math.max(2, 2 * cores) || c > sample.length) continue;
      out.push({ dimension: 'concurrency', label: `concurrency ${c}`, setting: `concurrency: ${c}`, scenario: 'empty', job: variant({ concurrency: c }) });
    }
  }
  if (dimensions.includes('chunk size')) {
    const c = own;
    if (c.kind === 'time') {
      const i = UNITS.indexOf(c.step.unit);
      const steps: Step[] = [];
      if (i > 0) steps.push({ n: 1, unit: UNITS[i - 1] as CalendarUnit });
      else if (c.step.n > 1) steps.push({ n: Math.floor(c.step.n / 2), unit: c.step.unit });
      if (i < UNITS.length - 1) steps.push({ n: 1, unit: UNITS[i + 1] as CalendarUnit });
      else steps.push({ n: c.step.n * 2, unit: c.step.unit });
      for (const step of steps) {
        const every = formatStep(step);
        out.push({ dimension: 'chunk size', label: `chunks of ${every}`, setting: `chunk.every: ${every}`, scenario: 'empty', job: variant({ chunking: { ...c, step } }) });
      }
    } else {
      for (const size of [c.size / 4n, c.size * 4n]) {
        if (size < 1n) continue;
        out.push({ dimension: 'chunk size', label: `chunks of ${size} keys`, setting: `chunk.size: ${size}`, scenario: 'empty', job: variant({ chunking: { ...c, size } }) });
      }
    }
  }
  const variants = scratch.variants().filter((v) => dimensions.includes(v.dimension));
  if (variants.some((v) => v.dimension === 'write method' && (v.scenario ?? 'loaded') === 'loaded')) {
    // Write methods differ most where the target already holds the rows: measure them re-running
    // over a loaded sample, beside the job as written in the same situation.
    out.push({ dimension: 'baseline', label: 'as written', setting: undefined, scenario: 'loaded', job: variant({}) });
  }
  for (const v of variants) {
    const write = v.mode === undefined ? job.write : { ...job.write, mode: v.mode };
    out.push({ dimension: v.dimension, label: v.label, setting: v.setting, scenario: v.scenario ?? (v.dimension === 'write method' ? 'loaded' : 'empty'), job: variant({ target: v.target, write }) });
  }
  return out;
}

async function measure(strategy: BenchStrategy, scratch: ScratchTarget<TargetConfig>, reps: number, signal: AbortSignal | undefined): Promise<BenchRow> {
  const times: number[] = [];
  let peak = 0;
  let last: Extract<BenchWorkerReply, { ok: true }> | undefined;
  const failed = (error: string): BenchRow => ({
    dimension: strategy.dimension, label: strategy.label, setting: strategy.setting, scenario: strategy.scenario, status: 'failed', error,
    seconds: 0, chunks: 0, rowsRead: 0, rowsWritten: 0, rowsPerSecond: 0, mbPerSecond: 0, peakRssBytes: 0, outputBytes: 0,
  });
  for (let rep = 0; rep < reps; rep++) {
    await scratch.reset();
    rmSync(strategy.job.ledgerPath, { force: true });
    if (strategy.scenario === 'loaded') {
      const preload = await inWorker({ job: strategy.job, restate: false }, signal);
      if (!preload.ok) return failed(`loading the sample first: ${preload.error}`);
      if (preload.failed !== undefined) return failed(`loading the sample first: ${preload.failed}`);
    }
    const reply = await inWorker({ job: strategy.job, restate: strategy.scenario === 'loaded' }, signal);
    if (!reply.ok) return failed(reply.error);
    if (reply.failed !== undefined) return failed(reply.failed);
    times.push(reply.ms);
    peak = Math.max(peak, reply.peakRssBytes);
    last = reply;
  }
  const done = last as Extract<BenchWorkerReply, { ok: true }>;
  const seconds = median(times) / 1000;
  const outputBytes = await scratch.size();
  // Over loaded rows a merge writes only what changed; throughput counts the rows it processed.
  const rows = strategy.scenario === 'loaded' ? done.rowsRead : done.rowsWritten;
  return {
    dimension: strategy.dimension, label: strategy.label, setting: strategy.setting, scenario: strategy.scenario, status: 'ok',
    seconds, chunks: done.chunks, rowsRead: done.rowsRead, rowsWritten: done.rowsWritten,
    rowsPerSecond: seconds > 0 ? rows / seconds : 0, mbPerSecond: seconds > 0 ? outputBytes / 1e6 / seconds : 0, peakRssBytes: peak, outputBytes,
  };
}

function inWorker(request: BenchWorkerRequest, signal: AbortSignal | undefined): Promise<BenchWorkerReply> {
  return new Promise((resolve) => {
    const child = fork(fileURLToPath(new URL('./bench-worker.js', import.meta.url)), [], { serialization: 'advanced', stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
    let stderr = '';
    let reply: BenchWorkerReply | undefined;
    child.stderr?.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
    child.on('message', (m: BenchWorkerReply) => (reply = m));
    const onAbort = (): void => void child.kill('SIGTERM');
    signal?.addEventListener('abort', onAbort, { once: true });
    child.on('exit', (code) => {
      signal?.removeEventListener('abort', onAbort);
      resolve(reply ?? { ok: false, error: `the strategy's process stopped (exit ${code ?? 'signal'})${stderr === '' ? '' : `: ${stderr.trim()}`}` });
    });
    child.send(request);
  });
}

/**
 * Per dimension, the fastest strategy when it beats the job as written (in the same scenario) by
 * at least 10%; for compression, the smallest output among those within 15% of the fastest.
 */
export function recommend(rows: readonly BenchRow[]): BenchRecommendation[] {
  const ok = rows.filter((r) => r.status === 'ok');
  const out: BenchRecommendation[] = [];
  // Each dimension is judged against the job as written in the same scenario (a first load, or a re-run over loaded rows).
  for (const [dimension, scenario] of BENCH_DIMENSIONS.flatMap((d) => (['empty', 'loaded'] as const).map((sc) => [d, sc] as const))) {
    const group = ok.filter((r) => r.dimension === dimension && r.scenario === scenario);
    if (group.length === 0) continue;
    const base = ok.find((r) => r.dimension === 'baseline' && r.scenario === scenario);
    if (base === undefined) continue;
    const rate = (r: BenchRow): string => `${Math.round(r.rowsPerSecond).toLocaleString('en-US')} rows/s`;
    if (dimension === 'compression') {
      const all = [base, ...group];
      const fastest = Math.max(...all.map((r) => r.rowsPerSecond));
      const near = all.filter((r) => r.rowsPerSecond >= NEAR_FASTEST * fastest).sort((a, b) => a.outputBytes - b.outputBytes);
      const pick = near[0];
      if (pick !== undefined && pick !== base && pick.setting !== undefined && pick.outputBytes < base.outputBytes) {
        out.push({ dimension, setting: pick.setting, label: pick.label, reason: `${(pick.outputBytes / 1e6).toFixed(1)} MB instead of ${(base.outputBytes / 1e6).toFixed(1)} MB at ${rate(pick)} (as written: ${rate(base)})` });
      }
      continue;
    }
    const best = [...group].sort((a, b) => b.rowsPerSecond - a.rowsPerSecond)[0] as BenchRow;
    if (best.setting !== undefined && best.rowsPerSecond >= MIN_GAIN * base.rowsPerSecond) {
      out.push({ dimension, setting: best.setting, label: best.label, reason: `${rate(best)} against ${rate(base)} as written (${(best.rowsPerSecond / base.rowsPerSecond).toFixed(2)}×)` });
    }
  }
  return out;
}
