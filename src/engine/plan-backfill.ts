// The dry run: every chunk the job has, and what the ledger says about each. Changes nothing.

import { existsSync } from 'node:fs';
import type { Chunk } from '../core/chunk.js';
import { selectChunks, type SourceBounds } from '../core/planner.js';
import { createSource } from '../connectors/registry.js';
import { DuckSession } from '../connectors/duckdb/duckdb-session.js';
import type { Job } from '../job/job.js';
import type { ChunkRecord } from '../ledger/ledger.js';
import { SqliteLedger } from '../ledger/sqlite/sqlite-ledger.js';
import { preparePlan } from './prepare.js';

export type PlannedStatus = 'done' | 'missing' | 'failed' | 'running';

export interface PlannedChunk extends Chunk {
  readonly status: PlannedStatus;
  readonly attempts: number;
  readonly rowsWritten: number | null;
  readonly error: string | null;
}

export interface BackfillPlan {
  readonly job: string;
  readonly source: string;
  /** How chunks read the source: each only its own part, or one staging pass for all. */
  readonly strategy: 'prune' | 'stage';
  readonly bounds: { readonly min: string; readonly max: string } | undefined;
  readonly chunks: readonly PlannedChunk[];
  readonly counts: Readonly<Record<PlannedStatus, number>> & { readonly total: number };
}

export async function planBackfill(job: Job, options: { from?: string | undefined; to?: string | undefined } = {}): Promise<BackfillPlan> {
  const session = await DuckSession.create(job.duckdb);
  const conn = await session.connect();
  const source = createSource(job);
  // Read the ledger but never create or migrate it: a dry run leaves no trace.
  const ledger = existsSync(job.ledgerPath) ? SqliteLedger.openReader(job.ledgerPath) : undefined;
  try {
    const plan = await preparePlan(job, source, conn, undefined);
    const timezone = job.chunking.kind === 'time' ? job.chunking.timezone : 'UTC';
    const records = new Map<string, ChunkRecord>((ledger?.listChunks(job.name) ?? []).map((r) => [r.key, r]));
    const chunks = selectChunks(plan.chunks, options.from, options.to, timezone).map((chunk): PlannedChunk => {
      const r = records.get(chunk.key);
      const status: PlannedStatus = r === undefined || r.status === 'pending' ? 'missing' : r.status;
      return { ...chunk, status, attempts: r?.attempts ?? 0, rowsWritten: r?.rowsWritten ?? null, error: r?.error ?? null };
    });
    const counts = { total: chunks.length, done: 0, missing: 0, failed: 0, running: 0 };
    for (const c of chunks) counts[c.status]++;
    return {
      job: job.name,
      source: source.describe(),
      strategy: source.capabilities.prunes ? 'prune' : 'stage',
      bounds: formatBounds(job, plan.bounds),
      chunks,
      counts,
    };
  } finally {
    ledger?.close();
    conn.close();
    session.close();
  }
}

function formatBounds(job: Job, bounds: SourceBounds | undefined): BackfillPlan['bounds'] {
  if (bounds === undefined) return undefined;
  if (job.chunking.kind === 'key') return { min: String(bounds.min), max: String(bounds.max) };
  return { min: new Date(Number(bounds.min)).toISOString(), max: new Date(Number(bounds.max)).toISOString() };
}
