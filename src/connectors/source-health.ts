// What a database source may offer so a run can spare it (docs/limits.md): its replicas' lag, a load query's number, the latency of a trivial query.

import { ConnectorError } from '../core/errors.js';

/** Replica lag as read; `ms` null when it cannot be known now (replication stopped), with why in `detail`. */
export interface ReplicaLag {
  readonly ms: number | null;
  /** Which replica or which measure the figure comes from, for messages ("replica 10.0.0.7 replay"). */
  readonly detail: string;
}

/**
 * Probes on a connection of their own, so a run whose chunks hold every pooled connection still
 * reads them at once. Each throws a ConnectorError naming the reason when the value cannot be read
 * (no replica, no privilege): the run calls each once before its first chunk and refuses to start.
 */
export interface SourceHealth {
  /** The worst lag of the source's replicas (a primary), or the source's own lag (a replica). */
  replicaLag(): Promise<ReplicaLag>;
  /** Run `query`; the first column of its first row, as a number. */
  load(query: string): Promise<number>;
  /** How to time `query` (default a trivial one) round trip from a thread of its own: adaptive concurrency's probe. */
  latencyProbe(query?: string): LatencyProbeSpec;
  /** Close the probes' connection; the source's `close` does it too. */
  close(): Promise<void>;
}

/** The first column of the first row as a finite number, or an error naming the query. */
export function numberOf(row: Record<string, unknown> | undefined, query: string): number {
  const value = row === undefined ? undefined : Object.values(row)[0];
  const n = typeof value === 'number' ? value : typeof value === 'string' || typeof value === 'bigint' ? Number(value) : Number.NaN;
  if (!Number.isFinite(n)) {
    throw new ConnectorError(`the load query returned ${row === undefined ? 'no row' : JSON.stringify(value)}, not a number: ${query}`);
  }
  return n;
}

/**
 * A latency probe as plain data, so it can run on a thread of its own (engine/limits/latency-probe.ts)
 * whose timings the run's own work on the main thread cannot stretch: the driver package to load,
 * the options it connects with, the query to time.
 */
export interface LatencyProbeSpec {
  readonly driver: 'pg' | 'mysql2/promise';
  readonly options: Readonly<Record<string, unknown>>;
  readonly query: string;
  /** Names the server in messages, without secrets. */
  readonly name: string;
}
