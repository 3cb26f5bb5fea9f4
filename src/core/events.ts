// The typed event stream every observer (progress bar, JSON log, dashboard) subscribes to.

import type { ChunkStats } from './chunk.js';
import type { ThrottleReason } from './throttle.js';

export interface ChunkRef {
  readonly key: string;
  readonly lo: string;
  readonly hi: string;
}

export interface BackfillEvents {
  'run:start': { readonly runId: string; readonly job: string; readonly total: number; readonly todo: number; readonly concurrency: number };
  'stage:start': { readonly runId: string; readonly chunks: number };
  /** `one-pass`: the pass wrote every chunk's output; `split`: it split the rows into per-chunk files to commit one by one. */
  'stage:done': { readonly runId: string; readonly chunks: number; readonly rows: number; readonly ms: number; readonly pass: 'one-pass' | 'split' };
  'chunk:start': { readonly runId: string; readonly chunk: ChunkRef; readonly attempt: number; readonly token: number };
  'chunk:retry': { readonly runId: string; readonly chunk: ChunkRef; readonly attempt: number; readonly delayMs: number; readonly error: string };
  'chunk:done': { readonly runId: string; readonly chunk: ChunkRef; readonly attempt: number; readonly stats: ChunkStats; readonly ms: number };
  'chunk:failed': { readonly runId: string; readonly chunk: ChunkRef; readonly attempt: number; readonly error: string };
  'chunk:released': { readonly runId: string; readonly chunk: ChunkRef; readonly reason: string };
  'run:stopping': { readonly runId: string; readonly reason: string };
  'run:done': { readonly runId: string; readonly result: RunResultSummary };
  warning: { readonly runId: string; readonly message: string };
  /**
   * The run stopped taking chunks (docs/limits.md): `paused` by `backfill pause` or the pause file,
   * `throttled` by replica lag or load; `reasons` name each limit with its value and threshold.
   * Emitted again, without an end between, when the reasons change while the run stays held.
   */
  'throttle:start': { readonly runId: string; readonly state: 'paused' | 'throttled'; readonly reasons: readonly ThrottleReason[] };
  /** The run takes chunks again after `ms` held. */
  'throttle:end': { readonly runId: string; readonly ms: number };
  /** `concurrency: adaptive` moved the chunks allowed at once (below 1: the share of time one chunk runs), from the source's query latency against its baseline. */
  'throttle:concurrency': { readonly runId: string; readonly concurrency: number; readonly latencyMs: number; readonly baselineMs: number };
  /** Change data capture (docs/cdc.md): streaming starts from `lsn`; the initial copy has `chunksTotal - chunksDone` chunks to go. */
  'cdc:start': { readonly runId: string; readonly job: string; readonly slot: string; readonly lsn: string; readonly chunksDone: number; readonly chunksTotal: number };
  /** A chunk of the initial copy reached its high watermark: `rows` read, `dropped` superseded by changes inside its window. */
  'cdc:chunk': { readonly runId: string; readonly chunk: ChunkRef; readonly rows: number; readonly dropped: number };
  /** One micro-batch committed in the target with its position, then confirmed to the slot. */
  'cdc:batch': { readonly runId: string; readonly lsn: string; readonly operations: number; readonly upserted: number; readonly deleted: number; readonly ms: number };
}

export interface RunResultSummary {
  readonly status: 'done' | 'failed' | 'interrupted';
  readonly done: number;
  readonly failed: number;
  readonly skipped: number;
  readonly interrupted: number;
  readonly rowsRead: number;
  readonly rowsWritten: number;
  /** Rows set aside with their place and reason (see docs/rejected-rows.md). */
  readonly rowsRejected: number;
  /** The known bytes of the chunks done; `bytesUnknown` says how many chunks could not tell theirs. */
  readonly bytes: number;
  readonly bytesUnknown: number;
  readonly ms: number;
  /** Time the run was held by its limits (docs/limits.md), apart from the time it worked. */
  readonly limits?: RunLimitTimes;
}

/** How a run's wall time divides: paused, throttled by lag or load, and working (the rest); rate waits overlap working. */
export interface RunLimitTimes {
  readonly pausedMs: number;
  readonly throttledMs: number;
  readonly workingMs: number;
  /** Time a free slot waited before its next chunk: for `rowsPerSecond`, or adaptive concurrency below one chunk at a time. */
  readonly rateWaitMs: number;
}

export type BackfillEventName = keyof BackfillEvents;
export type Listener<E extends BackfillEventName> = (payload: BackfillEvents[E]) => void;

/**
 * A minimal typed emitter. A listener that throws is reported to `onListenerError`
 * and never reaches the engine: an observer must not be able to fail a backfill.
 */
export class EventBus {
  private readonly listeners = new Map<BackfillEventName, Set<Listener<never>>>();

  constructor(private readonly onListenerError: (err: unknown) => void = () => {}) {}

  on<E extends BackfillEventName>(event: E, listener: Listener<E>): () => void {
    let set = this.listeners.get(event);
    if (set === undefined) {
      set = new Set();
      this.listeners.set(event, set);
    }
    set.add(listener as Listener<never>);
    return () => set.delete(listener as Listener<never>);
  }

  onAny(listener: <E extends BackfillEventName>(event: E, payload: BackfillEvents[E]) => void): () => void {
    const names: BackfillEventName[] = [
      'run:start', 'stage:start', 'stage:done', 'chunk:start', 'chunk:retry', 'chunk:done',
      'chunk:failed', 'chunk:released', 'run:stopping', 'run:done', 'warning',
      'throttle:start', 'throttle:end', 'throttle:concurrency',
      'cdc:start', 'cdc:chunk', 'cdc:batch',
    ];
    const offs = names.map((name) => this.on(name, (payload) => listener(name, payload)));
    return () => offs.forEach((off) => off());
  }

  emit<E extends BackfillEventName>(event: E, payload: BackfillEvents[E]): void {
    const set = this.listeners.get(event);
    if (set === undefined) return;
    for (const listener of set) {
      try {
        (listener as Listener<E>)(payload);
      } catch (err) {
        try {
          this.onListenerError(err);
        } catch {
          // the error reporter itself failed; nothing sensible is left to do
        }
      }
    }
  }
}
