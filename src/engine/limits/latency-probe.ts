// Adaptive concurrency's probe (docs/limits.md): one round trip of a query after another, on a
// connection and a thread of their own. On the main thread the run's own work — a synchronous
// ledger commit, a burst of COPY buffers — would hold a reply's callback and read as a slower
// source; on its own thread the probe times what the source's users see.

import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import { ConnectorError } from '../../core/errors.js';
import type { LatencyProbeSpec } from '../../connectors/source-health.js';

/** One round trip: when it started (epoch ms) and what it took (ms; Infinity when it failed). */
export interface ProbeSample {
  readonly at: number;
  readonly ms: number;
}

export interface LatencyProbeOptions {
  /** Round trips taken back to back first (the baseline), posted together. */
  readonly burst: number;
  /** The pause between two round trips after the burst. */
  readonly gapMs: number;
  /** A round trip that takes longer fails (counts as Infinity). */
  readonly timeoutMs: number;
}

// The thread's code: plain JavaScript (it runs the same from the sources and from the build), with
// the driver loaded by the path the parent resolved. The first `burst` round trips follow each other
// at once (the baseline, before a run's first chunk) and are posted together; then one every
// `gapMs`, posted in batches every 100 ms. It reconnects after a failure.
const PROBE_THREAD = `
const { parentPort, workerData } = require('node:worker_threads');
const { performance } = require('node:perf_hooks');
const { driver, modulePath, options, query, gapMs, timeoutMs, burst } = workerData;
const lib = require(modulePath);
let stopping = false;
parentPort.on('message', (m) => { if (m === 'stop') stopping = true; });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
async function connect() {
  if (driver === 'pg') {
    const client = new lib.Client(options);
    client.on('error', () => {});
    await client.connect();
    return { run: () => client.query({ text: query, query_timeout: timeoutMs }), end: () => client.end() };
  }
  const conn = await lib.createConnection(options);
  conn.on('error', () => {});
  return { run: () => conn.query({ sql: query, timeout: timeoutMs }), end: () => conn.end() };
}
(async () => {
  let client;
  try {
    client = await connect();
  } catch (err) {
    parentPort.postMessage({ error: err && err.message ? err.message : String(err) });
    return;
  }
  let batch = [];
  let sentAt = performance.now();
  let count = 0;
  while (!stopping) {
    const at = performance.timeOrigin + performance.now();
    const t0 = performance.now();
    let ms;
    try {
      if (client === undefined) client = await connect();
      await client.run();
      ms = performance.now() - t0;
    } catch {
      ms = null;
      if (client !== undefined) client.end().catch(() => {});
      client = undefined;
    }
    batch.push([at, ms]);
    count++;
    if (count === burst || (count > burst && performance.now() - sentAt >= 100)) {
      parentPort.postMessage({ samples: batch });
      batch = [];
      sentAt = performance.now();
    }
    if (count >= burst) await sleep(gapMs);
  }
  parentPort.postMessage({ samples: batch });
  if (client !== undefined) await client.end().catch(() => {});
  parentPort.postMessage({ done: true });
})();
`;

interface ThreadMessage {
  readonly error?: string;
  readonly samples?: readonly (readonly [number, number | null])[];
  readonly done?: boolean;
}

export class LatencyProbe {
  private stopped: Promise<void> | undefined;

  private constructor(
    private readonly worker: Worker,
    private readonly ended: Promise<void>,
  ) {}

  /**
   * Start timing `spec.query` and hand every sample to `onSample`; resolves once the burst's samples
   * were handed over, and rejects naming the server when the probe cannot connect.
   */
  static async start(spec: LatencyProbeSpec, options: LatencyProbeOptions, onSample: (sample: ProbeSample) => void): Promise<LatencyProbe> {
    const modulePath = createRequire(import.meta.url).resolve(spec.driver);
    const worker = new Worker(PROBE_THREAD, {
      eval: true,
      workerData: { driver: spec.driver, modulePath, options: spec.options, query: spec.query, gapMs: options.gapMs, timeoutMs: options.timeoutMs, burst: options.burst },
    });
    // The probe never keeps a finished process alive.
    worker.unref();
    let connected!: () => void;
    let refused!: (err: Error) => void;
    const ready = new Promise<void>((resolve, reject) => {
      connected = resolve;
      refused = reject;
    });
    // The server cannot be reached or refuses us: a connector's failure (exit 3), without the password.
    const password = typeof spec.options.password === 'string' && spec.options.password !== '' ? spec.options.password : undefined;
    const failed = (reason: string, cause?: unknown): ConnectorError =>
      new ConnectorError(`concurrency: adaptive cannot measure query latency on ${spec.name}: ${password === undefined ? reason : reason.split(password).join('***')}`, { cause });
    const ended = new Promise<void>((resolve) => {
      worker.on('message', (m: ThreadMessage) => {
        if (m.error !== undefined) refused(failed(m.error));
        for (const [at, ms] of m.samples ?? []) {
          connected();
          onSample({ at, ms: ms ?? Number.POSITIVE_INFINITY });
        }
        if (m.done === true) resolve();
      });
      worker.on('error', (err) => {
        refused(failed(err.message, err));
        resolve();
      });
      worker.on('exit', () => {
        refused(failed('the probe stopped'));
        resolve();
      });
    });
    const probe = new LatencyProbe(worker, ended);
    try {
      await ready;
    } catch (err) {
      await probe.stop();
      throw err;
    }
    return probe;
  }

  /** Stop after the round trip in flight (at most a second), closing the probe's connection. */
  stop(): Promise<void> {
    this.stopped ??= (async () => {
      this.worker.postMessage('stop');
      await Promise.race([this.ended, new Promise<void>((resolve) => setTimeout(resolve, 1000).unref())]);
      await this.worker.terminate().catch(() => 0);
    })();
    return this.stopped;
  }
}
