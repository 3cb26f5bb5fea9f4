// `backfill pause` / `backfill resume`: the job's pause in its ledger, which every process of the job reads before each chunk and on every check.

import { hostname, userInfo } from 'node:os';
import type { Job } from '../../job/job.js';
import type { JobPause } from '../../ledger/ledger.js';
import { openLedger } from '../../ledger/open-ledger.js';

export interface PauseResult {
  readonly job: string;
  /** False when the job already was in the state asked for. */
  readonly changed: boolean;
  /** The pause now in force; undefined after a resume. */
  readonly pause: JobPause | undefined;
  /** How soon running processes obey: within one check interval (`limits.checkInterval`). */
  readonly checkIntervalMs: number;
}

/** Pause the job for every process that runs it: chunks in flight finish, no new one starts until `resumeJob`. */
export async function pauseJob(job: Job, options: { readonly reason?: string | undefined; readonly by?: string | undefined } = {}): Promise<PauseResult> {
  const ledger = await openLedger(job);
  try {
    const changed = await ledger.pause(job.name, options.by ?? whoAmI(), options.reason ?? null);
    return { job: job.name, changed, pause: await ledger.pauseOf(job.name), checkIntervalMs: job.limits.checkIntervalMs };
  } finally {
    await ledger.close();
  }
}

/** Lift the job's pause. */
export async function resumeJob(job: Job): Promise<PauseResult> {
  const ledger = await openLedger(job);
  try {
    return { job: job.name, changed: await ledger.resume(job.name), pause: undefined, checkIntervalMs: job.limits.checkIntervalMs };
  } finally {
    await ledger.close();
  }
}

function whoAmI(): string {
  let user = 'unknown';
  try {
    user = userInfo().username;
  } catch {
    // no passwd entry (a container's arbitrary uid): the host still says where it came from
  }
  return `${user}@${hostname()}`;
}
