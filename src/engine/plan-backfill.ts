// The dry run: every chunk the job has, and what the ledger says about each. Changes nothing.

import type { Chunk } from '../core/chunk.js';
import { selectChunks, type SourceBounds } from '../core/planner.js';
import { createSource, createTarget } from '../connectors/registry.js';
import { chooseRoute } from './run-backfill.js';
import { DuckSession } from '../connectors/duckdb/duckdb-session.js';
import type { Job } from '../job/job.js';
import type { ChunkRecord } from '../ledger/ledger.js';
import { openLedgerReader } from '../ledger/open-ledger.js';
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
  /** How rows travel to the target: through the engine, as a COPY stream, or inside one database. */
  readonly route: 'engine' | 'copy-stream' | 'in-database';
  readonly bounds: { readonly min: string; readonly max: string } | undefined;
  readonly chunks: readonly PlannedChunk[];
  readonly counts: Readonly<Record<PlannedStatus, number>> & { readonly total: number };
}

export async function planBackfill(job: Job, options: { from?: string | undefined; to?: string | undefined } = {}): Promise<BackfillPlan> {
  const session = await DuckSession.create(job.duckdb);
  const conn = await session.connect();
  const source = await createSource(job);
  // Built only to learn its capabilities: a target connects on first use, and planning never uses it.
  const target = await createTarget(job);
  // Read the ledger but never create or migrate it: a dry run leaves no trace.
  const ledger = await openLedgerReader(job);
  try {
    const plan = await preparePlan(job, source, conn, undefined);
    const timezone = job.chunking.kind === 'time' ? job.chunking.timezone : 'UTC';
    const records = new Map<string, ChunkRecord>(((await ledger?.listChunks(job.name)) ?? []).map((r) => [r.key, r]));
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
      route: chooseRoute(job, source, target),
      bounds: formatBounds(job, plan.bounds),
      chunks,
      counts,
    };
  } finally {
    await ledger?.close();
    conn.close();
    session.close();
    await source.close().catch(() => {});
    await target.close().catch(() => {});
  }
}

function formatBounds(job: Job, bounds: SourceBounds | undefined): BackfillPlan['bounds'] {
  if (bounds === undefined) return undefined;
  if (job.chunking.kind === 'key') return { min: String(bounds.min), max: String(bounds.max) };
  return { min: new Date(Number(bounds.min)).toISOString(), max: new Date(Number(bounds.max)).toISOString() };
}
