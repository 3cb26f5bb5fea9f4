// What `profile` measures itself with DuckDB over `Source.relation()` when a source DuckDB reads leaves it out: rows per chunk, NULLs, duplicate keys.

import type { Chunk } from '../../core/chunk.js';
import { quoteIdent } from '../../core/sql-text.js';
import type { DuplicateKeys } from '../../connectors/source-profile.js';
import type { DuckConn } from '../../runtime/duckdb-session.js';
import { rangeLiterals } from '../../runtime/duckdb-sql.js';

export interface RelationCounts {
  readonly counts: number[];
  readonly nullRows: number;
  readonly rows: number;
}

/** Rows of every chunk, NULL chunk values and all rows in ONE aggregate: the rows joined to the table of chunk bounds, grouped by chunk. */
export async function countOverRelation(
  conn: DuckConn, relation: string, column: string, columnType: string, chunks: readonly Chunk[], timezone: string, signal?: AbortSignal,
): Promise<RelationCounts> {
  const col = quoteIdent(column);
  const counts = chunks.map(() => 0);
  if (chunks.length === 0) {
    const [row] = await conn.all<{ n: string; nulls: string }>(`SELECT count(*)::BIGINT AS n, count(*) FILTER (WHERE ${col} IS NULL)::BIGINT AS nulls FROM ${relation}`, signal);
    return { counts, nullRows: Number(row?.nulls ?? 0), rows: Number(row?.n ?? 0) };
  }
  const values = chunks.map((c, i) => {
    const lit = rangeLiterals(c, columnType, timezone);
    return `(${i}, ${lit.lo}, ${lit.hi})`;
  });
  const rows = await conn.all<{ i: number | null; n: string; nulls: string }>(
    `WITH bounds(i, lo, hi) AS (VALUES ${values.join(', ')})
     SELECT b.i, count(*)::BIGINT AS n, count(*) FILTER (WHERE s.v IS NULL)::BIGINT AS nulls
     FROM (SELECT ${col} AS v FROM ${relation}) AS s LEFT JOIN bounds AS b ON s.v >= b.lo AND s.v < b.hi
     GROUP BY b.i`,
    signal,
  );
  let nullRows = 0;
  let total = 0;
  for (const r of rows) {
    total += Number(r.n);
    nullRows += Number(r.nulls);
    if (r.i !== null) counts[r.i] = Number(r.n);
  }
  return { counts, nullRows, rows: total };
}

/** Keys that occur more than once (how many, and the five most repeated) in ONE grouped query. */
export async function duplicatesOverRelation(conn: DuckConn, relation: string, key: readonly string[], signal?: AbortSignal): Promise<DuplicateKeys> {
  const cols = key.map(quoteIdent).join(', ');
  const text = key.length === 1 ? `CAST(${quoteIdent(key[0] as string)} AS VARCHAR)` : `concat_ws(', ', ${key.map((k) => `CAST(${quoteIdent(k)} AS VARCHAR)`).join(', ')})`;
  const rows = await conn.all<{ k: string; n: string; total: string }>(
    `SELECT k, n, count(*) OVER ()::BIGINT AS total FROM (
       SELECT ${text} AS k, count(*)::BIGINT AS n FROM ${relation} GROUP BY ${cols} HAVING count(*) > 1
     ) ORDER BY n DESC, k LIMIT 5`,
    signal,
  );
  return { keys: Number(rows[0]?.total ?? 0), examples: rows.map((r) => ({ key: r.k, rows: Number(r.n) })), source: 'exact count (GROUP BY key)' };
}
