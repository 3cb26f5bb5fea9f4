// What a run would change, chunk by chunk: rows inserted, updated, deleted and unchanged — computed beside the target, which is left as it is.

import type { Chunk } from '../../core/chunk.js';
import { PlanError } from '../../core/errors.js';
import { quoteIdent } from '../../core/sql-text.js';
import type { ColumnInfo, OpenedChunk } from '../../connectors/connector.js';
import type { DuckConn } from '../../runtime/duckdb-session.js';
import { outputRange } from '../run/prepare.js';
import type { Job, WriteMode } from '../../job/job.js';
import { canonicalRow, openSourceOutput, openTargetRows, targetTypes, withChunkSides, type ChunkSides } from './verify-backfill.js';

export interface ChunkDiff {
  readonly key: string;
  readonly lo: string;
  readonly hi: string;
  /** Rows the chunk's output has. */
  readonly rows: number;
  readonly inserted: number;
  readonly updated: number;
  readonly deleted: number;
  readonly unchanged: number;
}

export interface DiffTotals {
  readonly rows: number;
  readonly inserted: number;
  readonly updated: number;
  readonly deleted: number;
  readonly unchanged: number;
}

export interface DiffReport {
  readonly job: string;
  readonly target: string;
  readonly mode: WriteMode;
  readonly key: readonly string[];
  /** How rows are matched: by key, as whole rows (replace without a key), or not at all (append). */
  readonly matchBy: 'key' | 'row' | 'none';
  readonly chunks: readonly ChunkDiff[];
  readonly totals: DiffTotals;
}

export interface DiffOptions {
  readonly from?: string | undefined;
  readonly to?: string | undefined;
  readonly signal?: AbortSignal | undefined;
}

const STAGE = quoteIdent('backfill_diff_new');

/** For each planned chunk (overlapping from/to), what writing it now would do to the target. */
export async function diffBackfill(job: Job, options: DiffOptions = {}): Promise<DiffReport> {
  const signal = options.signal ?? new AbortController().signal;
  const mode = job.write.mode;
  const matchBy = mode === 'append' ? 'none' : mode === 'merge' || job.write.key.length > 0 ? 'key' : 'row';
  return withChunkSides(job, options, 'all', async (sides, conn, chunks, staged) => {
    if (mode === 'merge' && sides.target.readKeys === undefined && sides.target.capabilities.replaceBy !== 'chunk') {
      throw new PlanError(`plan --diff in merge mode needs ${sides.target.describe()} to look rows up by key, which it cannot`);
    }
    const diffs: ChunkDiff[] = [];
    try {
      for (const chunk of chunks) diffs.push(await diffChunk(sides, conn, chunk, staged?.get(chunk.key)?.relation, matchBy, signal));
    } finally {
      await conn.run(`DROP TABLE IF EXISTS ${STAGE}`).catch(() => {});
    }
    const sum = (f: (d: ChunkDiff) => number): number => diffs.reduce((n, d) => n + f(d), 0);
    return {
      job: job.name,
      target: sides.target.describe(),
      mode,
      key: job.write.key,
      matchBy,
      chunks: diffs,
      totals: { rows: sum((d) => d.rows), inserted: sum((d) => d.inserted), updated: sum((d) => d.updated), deleted: sum((d) => d.deleted), unchanged: sum((d) => d.unchanged) },
    };
  });
}

async function diffChunk(sides: ChunkSides, conn: DuckConn, chunk: Chunk, staged: string | undefined, matchBy: DiffReport['matchBy'], signal: AbortSignal): Promise<ChunkDiff> {
  const { job, target } = sides;
  const base = { key: chunk.key, lo: chunk.lo, hi: chunk.hi };
  // Stage the chunk's output once: it is read for its keys and for the comparison.
  const source = await openSourceOutput(sides, conn, chunk, staged, signal);
  let rows: number;
  try {
    const created = await conn.all<{ Count: string }>(`CREATE OR REPLACE TEMP TABLE ${STAGE} AS SELECT * FROM ${source.relation}`, signal);
    rows = Number(created[0]?.Count ?? 0);
  } finally {
    await source.close().catch(() => {});
  }
  if (matchBy === 'none') return { ...base, rows, inserted: rows, updated: 0, deleted: 0, unchanged: 0 };

  const key = job.write.key;
  let old: OpenedChunk;
  if (job.write.mode === 'merge' && target.readKeys !== undefined) {
    // A merge matches keys anywhere in the target, not only in the chunk's range.
    const range = outputRange(job, sides.plan, chunk, sides.timezone);
    old = await target.readKeys(conn, { chunk, columns: sides.plan.outputColumns, range, keys: STAGE, key }, signal);
  } else {
    old = await openTargetRows(sides, conn, chunk, signal);
  }
  try {
    const types = await targetTypes(conn, old.relation, sides.plan.outputColumns);
    const newRow = canonicalRow(types, sides.plan.outputColumns);
    const oldRow = canonicalRow(types);
    const counts =
      matchBy === 'key'
        ? await byKey(conn, types, key, newRow, oldRow, old.relation, job.write.mode === 'merge', sides.plan.outputColumns, signal)
        : await byRow(conn, newRow, oldRow, old.relation, signal);
    return { ...base, rows, ...counts };
  } finally {
    await old.close().catch(() => {});
  }
}

type Counts = Pick<ChunkDiff, 'inserted' | 'updated' | 'deleted' | 'unchanged'>;

/** Match rows by key; in merge mode keys missing from the output are not deleted. */
async function byKey(
  conn: DuckConn, types: readonly ColumnInfo[], key: readonly string[], newRow: string, oldRow: string, oldRelation: string,
  merge: boolean, outputColumns: readonly ColumnInfo[], signal: AbortSignal,
): Promise<Counts> {
  const newKey = canonicalRow(types, outputColumns, key);
  const oldKey = canonicalRow(types, undefined, key);
  const rows = await conn.all<Record<keyof Counts, string | null>>(
    `WITH n AS (SELECT ${newKey} AS k, ${newRow} AS r FROM ${STAGE}),
          o AS (SELECT ${oldKey} AS k, ${oldRow} AS r FROM ${oldRelation})
     SELECT count(*) FILTER (WHERE o.k IS NULL) AS inserted,
            count(*) FILTER (WHERE n.k IS NULL) AS deleted,
            count(*) FILTER (WHERE n.k IS NOT NULL AND o.k IS NOT NULL AND n.r <> o.r) AS updated,
            count(*) FILTER (WHERE n.k IS NOT NULL AND o.k IS NOT NULL AND n.r = o.r) AS unchanged
     FROM n FULL OUTER JOIN o ON n.k = o.k`,
    signal,
  );
  const r = rows[0];
  return { inserted: Number(r?.inserted ?? 0), updated: Number(r?.updated ?? 0), deleted: merge ? 0 : Number(r?.deleted ?? 0), unchanged: Number(r?.unchanged ?? 0) };
}

/** Replace without a key: the old and new rows as multisets of whole rows. */
async function byRow(conn: DuckConn, newRow: string, oldRow: string, oldRelation: string, signal: AbortSignal): Promise<Counts> {
  const rows = await conn.all<Record<keyof Counts, string | null>>(
    `WITH n AS (SELECT ${newRow} AS r, count(*) AS c FROM ${STAGE} GROUP BY 1),
          o AS (SELECT ${oldRow} AS r, count(*) AS c FROM ${oldRelation} GROUP BY 1)
     SELECT sum(greatest(coalesce(n.c, 0) - coalesce(o.c, 0), 0)) AS inserted,
            sum(greatest(coalesce(o.c, 0) - coalesce(n.c, 0), 0)) AS deleted,
            sum(least(coalesce(n.c, 0), coalesce(o.c, 0))) AS unchanged
     FROM n FULL OUTER JOIN o ON n.r = o.r`,
    signal,
  );
  const r = rows[0];
  return { inserted: Number(r?.inserted ?? 0), updated: 0, deleted: Number(r?.deleted ?? 0), unchanged: Number(r?.unchanged ?? 0) };
}
