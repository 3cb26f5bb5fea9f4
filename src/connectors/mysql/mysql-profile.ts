// `backfill profile` for a MySQL / MariaDB source: rows and bytes from information_schema, the spread from EXPLAIN's index estimates; --exact counts in one grouped query.

import type mysql from 'mysql2/promise';
import type { Chunk } from '../../core/chunk.js';
import type { DuplicateKeys, ProfileRequest, SourceProfile } from '../source-profile.js';
import { mysqlError, quoteMysqlIdent, quoteMysqlTable, splitMysqlTable, withConnection, type MysqlPool } from './mysql-pool.js';

export interface MysqlProfileInput {
  readonly db: MysqlPool;
  /** The source as SQL after FROM. */
  readonly from: string;
  readonly table: string | undefined;
  /** A chunk's bounds as parameter values for the chunk column. */
  readonly values: (chunk: Chunk) => readonly unknown[];
}

/** EXPLAIN estimates at most this many ranges (consecutive chunks grouped): the default profile stays a handful of cheap statements. */
const MAX_EXPLAINS = 48;

export async function profileMysql(input: MysqlProfileInput, request: ProfileRequest): Promise<SourceProfile> {
  try {
    return await withConnection(input.db, undefined, async (conn) => {
      const col = quoteMysqlIdent(request.column);
      const duplicates = request.key.length === 0 ? undefined : await duplicateKeys(conn, input.from, request.key);
      const extra = duplicates === undefined ? {} : { duplicates };
      if (input.table === undefined) return { ...(await exactCounts(conn, input, request, 'exact count (a query source has no statistics)')), ...extra };
      const { schema, table } = splitMysqlTable(input.table);
      const [info] = await conn.query(
        `SELECT t.TABLE_ROWS AS \`rows\`, t.DATA_LENGTH + t.INDEX_LENGTH AS bytes, c.DATA_TYPE AS type,
                EXISTS (SELECT 1 FROM information_schema.STATISTICS s WHERE s.TABLE_SCHEMA = t.TABLE_SCHEMA AND s.TABLE_NAME = t.TABLE_NAME AND s.SEQ_IN_INDEX = 1 AND s.COLUMN_NAME = ?) AS indexed
           FROM information_schema.TABLES t JOIN information_schema.COLUMNS c ON c.TABLE_SCHEMA = t.TABLE_SCHEMA AND c.TABLE_NAME = t.TABLE_NAME AND c.COLUMN_NAME = ?
          WHERE t.TABLE_SCHEMA = COALESCE(?, DATABASE()) AND t.TABLE_NAME = ?`,
        [request.column, request.column, schema ?? null, table],
      );
      const row = (info as { rows: number | null; bytes: number | null; type: string; indexed: number }[])[0];
      const indexed = Number(row?.indexed ?? 0) === 1;
      const base = {
        zoneless: (row?.type ?? '').toLowerCase() === 'datetime',
        chunkIndex: { present: indexed, statement: `ALTER TABLE ${quoteMysqlTable(input.table)} ADD INDEX (${col});`, table: input.table },
        bytes: { value: Number(row?.bytes ?? 0), source: 'information_schema.TABLES data_length + index_length' },
        ...extra,
      };
      // Without an index EXPLAIN can only say "the whole table" for every range: count instead.
      if (request.exact || !indexed) {
        return { ...(await exactCounts(conn, input, request, request.exact ? 'exact count' : 'exact count (no index on the chunk column to estimate from)')), ...base };
      }
      const groups = groupChunks(request.chunks, MAX_EXPLAINS);
      const ranges = [];
      for (const g of groups) {
        const [lo] = input.values(g.first);
        const [, hi] = input.values(g.last);
        const rows = await explainRows(conn, `SELECT ${col} FROM ${input.from} WHERE ${col} >= ? AND ${col} < ?`, [lo, hi]);
        ranges.push({ lo: span(g.first).lo, hi: span(g.last).hi, rows });
      }
      const nulls = await explainRows(conn, `SELECT ${col} FROM ${input.from} WHERE ${col} IS NULL`, []);
      return {
        rows: { value: Number(row?.rows ?? 0), source: 'information_schema.TABLES.table_rows' },
        nullRows: { value: nulls, source: 'EXPLAIN row estimate (index)' },
        spread: { kind: 'ranges', ranges, source: `EXPLAIN row estimates (index ranges, ${groups.length} statements)` },
        ...base,
      };
    });
  } catch (err) {
    throw mysqlError(err, `profiling ${input.table ?? 'the source query'}`, input.db);
  }
}

function span(chunk: Chunk): { lo: number; hi: number } {
  return chunk.kind === 'time' ? { lo: Date.parse(chunk.lo), hi: Date.parse(chunk.hi) } : { lo: Number(chunk.lo), hi: Number(chunk.hi) };
}

function groupChunks(chunks: readonly Chunk[], most: number): { first: Chunk; last: Chunk }[] {
  const per = Math.max(1, Math.ceil(chunks.length / most));
  const out: { first: Chunk; last: Chunk }[] = [];
  for (let i = 0; i < chunks.length; i += per) out.push({ first: chunks[i] as Chunk, last: chunks[Math.min(chunks.length, i + per) - 1] as Chunk });
  return out;
}

async function explainRows(conn: mysql.PoolConnection, sql: string, values: readonly unknown[]): Promise<number> {
  const [rows] = await conn.query(`EXPLAIN ${sql}`, [...values] as (string | number | bigint | null)[]);
  const first = (rows as { rows?: number | string | null }[])[0];
  return Number(first?.rows ?? 0);
}

/** Rows of every chunk, NULLs and all rows in ONE grouped query: a CASE over the chunks' bounds, values parameterised. */
async function exactCounts(conn: mysql.PoolConnection, input: MysqlProfileInput, request: ProfileRequest, source: string): Promise<SourceProfile> {
  const col = quoteMysqlIdent(request.column);
  const values: unknown[] = [];
  const whens = request.chunks.map((c, i) => {
    const [lo, hi] = input.values(c);
    values.push(lo, hi);
    return `WHEN ${col} >= ? AND ${col} < ? THEN ${i}`;
  });
  const bucket = whens.length === 0 ? 'NULL' : `CASE ${whens.join(' ')} END`;
  const [rows] = await conn.query(`SELECT ${bucket} AS b, COUNT(*) AS n, SUM(${col} IS NULL) AS nulls FROM ${input.from} GROUP BY b`, values);
  const counts = request.chunks.map(() => 0);
  let total = 0;
  let nulls = 0;
  for (const r of rows as { b: number | null; n: number | string; nulls: number | string | null }[]) {
    total += Number(r.n);
    nulls += Number(r.nulls ?? 0);
    if (r.b !== null) counts[Number(r.b)] = Number(r.n);
  }
  return { rows: { value: total, source }, nullRows: { value: nulls, source }, spread: { kind: 'counts', counts, source } };
}

/** Keys that occur more than once: ONE grouped query. */
async function duplicateKeys(conn: mysql.PoolConnection, from: string, key: readonly string[]): Promise<DuplicateKeys> {
  const cols = key.map(quoteMysqlIdent).join(', ');
  const [rows] = await conn.query(
    `SELECT CONCAT_WS(', ', ${cols}) AS k, COUNT(*) AS n FROM ${from} GROUP BY ${cols} HAVING COUNT(*) > 1 ORDER BY n DESC LIMIT 5`,
  );
  const [total] = await conn.query(`SELECT COUNT(*) AS d FROM (SELECT 1 FROM ${from} GROUP BY ${cols} HAVING COUNT(*) > 1) AS dup`);
  const examples = (rows as { k: string; n: number | string }[]).map((r) => ({ key: String(r.k), rows: Number(r.n) }));
  return { keys: Number((total as { d: number | string }[])[0]?.d ?? 0), examples, source: 'exact count (GROUP BY key)' };
}
