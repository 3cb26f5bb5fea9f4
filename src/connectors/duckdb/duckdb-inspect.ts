// `backfill init` on a table of a DuckDB file (attached read-only), and the DuckDB target block;
// also the type kinds and range query the files' inspection shares.

import { basename, resolve } from 'node:path';
import { UsageError } from '../../core/errors.js';
import { quoteIdent, quoteLiteral, quoteQualified } from '../../core/sql-text.js';
import type { DuckConn } from '../../runtime/duckdb-session.js';
import type { InitRequest, InspectedColumn, InspectedRange, SourceInspection, TargetDraft } from '../descriptor.js';

const ALIAS = 'backfill_init';

export function claimsDuckdb(text: string): boolean {
  return !/:\/\//.test(text) && /\.(duckdb|ddb)$/i.test(text);
}

/** Which chunking a DuckDB type allows. */
export function duckKind(type: string): InspectedColumn['kind'] {
  const t = type.toUpperCase();
  if (t === 'DATE' || t.startsWith('TIMESTAMP') || t === 'DATETIME') return 'time';
  if (/^(U?TINYINT|U?SMALLINT|U?INTEGER|U?BIGINT|U?HUGEINT)$/.test(t)) return 'integer';
  return 'other';
}

/** min/max of a column of `relation` (epoch ms for time), and the rows when `count` asks to count them in the same scan. */
export async function duckRange(conn: DuckConn, relation: string, column: InspectedColumn, count: boolean): Promise<InspectedRange | undefined> {
  const col = quoteIdent(column.name);
  const value = (c: string): string => (column.kind === 'time' ? `epoch_ms(${c}::TIMESTAMP)::DOUBLE` : `${c}::DOUBLE`);
  const rows = await conn.all<{ min: number | null; max: number | null; n: string | null }>(
    `SELECT ${value(`min(${col})`)} AS min, ${value(`max(${col})`)} AS max, ${count ? 'count(*)' : 'NULL'} AS n FROM ${relation}`,
  );
  const r = rows[0];
  if (r === undefined || r.min === null || r.max === null) return undefined;
  return { min: Number(r.min), max: Number(r.max), rows: r.n === null ? undefined : Number(r.n) };
}

export async function inspectDuckdb(request: InitRequest): Promise<SourceInspection> {
  const database = resolve(request.text);
  const { DuckSession } = await import('../../runtime/duckdb-session.js');
  const session = await DuckSession.create({ threads: 1 });
  const conn = await session.connect();
  const close = async (): Promise<void> => {
    conn.close();
    session.close();
  };
  try {
    await conn.attach(database, ALIAS, true);
    const tables = await conn.all<{ schema: string; name: string; rows: string | null }>(
      `SELECT schema_name AS schema, table_name AS name, estimated_size AS rows FROM duckdb_tables() WHERE database_name = ${quoteLiteral(ALIAS)}`,
    );
    const wanted = request.table;
    const qualified = (t: { schema: string; name: string }): string => (t.schema === 'main' ? t.name : `${t.schema}.${t.name}`);
    const table = tables.find((t) => wanted !== undefined && (qualified(t) === wanted || `${t.schema}.${t.name}` === wanted));
    if (table === undefined) {
      const names = tables.map(qualified).join(', ') || 'no tables';
      throw new UsageError(`${wanted === undefined ? '--table is required' : `--table: no table ${wanted}`} in ${request.text} (it holds ${names})`);
    }
    const where = `database_name = ${quoteLiteral(ALIAS)} AND schema_name = ${quoteLiteral(table.schema)} AND table_name = ${quoteLiteral(table.name)}`;
    const cols = await conn.all<{ name: string; type: string }>(`SELECT column_name AS name, data_type AS type FROM duckdb_columns() WHERE ${where} ORDER BY column_index`);
    const pk = await conn.all<{ names: string[] }>(`SELECT constraint_column_names AS names FROM duckdb_constraints() WHERE ${where} AND constraint_type = 'PRIMARY KEY'`);
    const relation = `${quoteIdent(ALIAS)}.${quoteQualified(`${table.schema}.${table.name}`)}`;
    return {
      block: { type: 'duckdb', database, table: qualified(table) },
      name: table.name,
      description: `DuckDB table ${qualified(table)} in ${basename(database)}`,
      // Zone maps (min/max per row group) prune a range on any column, so no index is needed or looked for.
      columns: cols.map((c) => ({ name: c.name, type: c.type, kind: duckKind(c.type), indexed: false })),
      primaryKey: pk[0]?.names ?? [],
      hasIndexes: false,
      rows: table.rows === null ? undefined : Number(table.rows),
      rowsFrom: 'duckdb_tables().estimated_size',
      range: (column) => duckRange(conn, relation, column, false),
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}

/** A table of a DuckDB file named after the source (created on the first run: `create` defaults to true). */
export function draftDuckdbTarget(request: InitRequest): TargetDraft {
  return { type: 'duckdb', database: resolve(request.text), table: request.table ?? 'backfill_target' };
}
