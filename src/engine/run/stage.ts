// One pass over a source that cannot prune: split the pending chunks' rows into per-chunk Parquet files.

import { mkdirSync, rmSync } from 'node:fs';
import { columnExpr, nullCondition, type Chunk, type RangeLiterals } from '../../core/chunk.js';
import { quoteIdent, quoteLiteral } from '../../core/sql-text.js';
import { CHUNK_INDEX_COLUMN, type Source } from '../../connectors/connector.js';
import type { DuckConn } from '../../runtime/duckdb-session.js';
import { duckRangeCondition, rangeLiterals, sqlList } from '../../runtime/duckdb-sql.js';
import { NULL_CHUNK_INDEX } from '../safety/reject-rows.js';
import { chunkIndexExpr, GAP_TAG } from './chunk-tag.js';

/** The chunk column, or several compared as a tuple. */
export type ChunkOn = string | { readonly column: string; readonly columns?: readonly string[] | undefined };

export interface StagedChunk {
  readonly relation: string;
  readonly rows: number;
}

/**
 * One pass, no per-chunk scan; rows in no pending chunk are left out, except rows with NULL in
 * the chunk column: those are staged apart under the key `NULL_CHUNK_INDEX` to be counted as rejected.
 */
export async function stageChunks(
  conn: DuckConn,
  source: Source,
  chunks: readonly Chunk[],
  column: ChunkOn,
  columnType: string | readonly string[],
  timezone: string,
  dir: string,
  signal: AbortSignal,
  from: string = source.relation(),
): Promise<Map<string, StagedChunk>> {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const relation = chunkIndexedRelation(source, chunks, column, columnType, timezone, from);
  const stats = await conn.all<{ filename: string; count: string; partition_keys: Record<string, string> | null }>(
    `COPY (SELECT * FROM ${relation}) TO ${quoteLiteral(dir)} (FORMAT parquet, COMPRESSION snappy, PARTITION_BY (${quoteIdent(CHUNK_INDEX_COLUMN)}),
       FILENAME_PATTERN 'data_{i}', RETURN_STATS true, WRITE_BLOOM_FILTER false)`,
    signal,
  );
  const files = new Map<number, { paths: string[]; rows: number }>();
  for (const s of stats) {
    const match = new RegExp(`${CHUNK_INDEX_COLUMN}=(-?\\d+)`).exec(s.filename);
    if (match === null) continue;
    const idx = Number(match[1]);
    const entry = files.get(idx) ?? { paths: [], rows: 0 };
    entry.paths.push(s.filename);
    entry.rows += Number(s.count);
    files.set(idx, entry);
  }
  const out = new Map<string, StagedChunk>();
  chunks.forEach((chunk, i) => {
    const entry = files.get(i);
    out.set(chunk.key, {
      relation: entry === undefined ? `(SELECT * FROM ${source.relation()} LIMIT 0)` : `read_parquet(${sqlList(entry.paths)}, hive_partitioning = false)`,
      rows: entry?.rows ?? 0,
    });
  });
  const nulls = files.get(NULL_CHUNK_INDEX);
  if (nulls !== undefined) out.set(String(NULL_CHUNK_INDEX), { relation: `read_parquet(${sqlList(nulls.paths)}, hive_partitioning = false)`, rows: nulls.rows });
  return out;
}

/**
 * The source's rows with the index of their chunk in `__backfill_chunk`; rows in no listed chunk
 * are left out, rows with NULL in the chunk column get `NULL_CHUNK_INDEX` (they are rejected,
 * not lost). The index is looked up per row with integer arithmetic in constant lists
 * (`chunk-tag.ts`); where that does not apply (an unusual column type, too many cells), a binary
 * search over the chunks' bounds written as nested CASE expressions, about twice the CPU per
 * row. Either streams in bounded memory (an ASOF join would sort the whole input first).
 */
export function chunkIndexedRelation(
  source: Source, chunks: readonly Chunk[], column: ChunkOn, columnType: string | readonly string[], timezone: string, from: string = source.relation(),
): string {
  const on = typeof column === 'string' ? { column } : column;
  const col = columnExpr(on, quoteIdent);
  const isNull = nullCondition(on, quoteIdent);
  const bounds = chunks.map((chunk) => rangeLiterals(chunk, columnType, timezone));
  const first = bounds[0];
  const last = bounds[bounds.length - 1];
  if (first === undefined || last === undefined) return `(SELECT *, CAST(NULL AS INTEGER) AS ${quoteIdent(CHUNK_INDEX_COLUMN)} FROM ${from} WHERE false)`;
  const inRange = `${duckRangeCondition(col, { lo: first.lo, hi: last.hi, holdsHi: first.holdsHi })} OR ${isNull}`;
  const lookup = chunkIndexExpr(col, chunks, typeof columnType === 'string' ? columnType : (columnType[0] ?? ''), timezone);
  if (lookup !== undefined) {
    return `(SELECT * FROM (SELECT *, CASE WHEN ${isNull} THEN ${NULL_CHUNK_INDEX} ELSE ${lookup} END AS ${quoteIdent(CHUNK_INDEX_COLUMN)} FROM ${from}
     WHERE ${inRange}) WHERE ${quoteIdent(CHUNK_INDEX_COLUMN)} <> ${GAP_TAG})`;
  }
  const index = `CASE WHEN ${isNull} THEN ${NULL_CHUNK_INDEX} ELSE ${bisect(col, bounds, 0, bounds.length)} END`;
  return `(SELECT * FROM (SELECT *, ${index} AS ${quoteIdent(CHUNK_INDEX_COLUMN)} FROM ${from}
     WHERE ${inRange}) WHERE ${quoteIdent(CHUNK_INDEX_COLUMN)} IS NOT NULL)`;
}

/** CASE tree finding the chunk i holding col among sorted, non-overlapping bounds: [lo_i, hi_i), or (lo_i, hi_i] for range chunks. */
export function bisect(col: string, bounds: readonly RangeLiterals[], from: number, to: number): string {
  if (to - from === 1) return `CASE WHEN ${duckRangeCondition(col, bounds[from] as RangeLiterals)} THEN ${from} END`;
  const mid = Math.floor((from + to) / 2);
  const left = bounds[mid - 1] as RangeLiterals;
  // Range chunks hold their upper bound: the left half ends at the previous chunk's hi, inclusive.
  const goLeft = left.holdsHi === true ? `${col} <= ${left.hi}` : `${col} < ${(bounds[mid] as RangeLiterals).lo}`;
  return `CASE WHEN ${goLeft} THEN ${bisect(col, bounds, from, mid)} ELSE ${bisect(col, bounds, mid, to)} END`;
}
