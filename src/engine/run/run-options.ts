// What a run takes and returns: the library's run options and result, and what only the incremental runner passes the chunk runner.

import type { Chunk } from '../../core/chunk.js';
import type { Clock } from '../../core/clock.js';
import type { EventBus, RunResultSummary } from '../../core/events.js';
import type { Source, Target } from '../../connectors/connector.js';
import type { Ledger } from '../../ledger/ledger.js';
import type { DuckConn, DuckSession } from '../../runtime/duckdb-session.js';
import type { DescribedJob } from './prepare.js';
import type { IncrementalOutcome } from '../incremental/incremental.js';

export interface RunOptions {
  /** Only chunks overlapping [from, to) (ISO dates/times for time chunks, integers for key chunks). */
  readonly from?: string | undefined;
  readonly to?: string | undefined;
  /** Process the selected chunks again even when done. */
  readonly restate?: boolean | undefined;
  /** Process only chunks that failed before. */
  readonly retryFailed?: boolean | undefined;
  readonly concurrency?: number | undefined;
  /** Stop at the first chunk that fails for good (default: continue with the others). */
  readonly failFast?: boolean | undefined;
  /** Aborting stops taking chunks; in-flight chunks get `job.shutdownTimeoutMs` to finish, then are interrupted. */
  readonly signal?: AbortSignal | undefined;
  /** Aborting interrupts in-flight chunks at once (a second Ctrl-C); their leases are released. */
  readonly hardSignal?: AbortSignal | undefined;
  readonly events?: EventBus | undefined;
  /** Use this ledger instead of opening the job's (tests, embedding). */
  readonly ledger?: Ledger | undefined;
  /** Incremental jobs: the instant taken as now (epoch ms) for the window's end; default the clock. */
  readonly now?: number | undefined;
}

export type ChunkOutcome = 'done' | 'failed' | 'skipped' | 'interrupted';

export interface RunResult extends RunResultSummary {
  readonly runId: string;
  readonly total: number;
  readonly chunks: readonly { readonly key: string; readonly outcome: ChunkOutcome; readonly error?: string }[];
  /** Incremental jobs: the phase, the window read and where the watermark moved. */
  readonly incremental?: IncrementalOutcome;
}

/** An incremental window: its chunks replace the plan's, and the runner is told as each one commits. */
export interface RunWindow {
  readonly chunks: readonly Chunk[];
  readonly runId: string;
  /** Called once a chunk is done in the ledger (the watermark moves). */
  readonly chunkDone: (key: string) => Promise<void>;
  /** Housekeeping once the window's chunks ran and the run is not stopping; a failure is only a warning. */
  readonly prune: (target: Target, conn: DuckConn) => Promise<void>;
}

/**
 * What a profile lends the run of its sampled slices: its DuckDB session and its source, already
 * prepared (files found, CSV sniffed, a database reached) and described. The run opens neither
 * again and closes neither; the profile does.
 */
export interface LentSource {
  readonly session: DuckSession;
  readonly source: Source;
  readonly described: DescribedJob;
}

/** What the library's callers cannot set: a window to run instead of the plan, the clock leases are judged by, a profile's open source. */
export interface ChunkRunInternal {
  readonly window?: RunWindow | undefined;
  readonly clock?: Clock | undefined;
  readonly lent?: LentSource | undefined;
}
