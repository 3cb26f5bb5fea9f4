// Prometheus metrics of a run (`--metrics`): counters fed by the run's events, gauges read from the ledger at each scrape.

import { createServer, type Server } from 'node:http';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { describeError, UsageError } from '../core/errors.js';
import type { EventBus } from '../core/events.js';
import type { Job } from '../job/job.js';
import type { LedgerReader } from '../ledger/ledger.js';
import { openLedgerReader } from '../ledger/open-ledger.js';
import { statusFromLedger } from '../engine/status/read-status.js';

export interface MetricsServer {
  readonly url: string;
  readonly port: number;
  /** Stop listening, unsubscribe from the events, close the ledger reader. */
  close(): Promise<void>;
}

/** Chunk durations from a few hundred milliseconds to an hour. */
const DURATION_BUCKETS = [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600];

/** The metrics of one job: names in Prometheus style, every series labelled with the job. */
export function jobMetrics(job: Job, events: EventBus, registry = new Registry()): { registry: Registry; detach: () => void; close: () => Promise<void> } {
  const labels = { job: job.name };
  const labelNames = ['job'] as const;
  const counter = (name: string, help: string): Counter<'job'> => new Counter({ name, help, labelNames, registers: [registry] });
  const rowsRead = counter('backfill_rows_read_total', 'Rows read by chunks that finished in this process');
  const rowsWritten = counter('backfill_rows_written_total', 'Rows written by chunks that finished in this process');
  const rowsRejected = counter('backfill_rows_rejected_total', 'Rows set aside with their reason by chunks that finished in this process');
  const bytes = counter('backfill_bytes_total', 'Bytes sent to the target by chunks that finished in this process (where the target can tell)');
  const chunksDone = counter('backfill_chunks_done_total', 'Chunks this process finished');
  const chunksFailed = counter('backfill_chunks_failed_total', 'Chunks that failed for good in this process');
  const retries = counter('backfill_chunk_retries_total', 'Chunk attempts that failed and were tried again');
  const duration = new Histogram({ name: 'backfill_chunk_duration_seconds', help: 'Time from claiming a chunk to its ledger mark', labelNames, buckets: DURATION_BUCKETS, registers: [registry] });
  for (const c of [rowsRead, rowsWritten, rowsRejected, bytes, chunksDone, chunksFailed, retries]) c.inc(labels, 0);
  // Time the run took no new chunk because a limit held or the job was paused (docs/limits.md), by which.
  const held = new Counter({ name: 'backfill_throttled_seconds_total', help: 'Seconds this process took no new chunk: state paused (backfill pause, pauseFile) or throttled (a limit held)', labelNames: ['job', 'state'], registers: [registry] });
  const holding = new Gauge({ name: 'backfill_throttled', help: '1 while a limit or a pause holds new chunks, by state', labelNames: ['job', 'state'], registers: [registry] });
  for (const state of ['paused', 'throttled'] as const) {
    held.inc({ ...labels, state }, 0);
    holding.set({ ...labels, state }, 0);
  }
  let heldAs: 'paused' | 'throttled' | undefined;

  let reader: LedgerReader | undefined;
  const ledgerRead = async (): Promise<Awaited<ReturnType<typeof statusFromLedger>> | undefined> => {
    reader ??= await openLedgerReader(job);
    return reader === undefined ? undefined : statusFromLedger(job, reader);
  };
  new Gauge({
    name: 'backfill_chunks', help: "The job's chunks in the ledger by status", labelNames: ['job', 'status'], registers: [registry],
    async collect() {
      const status = await ledgerRead().catch(() => undefined);
      for (const s of ['pending', 'running', 'done', 'failed'] as const) this.set({ ...labels, status: s }, status?.counts[s] ?? 0);
    },
  });
  new Gauge({
    name: 'backfill_watermark_lag_seconds', help: 'Incremental jobs with a time cursor: how far the watermark is behind now', labelNames, registers: [registry],
    async collect() {
      const behind = (await ledgerRead().catch(() => undefined))?.incremental?.behindMs;
      if (behind === undefined) this.reset();
      else this.set(labels, behind / 1000);
    },
  });

  const offs = [
    events.on('chunk:done', (e) => {
      rowsRead.inc(labels, e.stats.rowsRead);
      rowsWritten.inc(labels, e.stats.rowsWritten);
      rowsRejected.inc(labels, e.stats.rowsRejected);
      bytes.inc(labels, e.stats.bytes ?? 0);
      chunksDone.inc(labels);
      duration.observe(labels, e.ms / 1000);
    }),
    events.on('chunk:failed', () => chunksFailed.inc(labels)),
    events.on('chunk:retry', () => retries.inc(labels)),
    events.on('throttle:start', (e) => {
      if (heldAs !== undefined) holding.set({ ...labels, state: heldAs }, 0);
      heldAs = e.state;
      holding.set({ ...labels, state: e.state }, 1);
    }),
    events.on('throttle:end', (e) => {
      const state = heldAs ?? 'throttled';
      held.inc({ ...labels, state }, e.ms / 1000);
      holding.set({ ...labels, state }, 0);
      heldAs = undefined;
    }),
  ];
  const detach = (): void => offs.forEach((off) => off());
  return {
    registry,
    detach,
    close: async () => {
      detach();
      await reader?.close().catch(() => undefined);
      reader = undefined;
    },
  };
}

/** Serve `/metrics` on `host:port` (port 0: any free one) for as long as the run lasts. */
export async function startMetricsServer(job: Job, events: EventBus, at: { host: string; port: number }): Promise<MetricsServer> {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'backfill_process_' });
  const metrics = jobMetrics(job, events, registry);
  const server: Server = createServer((request, response) => {
    if (request.method !== 'GET' || (request.url ?? '').split('?')[0] !== '/metrics') {
      response.writeHead(404, { 'content-type': 'text/plain' }).end('see /metrics\n');
      return;
    }
    registry.metrics().then(
      (text) => response.writeHead(200, { 'content-type': registry.contentType }).end(text),
      (err: unknown) => response.writeHead(500, { 'content-type': 'text/plain' }).end(`${describeError(err)}\n`),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(at.port, at.host, () => resolve());
  });
  const port = (server.address() as { port: number }).port;
  const shown = at.host.includes(':') ? `[${at.host}]` : at.host;
  return {
    url: `http://${shown}:${port}/metrics`,
    port,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await metrics.close();
    },
  };
}

/** `9464` or `0.0.0.0:9464` (`[::1]:9464`); the host defaults to 127.0.0.1. */
export function parseMetricsAddress(text: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]:|([^:]+):)?(\d+)$/.exec(text.trim());
  const port = Number(m?.[3]);
  if (m === null || !Number.isInteger(port) || port > 65535) throw new UsageError(`--metrics: expected [host:]port, got "${text}"`);
  return { host: m[1] ?? m[2] ?? '127.0.0.1', port };
}
