// The one pass over a source that cannot prune, writing every chunk's output at once; each chunk later publishes its share.

import type { Chunk } from '../../core/chunk.js';
import { chunkColumn, chunkColumns, planChunks, type SourceBounds } from '../../core/planner.js';
import { quoteIdent } from '../../core/sql-text.js';
import { CHUNK_INDEX_COLUMN, type OnePassOutput, type Source, type Target } from '../../connectors/connector.js';
import type { Job } from '../../job/job.js';
import type { Ledger } from '../../ledger/ledger.js';
import type { DuckConn } from '../../runtime/duckdb-session.js';
import { describeQuery } from '../../runtime/duckdb-sql.js';
import { NULL_CHUNK_INDEX } from '../safety/reject-rows.js';
import { boundsNeedScan, transformQuery, type DescribedJob, type PreparedPlan } from './prepare.js';
import { unitTag } from './chunk-tag.js';
import { isRowLocal } from './row-local.js';
import { chunkIndexedRelation } from './stage.js';

/** The pass's output, and which share of it each chunk publishes. */
export interface OnePass {
  readonly output: OnePassOutput;
  readonly rows: number;
  /** The chunk's share, once: a retry reads the chunk from the source instead. */
  take(chunk: Chunk): { staged: unknown } | undefined;
}

function onePassOf(output: OnePassOutput, keyOf: (chunk: Chunk) => string | undefined): OnePass {
  const taken = new Set<string>();
  return {
    output,
    rows: output.rows,
    take: (chunk) => {
      const key = keyOf(chunk);
      if (key === undefined || taken.has(chunk.key)) return undefined;
      taken.add(chunk.key);
      return { staged: output.chunks.get(key) };
    },
  };
}

/**
 * Write every pending chunk in the one pass over the source when that is the same as writing
 * them one by one: the target supports it, the mode does not read old output (not merge), and
 * the transform maps each row on its own (no aggregates, windows, joins, filters) and keeps the
 * chunk index column.
 */
export async function tryOnePass(
  job: Job, source: Source, target: Target, conn: DuckConn, todo: readonly Chunk[], plan: PreparedPlan, timezone: string, signal: AbortSignal,
): Promise<OnePass | undefined> {
  const writer = target.onePass;
  if (writer === undefined || !(target.capabilities.onePassModes ?? []).includes(job.write.mode)) return undefined;
  if (!(await isRowLocal(job, source, conn))) return undefined;
  const relation = chunkIndexedRelation(source, todo, { column: chunkColumn(job.chunking), columns: chunkColumns(job.chunking) }, plan.columnTypes, timezone, source.rejectReader?.relation());
  const query = transformQuery(job, relation);
  if (!(await describeQuery(conn, query)).some((c) => c.name === CHUNK_INDEX_COLUMN)) return undefined;
  const output = await writer.writeAll(conn, query, signal);
  const index = new Map(todo.map((c, i) => [c.key, String(i)]));
  return onePassOf(output, (chunk) => index.get(chunk.key));
}

/**
 * The one pass without known bounds: when a chunk's lower bound follows from the row alone
 * (key chunks, or single calendar units in UTC), each row is tagged with it, and the chunks
 * present in the output give the bounds — the source is read once instead of twice.
 */
export async function onePassBeforePlan(
  job: Job, source: Source, target: Target, conn: DuckConn, ledger: Ledger, described: DescribedJob, signal: AbortSignal,
): Promise<{ onePass: OnePass; plan: PreparedPlan } | undefined> {
  const writer = target.onePass;
  if (source.capabilities.prunes || writer === undefined) return undefined;
  if (!(target.capabilities.onePassModes ?? []).includes(job.write.mode)) return undefined;
  const chunking = job.chunking;
  // Rows chunkings are cut from the data before any pass; a job without chunk: is one chunk.
  if (chunking.kind !== 'time' && chunking.kind !== 'key') return undefined;
  if (chunking.from !== undefined || chunking.to !== undefined) return undefined;
  if (!(await boundsNeedScan(job, source, ledger))) return undefined;
  const col = quoteIdent(chunking.column);
  let bucket: string;
  // A time tag names its unit; the chunks and bounds are read back through it.
  let unit: ReturnType<typeof unitTag>;
  if (chunking.kind === 'key') {
    const size = chunking.size.toString();
    bucket = `(${col} - (((${col} % ${size}) + ${size}) % ${size}))`;
  } else {
    if (chunking.step.n !== 1 || chunking.timezone !== 'UTC') return undefined;
    unit = unitTag(col, described.sourceColumnType, chunking.step.unit);
    if (unit === undefined) return undefined;
    bucket = unit.sql;
  }
  if (!(await isRowLocal(job, source, conn))) return undefined;
  // Rows with NULL in the chunk column are set aside under NULL_CHUNK_INDEX, to be counted as rejected.
  const relation = `(SELECT *, coalesce(${bucket}, ${NULL_CHUNK_INDEX}) AS ${quoteIdent(CHUNK_INDEX_COLUMN)} FROM ${source.rejectReader?.relation() ?? source.relation()})`;
  const query = transformQuery(job, relation);
  if (!(await describeQuery(conn, query)).some((c) => c.name === CHUNK_INDEX_COLUMN)) return undefined;
  const output = await writer.writeAll(conn, query, signal);
  const values = [...output.chunks.keys()].filter((v) => v !== String(NULL_CHUNK_INDEX)).map((v) => BigInt(v)).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const min = values[0];
  const max = values[values.length - 1];
  const lowest = min === undefined || unit === undefined ? min : BigInt(unit.lowerMs(min));
  const highest = max === undefined || unit === undefined ? max : BigInt(unit.lowerMs(max));
  const bounds: SourceBounds | undefined =
    lowest === undefined || highest === undefined ? undefined : chunking.kind === 'key' ? { min: lowest, max: highest } : { min: Number(lowest), max: Number(highest) };
  const fingerprint = source.fingerprint();
  if (fingerprint !== undefined) {
    // Saved as `findBounds` reads them back: a DATE column's bounds are dates, not instants.
    const isDate = described.sourceColumnType.toUpperCase() === 'DATE';
    const text = (v: bigint | undefined): string | null => (v === undefined ? null : isDate ? new Date(Number(v)).toISOString().slice(0, 10) : String(v));
    await ledger.saveBounds(job.name, fingerprint, chunking.column, text(lowest), text(highest));
  }
  const plan: PreparedPlan = { ...described, chunks: planChunks(chunking, bounds), bounds };
  const keyOf = (chunk: Chunk): string => (chunk.kind === 'key' || unit === undefined ? chunk.lo : String(unit.tagOf(Date.parse(chunk.lo))));
  return { onePass: onePassOf(output, keyOf), plan };
}
