// The rules of "don't hurt the source", without I/O: what throttles a run and how it is told, rate pacing by reservation, and AIMD concurrency.

import { percentile } from './stats.js';

/** The limits a job may set (`limits:` in the job file, docs/limits.md), and the job-wide pause. */
export type LimitName = 'pause' | 'pauseFile' | 'maxReplicaLag' | 'maxLoad' | 'criticalLoad';

/** One limit that holds now: its name, the value read, its threshold, and a line saying so ("replica lag 7.2 s > 5 s"). */
export interface ThrottleReason {
  readonly limit: LimitName;
  /** The value read (milliseconds for replica lag, the query's number for load); null when there is none (a pause) or it is unknown. */
  readonly value: number | null;
  readonly threshold: number | null;
  readonly text: string;
}

/**
 * What a run is doing about its limits, as the ledger keeps it per run (`status --json` → `throttle.runs`).
 * `working`: taking chunks; `throttled`: a lag or load limit holds; `paused`: `backfill pause` or the pause file.
 */
export interface ThrottleState {
  readonly state: 'working' | 'throttled' | 'paused';
  readonly reasons: readonly ThrottleReason[];
  /** When the current throttle or pause began (epoch ms); null while working. */
  readonly since: number | null;
  /** Wall time so far with the run paused, or throttled by lag or load (not counting pauses). */
  readonly pausedMs: number;
  readonly throttledMs: number;
  /** Time a free slot waited before the next chunk could start: the rate limit (`rowsPerSecond`), or adaptive concurrency spacing chunks below one at a time. */
  readonly rateWaitMs: number;
  /**
   * Chunks the run lets run at once now; under `concurrency: adaptive` it moves, and below 1 it is
   * the share of time one chunk runs (0.25: one chunk, then three times its duration waiting).
   */
  readonly concurrency: number;
  /** When the limits were last read (epoch ms). */
  readonly checkedAt: number;
}

/** A pause wins over a throttle: both stop new chunks, and a pause is what a person asked for. */
export function stateOf(reasons: readonly ThrottleReason[]): ThrottleState['state'] {
  if (reasons.some((r) => r.limit === 'pause' || r.limit === 'pauseFile')) return 'paused';
  return reasons.length > 0 ? 'throttled' : 'working';
}

/** "7.2 s" for milliseconds, "52" for a count: how a limit's value is printed. */
export function formatLimitValue(limit: LimitName, value: number): string {
  if (limit === 'maxReplicaLag') return value < 10_000 ? `${(value / 1000).toFixed(1).replace(/\.0$/, '')} s` : `${Math.round(value / 1000)} s`;
  return Number.isInteger(value) ? String(value) : value.toFixed(2);
}

/**
 * Rate pacing by reservation (GCRA): a shared instant `nextAt` says when the next chunk may start.
 * A chunk reserves its estimated cost: it starts at max(nextAt, now), and moves nextAt on by its
 * cost. When it finishes, the difference between its real and estimated cost moves nextAt again.
 * Every process of a job reserves from the same `nextAt` (in the ledger), so the rate holds for
 * all of them together; time nobody used is not saved up (no burst after an idle spell).
 */
export function reserve(nextAt: number | null, now: number, costMs: number): { readonly startAt: number; readonly nextAt: number } {
  const startAt = Math.max(nextAt ?? now, now);
  return { startAt, nextAt: startAt + Math.max(0, costMs) };
}

/** The time `rows` rows take at `rowsPerSecond`. */
export function rowsCostMs(rows: number, rowsPerSecond: number): number {
  return (rows * 1000) / rowsPerSecond;
}

export interface AimdOptions {
  readonly max: number;
}

/** The shortest window a rise in latency is judged on (ms); a window must also hold MIN_SAMPLES. */
const MIN_WINDOW_MS = 1000;
/** The shortest window a level must have been held for before it may grow (ms). */
const GROW_WINDOW_MS = 3000;

/** How far below one chunk at a time adaptive concurrency may go: one chunk, a 32nd of the time. */
export const MIN_LEVEL = 1 / 32;
/** A window's tail is judged on at least this many samples. */
export const MIN_SAMPLES = 20;
/** The percentile of the probe's latency the controller watches: the tail, where a loaded source shows first. */
export const WATCHED_PERCENTILE = 95;

/** The tail is "near the baseline" at or under baseline × 1.2 + 0.1 ms: grow; "risen" over baseline × 1.5 + 0.2 ms: halve; hold between. */
const GROW_FACTOR = 1.2;
const GROW_SLACK_MS = 0.1;
const SHRINK_FACTOR = 1.5;
const SHRINK_SLACK_MS = 0.2;

/**
 * Additive increase, multiplicative decrease of the run's level from the tail (p95) of the
 * source's probe latency, sampled continuously, against the same tail measured before the first
 * chunk (lowered by any quieter window since, and by the samples taken while none of the run's
 * chunks was in flight). The tail, not the median: on a source whose cores a
 * backfill shares, a trivial query's median hardly moves while one query in ten waits several
 * milliseconds for a core — which is what the source's users see in their own p95.
 *
 * The level is the chunks in flight (`concurrency`, whole) above 1 and, below 1, the share of time
 * one chunk runs (the others wait between chunks). Each level is judged on the samples taken since
 * it was set (a window): a risen tail halves it (down to MIN_LEVEL) once the window holds
 * MIN_SAMPLES over at least MIN_WINDOW_MS; a tail near the baseline grows it — by one chunk above
 * 1, by half again below it — once the window spans GROW_WINDOW_MS and two of the run's duty
 * cycles (below one chunk at a time a window must see chunks run, not only the waits between
 * them). Starts at one chunk: a run that began at full strength would hurt the source before its
 * first window could tell.
 */
export class Aimd {
  private current = 1;
  private baseline: number;
  private window: number[] = [];
  private idle: number[] = [];
  private windowStart: number;

  constructor(
    baselineMs: number,
    private readonly options: AimdOptions,
    now: number,
  ) {
    this.baseline = baselineMs;
    this.windowStart = now;
  }

  /** The probe's tail latency when nothing presses on the source: measured before the run, lowered by any quieter window. */
  get baselineMs(): number {
    return this.baseline;
  }

  /** The level: chunks at once above 1, the share of time one chunk runs below 1. */
  get level(): number {
    return this.current;
  }

  /** Chunks in flight at once for this level. */
  get concurrency(): number {
    return Math.max(1, Math.floor(this.current));
  }

  /**
   * One probe round trip (ms; Infinity when the probe failed, which counts as slow). `idle`: no
   * chunk of the run was in flight — the source as its users have it without the run, which may
   * lower the baseline (a baseline measured while something else loaded the source would let the
   * run press as hard as that did).
   */
  add(latencyMs: number, idle = false): void {
    this.window.push(latencyMs);
    if (idle) this.idle.push(latencyMs);
  }

  /**
   * Judge the window at `now`; `chunkMs` is how long a chunk runs lately (0 when none has yet).
   * Returns the new level and the window's tail it was judged on (undefined: no decision yet).
   */
  decide(now: number, chunkMs: number): { readonly level: number; readonly tailMs: number | undefined } {
    const span = now - this.windowStart;
    if (this.idle.length >= MIN_SAMPLES) {
      this.baseline = Math.min(this.baseline, percentile(this.idle, WATCHED_PERCENTILE));
      this.idle = [];
    }
    if (this.window.length < MIN_SAMPLES || span < MIN_WINDOW_MS) return { level: this.current, tailMs: undefined };
    const tail = percentile(this.window, WATCHED_PERCENTILE);
    if (tail > this.baseline * SHRINK_FACTOR + SHRINK_SLACK_MS) {
      if (this.current > MIN_LEVEL) this.current = Math.max(MIN_LEVEL, this.current / 2);
      this.restart(now);
      return { level: this.current, tailMs: tail };
    }
    const cycleMs = this.current < 1 ? chunkMs / this.current : chunkMs;
    if (span < Math.max(GROW_WINDOW_MS, 2 * cycleMs)) return { level: this.current, tailMs: undefined };
    this.baseline = Math.min(this.baseline, tail);
    if (tail <= this.baseline * GROW_FACTOR + GROW_SLACK_MS) {
      this.current = this.current < 1 ? Math.min(1, this.current * 1.5) : Math.min(this.options.max, Math.floor(this.current) + 1);
    }
    this.restart(now);
    return { level: this.current, tailMs: tail };
  }

  private restart(now: number): void {
    this.window = [];
    this.windowStart = now;
  }
}

/** How far above its median a quiet source's probe tail may be taken as its baseline. */
const BASELINE_TAIL_CAP = 3;

/**
 * The baseline from round trips timed back to back before a run: their p95, but at most three
 * times their median — a quiet source's tail is two to three times its median, and a few replies
 * caught behind a burst of other work would otherwise make a loaded source look quiet to the run.
 */
export function baselineOf(samples: readonly number[]): number {
  return Math.min(percentile(samples, WATCHED_PERCENTILE), BASELINE_TAIL_CAP * percentile(samples, 50));
}
