// The dry run: every chunk the job has, and what the ledger says about each. Changes nothing.

import type { Chunk } from '../../core/chunk.js';
import { chunkTimezone, selectChunks, type SourceBounds } from '../../core/planner.js';
import { createSource, createTarget } from '../../connectors/open-connectors.js';
import { chooseRoute } from '../run/write-routes.js';
import { DuckSession } from '../../runtime/duckdb-session.js';
import type { Job } from '../../job/job.js';
import type { ChunkRecord } from '../../ledger/ledger.js';
import { openLedgerReader } from '../../ledger/open-ledger.js';
import { indexWarnings } from '../run/index-advice.js';
import { preparePlan } from '../run/prepare.js';
import { PlanError } from '../../core/errors.js';
import { isCdcJob } from '../../connectors/open-connectors.js';
import { incrementalWindow } from '../../core/watermark.js';
import { checkWatermark, formatCursor, lookbackOf, probeCursor, windowChunks, windowEnd, windowJob } from '../incremental/incremental.js';

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
  /** How the chunks were made, in words: a calendar step, a key size, cut by rows (recorded or not yet), or one chunk. */
  readonly chunking: string;
  readonly chunks: readonly PlannedChunk[];
  readonly counts: Readonly<Record<PlannedStatus, number>> & { readonly total: number };
  /** Problems a run would meet, worth fixing first: an index the writes need, with the statement that adds it. */
  readonly warnings: readonly string[];
  /** Incremental jobs: what the next run takes — the full backfill (history) or the window past the watermark (then `chunks` are the window's). */
  readonly incremental?: {
    readonly cursor: string;
    readonly kind: 'time' | 'key';
    readonly phase: 'history' | 'window';
    /** The watermark now (a window run), or where it will start once the full backfill completes. */
    readonly watermark: string | undefined;
    readonly window: { readonly lo: string; readonly hi: string } | undefined;
  };
}

export async function planBackfill(job: Job, options: { from?: string | undefined; to?: string | undefined; now?: number | undefined } = {}): Promise<BackfillPlan> {
  if (isCdcJob(job)) {
    throw new PlanError(`job ${job.name} captures changes (source.cdc): it has no chunk plan; \`backfill status\` shows its initial copy, slot and lag (docs/cdc.md)`);
  }
  if (job.incremental !== undefined && options.from === undefined && options.to === undefined) {
    const windowPlan = await planWindow(job, options.now ?? Date.now());
    if (windowPlan !== undefined) return windowPlan;
  }
  const plan = await planHistory(job, options);
  if (job.incremental === undefined || options.from !== undefined || options.to !== undefined) return plan;
  const probe = await probeCursor(job);
  const reader = await openLedgerReader(job);
  const watermark = await reader?.watermark(job.name).finally(() => reader?.close());
  return {
    ...plan,
    incremental: {
      cursor: job.incremental.cursor, kind: probe.kind, phase: 'history',
      watermark: formatCursor(probe.kind, watermark?.value ?? windowEnd(job, probe, options.now ?? Date.now())), window: undefined,
    },
  };
}

/** The window the next incremental run reads, or undefined while the job is still in its full backfill. */
async function planWindow(job: Job, now: number): Promise<BackfillPlan | undefined> {
  const reader = await openLedgerReader(job);
  const watermark = await reader?.watermark(job.name).finally(() => reader?.close());
  if (watermark === undefined || watermark.phase === 'history') return undefined;
  const probe = await probeCursor(job);
  checkWatermark(job, probe, watermark);
  const window = incrementalWindow(BigInt(watermark.value), lookbackOf(job, probe.kind), windowEnd(job, probe, now));
  const chunks = window === undefined ? [] : windowChunks(job, probe.kind, window.lo, window.hi, probe.naive);
  const history = await planHistory(windowJob(job, probe.kind, window?.lo ?? 0n, window?.hi ?? 1n, probe.naive), {}, chunks);
  return {
    ...history,
    incremental: {
      cursor: watermark.cursor, kind: probe.kind, phase: 'window', watermark: formatCursor(probe.kind, watermark.value),
      window: window === undefined ? undefined : { lo: formatCursor(probe.kind, window.lo) as string, hi: formatCursor(probe.kind, window.hi) as string },
    },
  };
}

async function planHistory(job: Job, options: { from?: string | undefined; to?: string | undefined }, windowChunkList?: readonly Chunk[]): Promise<BackfillPlan> {
  const session = await DuckSession.create(job.duckdb);
  const conn = await session.connect();
  const source = await createSource(job);
  // Built only to learn its capabilities: a target connects on first use, and planning never uses it.
  const target = await createTarget(job);
  // Read the ledger but never create or migrate it: a dry run leaves no trace.
  const ledger = await openLedgerReader(job);
  try {
    const plan = windowChunkList === undefined ? await preparePlan(job, source, conn, undefined, ledger) : { chunks: [...windowChunkList], bounds: undefined };
    const timezone = chunkTimezone(job.chunking);
    const recorded = job.chunking.kind === 'rows' && (await ledger?.chunkPlan(job.name)) !== undefined;
    // A window's chunks run again whatever the ledger says of an earlier window with the same bounds.
    const records = new Map<string, ChunkRecord>(windowChunkList !== undefined ? [] : ((await ledger?.listChunks(job.name)) ?? []).map((r) => [r.key, r]));
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
      chunking: describeChunking(job, recorded),
      chunks,
      counts,
      warnings: await indexWarnings(target, conn),
    };
  } finally {
    await ledger?.close();
    conn.close();
    session.close();
    await source.close().catch(() => {});
    await target.close().catch(() => {});
  }
}

function describeChunking(job: Job, recorded: boolean): string {
  const c = job.chunking;
  if (c.kind === 'all') return 'one chunk: the whole source (the job has no chunk:); a run replaces, appends or merges all of it at once';
  if (c.kind === 'rows') {
    const how = recorded ? 'recorded in the ledger; rows past the last chunk get new chunks' : 'cut from the data now; the first run records them';
    return `about ${c.rows.toLocaleString('en-US')} rows per chunk on ${c.columns.join(', ')} (${how})`;
  }
  if (c.kind === 'key') return `${c.size} keys per chunk on ${c.column}`;
  return `${c.step.n} ${c.step.unit}${c.step.n === 1 ? '' : 's'} per chunk on ${c.column} (${c.timezone})`;
}

function formatBounds(job: Job, bounds: SourceBounds | undefined): BackfillPlan['bounds'] {
  if (bounds === undefined) return undefined;
  if (job.chunking.kind === 'key') return { min: String(bounds.min), max: String(bounds.max) };
  return { min: new Date(Number(bounds.min)).toISOString(), max: new Date(Number(bounds.max)).toISOString() };
}
