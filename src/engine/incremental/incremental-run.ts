// `backfill run` for a job with `incremental:`: the full backfill until it is complete, then one
// window past the watermark per run. Each runs through the chunk runner (run/run-chunks.ts).

import { systemClock } from '../../core/clock.js';
import type { Incremental, Job } from '../../job/job.js';
import { openLedger } from '../../ledger/open-ledger.js';
import { incrementalWindow, isWindowChunk } from '../../core/watermark.js';
import { runChunks } from '../run/run-chunks.js';
import type { RunOptions, RunResult, RunWindow } from '../run/run-options.js';
import {
  checkWatermark, formatCursor, lookbackOf, newRunId, probeCursor, WatermarkAdvancer, windowChunks, windowEnd, windowJob, type IncrementalOutcome,
} from './incremental.js';
import { forgetOldWindows } from './window-pruning.js';

export async function runIncremental(job: Job, options: RunOptions): Promise<RunResult> {
  const inc = job.incremental as Incremental;
  const ledger = options.ledger ?? (await openLedger(job));
  try {
    const probe = await probeCursor(job);
    const now = options.now ?? systemClock.now();
    let watermark = await ledger.watermark(job.name);
    checkWatermark(job, probe, watermark);
    const outcome = (phase: IncrementalOutcome['phase'], before: string | undefined, window?: { lo: bigint; hi: bigint }): IncrementalOutcome => ({
      cursor: inc.cursor, kind: probe.kind, phase, watermarkBefore: before, watermarkAfter: undefined,
      window: window === undefined ? undefined : { lo: formatCursor(probe.kind, window.lo) as string, hi: formatCursor(probe.kind, window.hi) as string },
    });

    if (watermark === undefined || watermark.phase === 'history') {
      // The first run is the full backfill. The watermark is where the cursor stood when it began
      // (kept from the first attempt if it takes several runs): rows changed while it ran are
      // at or past it, so the first window reads them.
      if (watermark === undefined) {
        watermark = await ledger.initWatermark({ job: job.name, cursor: inc.cursor, kind: probe.kind, value: windowEnd(job, probe, now), runId: newRunId() });
      }
      const result = await runChunks(job, { ...options, ledger });
      const history = (await ledger.listChunks(job.name)).filter((c) => !isWindowChunk(c.key));
      if (result.status === 'done' && history.every((c) => c.status === 'done')) {
        const at = BigInt(watermark.value);
        await ledger.startWindow(job.name, at, at, result.runId);
      }
      const after = await ledger.watermark(job.name);
      return { ...result, incremental: { ...outcome('history', undefined), watermarkAfter: after?.phase === 'incremental' ? formatCursor(probe.kind, after.value) : undefined } };
    }

    const start = BigInt(watermark.value);
    const before = formatCursor(probe.kind, start);
    const window = incrementalWindow(start, lookbackOf(job, probe.kind), windowEnd(job, probe, now));
    const runId = newRunId();
    const prune: RunWindow['prune'] = (target, conn) => forgetOldWindows(ledger, job.name, target, conn);
    if (window === undefined) {
      // Nothing past the watermark yet (an integer cursor that has not grown, or a settle delay longer than the wait).
      const result = await runChunks(windowJob(job, probe.kind, 0n, 1n, probe.naive), { ...options, ledger, restate: true }, { window: { chunks: [], runId, chunkDone: async () => {}, prune } });
      return { ...result, incremental: { ...outcome('window', before), watermarkAfter: before } };
    }
    const chunks = windowChunks(job, probe.kind, window.lo, window.hi, probe.naive);
    await ledger.startWindow(job.name, window.lo, window.hi, runId);
    const advancer = new WatermarkAdvancer(ledger, job.name, chunks, probe.kind, start, runId);
    const result = await runChunks(windowJob(job, probe.kind, window.lo, window.hi, probe.naive), { ...options, ledger, restate: true }, {
      window: { chunks, runId, chunkDone: (key) => advancer.chunkDone(key), prune },
    });
    return { ...result, incremental: { ...outcome('window', before, window), watermarkAfter: formatCursor(probe.kind, advancer.value) } };
  } finally {
    if (options.ledger === undefined) await ledger.close();
  }
}
