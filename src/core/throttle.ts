// The rules of "don't hurt the source", without I/O: what throttles a run and how it is told, rate pacing by reservation, and AIMD concurrency.

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
  /** Time a free slot waited for the rate limit (`rowsPerSecond`) to let the next chunk start. */
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
  /** Latency at or under baseline × (1 + grow) + 0.2 ms: grow. */
  readonly grow?: number;
  /** Latency over baseline × (1 + shrink) + 0.5 ms: halve. Between the two: hold. */
  readonly shrink?: number;
}

/** How far below one chunk at a time adaptive concurrency may go: one chunk, an eighth of the time. */
export const MIN_LEVEL = 1 / 8;

/**
 * Additive increase, multiplicative decrease of the run's level from the source's query latency
 * against its baseline (measured before the run's first chunk, lowered by any lower sample). The level is the chunks in flight
 * (`concurrency`, whole) above 1 and, below 1, the share of time one chunk runs (the others wait
 * between chunks): a run already at one chunk can still back off. Starts at one chunk (a run
 * that began at full strength would hurt the source before its first sample could tell); grows by
 * one above 1 and doubles below it while latency is near the baseline, up to `max`; halves when
 * latency rises (down to MIN_LEVEL); after a halving it waits one sample before deciding again (the
 * chunks in flight still finish at the old level).
 */
export class Aimd {
  private current: number;
  private cooling = false;
  private readonly grow: number;
  private readonly shrink: number;

  private baseline: number;

  constructor(
    baselineMs: number,
    private readonly options: AimdOptions,
  ) {
    this.baseline = baselineMs;
    this.current = 1;
    this.grow = options.grow ?? 0.2;
    this.shrink = options.shrink ?? 0.5;
  }

  /**
   * The latency the source has when nothing presses on it: the baseline measured before the run,
   * lowered by any lower sample since. A baseline taken while other work happened to load the
   * source would otherwise let the run press as hard as that work did.
   */
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

  /** Take one latency sample (ms); returns the new level. */
  sample(latencyMs: number): number {
    this.baseline = Math.min(this.baseline, latencyMs);
    if (this.cooling) {
      this.cooling = false;
      return this.current;
    }
    if (latencyMs > this.baselineMs * (1 + this.shrink) + 0.5) {
      const halved = Math.max(MIN_LEVEL, this.current / 2);
      this.cooling = halved !== this.current;
      this.current = halved;
    } else if (latencyMs <= this.baselineMs * (1 + this.grow) + 0.2) {
      this.current = this.current < 1 ? Math.min(1, this.current * 2) : Math.min(this.options.max, Math.floor(this.current) + 1);
    }
    return this.current;
  }
}

/** The median of a few samples: one slow reply (a page fault, a context switch) should not halve a run. */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  if (sorted.length === 0) return 0;
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}
