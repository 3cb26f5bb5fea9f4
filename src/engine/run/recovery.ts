// Crash recovery: chunks a dead process left running, and attempts that committed although they reported an error.

import type { Chunk, ChunkStats } from '../../core/chunk.js';
import type { EventBus } from '../../core/events.js';
import type { Target } from '../../connectors/connector.js';
import type { Job } from '../../job/job.js';
import type { Ledger } from '../../ledger/ledger.js';
import type { DuckConn, DuckSession } from '../../runtime/duckdb-session.js';
import { ownerAlive } from '../../runtime/process-liveness.js';
import { keptRejects } from '../safety/reject-rows.js';

/** A claim's name for commit markers: unique across runs and ledgers because the owner holds the run's id. */
export function leaseId(owner: string, token: number): string {
  return `${owner}#${token}`;
}

/**
 * Chunks left `running` by a dead process (or under a lease expired at `now`): when the target
 * holds the chunk's commit marker with the lease's token, the data committed before the ledger
 * mark — adopt it instead of redoing it.
 */
export async function recoverStale(job: Job, ledger: Ledger, target: Target, conn: DuckConn, events: EventBus, runId: string, now: number): Promise<void> {
  for (const stale of await ledger.staleChunks(job.name, now, ownerAlive)) {
    const chunk: Chunk = { key: stale.key, kind: stale.kind, lo: stale.lo, hi: stale.hi, tag: stale.tag };
    // With `verify: true` a commit never checked is redone, not adopted.
    const committed = target.capabilities.transactional && !job.verify ? await target.committedLease(conn, chunk) : undefined;
    if (committed !== undefined && stale.leaseOwner !== null && committed.lease === leaseId(stale.leaseOwner, stale.fencingToken)) {
      const rejected = keptRejects(job.rejects.dir, chunk);
      const stats = { rowsRead: committed.rows + rejected, rowsWritten: committed.rows, rowsRejected: rejected, bytes: null };
      if (await ledger.adoptCommitted(job.name, stale.key, stale.fencingToken, stats)) {
        events.emit('warning', { runId, message: `chunk ${stale.key} had committed before its process stopped; recorded it as done` });
      }
    } else {
      await ledger.resetStale(job.name, stale.key, stale.fencingToken);
    }
  }
}

/** What `committedEarlier` looks at: the target and a session to open a connection on. */
export interface CommitCheck {
  readonly session: DuckSession;
  readonly target: Target;
  readonly events: EventBus;
  readonly runId: string;
}

/**
 * Before writing a chunk again: when the target's commit marker names one of its failed
 * attempts, that attempt's transaction committed although the attempt saw an error (the
 * connection broke before the reply to COMMIT). Writing again would append its rows twice.
 */
export async function committedEarlier(ctx: CommitCheck, chunk: Chunk, failedClaims: readonly string[]): Promise<{ stats: ChunkStats; marked: boolean } | undefined> {
  if (failedClaims.length === 0 || !ctx.target.capabilities.transactional) return undefined;
  const conn = await ctx.session.connect();
  try {
    await ctx.target.attach(conn);
    const committed = await ctx.target.committedLease(conn, chunk);
    if (committed === undefined || !failedClaims.includes(committed.lease)) return undefined;
    ctx.events.emit('warning', { runId: ctx.runId, message: `chunk ${chunk.key} had committed although its attempt failed; recorded it as done` });
    return { stats: { rowsRead: committed.rows, rowsWritten: committed.rows, rowsRejected: 0, bytes: null }, marked: false };
  } finally {
    conn.close();
  }
}
