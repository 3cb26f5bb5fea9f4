// What `status` shows of a fleet: each worker (from its record in the ledger) and what the queue holds.

import type { Job, QueueSettings } from '../job/job.js';
import { openLedgerReader } from '../ledger/open-ledger.js';
import { openQueue } from './fleet-queue.js';
import { queueName } from './fleet-settings.js';

export interface FleetWorkerStatus {
  readonly worker: string;
  readonly host: string;
  readonly pid: number;
  readonly startedAt: number;
  readonly heartbeatAt: number | null;
  /** Chunks it holds a lease on now. */
  readonly inFlight: number;
}

export interface FleetStatus {
  readonly queue: string;
  /** Queue jobs by state; undefined when the queue could not be reached (`queueError` says why). */
  readonly queued: { readonly waiting: number; readonly delayed: number; readonly active: number; readonly completed: number; readonly failed: number } | undefined;
  readonly queueError?: string;
  /** Workers whose record is open in the ledger, newest first. */
  readonly workers: readonly FleetWorkerStatus[];
}

export async function readFleetStatus(job: Job, settings: QueueSettings): Promise<FleetStatus> {
  const reader = await openLedgerReader(job);
  let workers: FleetWorkerStatus[] = [];
  try {
    if (reader !== undefined) {
      const runs = (await reader.listRuns(job.name, 200)).filter((r) => r.status === 'running' && isWorker(r.options));
      const leased = (await reader.listChunks(job.name)).filter((c) => c.status === 'running');
      workers = runs.map((r) => ({
        worker: r.owner, host: r.host, pid: r.pid, startedAt: r.startedAt, heartbeatAt: r.heartbeatAt,
        inFlight: leased.filter((c) => c.leaseOwner === r.owner).length,
      }));
    }
  } finally {
    await reader?.close();
  }
  const queue = openQueue(settings);
  try {
    const counts = await withTimeout(queue.getJobCounts('waiting', 'delayed', 'active', 'completed', 'failed', 'prioritized'), 5_000);
    const n = (k: string): number => counts[k] ?? 0;
    return { queue: queueName(settings), queued: { waiting: n('waiting') + n('prioritized'), delayed: n('delayed'), active: n('active'), completed: n('completed'), failed: n('failed') }, workers };
  } catch (err) {
    return { queue: queueName(settings), queued: undefined, queueError: (err as Error).message, workers };
  } finally {
    await queue.close().catch(() => {});
  }
}

function isWorker(options: string | null): boolean {
  try {
    return (JSON.parse(options ?? '{}') as { worker?: unknown }).worker === true;
  } catch {
    return false;
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms)));
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}
