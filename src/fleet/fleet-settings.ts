// Which queue a job's chunks go through — the job's `queue:` or `--queue` — with no queue client loaded: the CLI asks before it needs one.

import { JobSpecError, redactSecrets } from '../core/errors.js';
import { queueProblem, type Job, type QueueSettings } from '../job/job.js';

/** The job's queue, or the one `--queue` names instead (refused, with the reason, when the job's ledger cannot serve a fleet). */
export function fleetSettings(job: Job, url: string | undefined): QueueSettings | undefined {
  if (url === undefined) return job.queue;
  const problem = queueProblem(url, job.ledgerUrl);
  if (problem !== undefined) throw new JobSpecError([{ path: '--queue', message: problem }], job.file);
  return { ...(job.queue ?? { name: job.name, inFlight: undefined, rate: undefined, stalledAfterMs: 30_000, leaseMs: 60_000 }), url };
}

/** The queue's URL safe to print. */
export function queueName(settings: QueueSettings): string {
  return `${settings.name} at ${redactSecrets(settings.url)}`;
}

