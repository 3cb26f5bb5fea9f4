// The child process in which `backfill bench` runs one strategy, so that each strategy's peak memory is its own.

import { describeError } from '../../core/errors.js';
import type { Job } from '../../job/job.js';
import { runBackfill } from '../run/run-backfill.js';

export interface BenchWorkerRequest {
  readonly job: Job;
  readonly restate: boolean;
}

export type BenchWorkerReply =
  | { readonly ok: true; readonly ms: number; readonly rowsWritten: number; readonly rowsRead: number; readonly chunks: number; readonly failed: string | undefined; readonly peakRssBytes: number }
  | { readonly ok: false; readonly error: string };

process.once('message', (message: BenchWorkerRequest) => {
  const reply = (r: BenchWorkerReply): void => {
    (process.send as NonNullable<typeof process.send>)(r, () => process.exit(0));
  };
  const t0 = performance.now();
  runBackfill(message.job, { restate: message.restate }).then(
    (result) => {
      const failed = result.chunks.find((c) => c.outcome === 'failed');
      reply({
        ok: true, ms: performance.now() - t0, rowsWritten: result.rowsWritten, rowsRead: result.rowsRead, chunks: result.total,
        failed: failed === undefined ? undefined : `chunk ${failed.key}: ${failed.error ?? 'failed'}`,
        peakRssBytes: process.resourceUsage().maxRSS * 1024,
      });
    },
    (err: unknown) => reply({ ok: false, error: describeError(err) }),
  );
});
