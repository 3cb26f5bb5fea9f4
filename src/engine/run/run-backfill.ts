// `runBackfill`, the library's run: a change-capture job is refused, an incremental one goes through its runner, any other straight to the chunk runner.

import { PlanError } from '../../core/errors.js';
import { isCdcJob } from '../../connectors/open-connectors.js';
import type { Job } from '../../job/job.js';
import { runIncremental } from '../incremental/incremental-run.js';
import { runChunks } from './run-chunks.js';
import type { RunOptions, RunResult } from './run-options.js';

export type { ChunkOutcome, RunOptions, RunResult } from './run-options.js';

/**
 * Run (or resume) a backfill. Returns a result instead of throwing when chunks fail. A job with
 * `incremental:` runs its full backfill first and a window past the watermark afterwards, unless
 * chunks are named explicitly (--from/--to, --restate, --retry-failed): those run as history chunks.
 */
export async function runBackfill(job: Job, options: RunOptions = {}): Promise<RunResult> {
  if (isCdcJob(job)) throw new PlanError(`job ${job.name} captures changes (source.cdc): it streams them with runCdc (\`backfill run\`), it has no chunks to run`);
  const explicit = options.from !== undefined || options.to !== undefined || options.restate === true || options.retryFailed === true;
  if (job.incremental !== undefined && !explicit) return runIncremental(job, options);
  return runChunks(job, options);
}
