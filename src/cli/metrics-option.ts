// `run --metrics [host:]port`: a Prometheus endpoint for as long as the run lasts. Parsing and printing only.

import { Option } from 'commander';
import { UsageError } from '../core/errors.js';
import type { EventBus } from '../core/events.js';
import type { Job } from '../job/job.js';
import { parseMetricsAddress, startMetricsServer } from '../dashboard/run-metrics.js';
import { printError } from './output-guard.js';

export type MetricsAddress = ReturnType<typeof parseMetricsAddress>;

export function metricsOption(): Option {
  return new Option('--metrics <[host:]port>', 'serve Prometheus metrics at http://host:port/metrics while the run lasts (host 127.0.0.1 unless given; port 0: any free one)').argParser(parseMetricsAddress);
}

/** Change data capture has its own events (batches, not chunks): not measured yet. */
export function refuseCdcMetrics(at: MetricsAddress | undefined): void {
  if (at !== undefined) throw new UsageError('--metrics: not for a cdc job yet (its stream has no chunk metrics); use `backfill status` for the slot and its lag');
}

/** Run `fn` with the metrics endpoint up when asked for; its address goes to stderr. */
export async function withMetrics<T>(job: Job, at: MetricsAddress | undefined, events: EventBus, fn: () => Promise<T>): Promise<T> {
  if (at === undefined) return fn();
  const server = await startMetricsServer(job, events, at);
  printError(`metrics on ${server.url}`);
  try {
    return await fn();
  } finally {
    await server.close();
  }
}
