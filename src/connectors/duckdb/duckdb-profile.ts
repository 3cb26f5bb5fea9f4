// `backfill profile` for a DuckDB source: rows from DuckDB's table statistics and the database file's size; rows per chunk come from one grouped scan of the column.

import { statSync } from 'node:fs';
import { quoteLiteral } from '../../core/sql-text.js';
import type { ProfileRequest, SourceProfile } from '../source-profile.js';

export interface DuckdbProfileInput {
  readonly database: string;
  readonly alias: string;
  readonly table: string | undefined;
}

export async function profileDuckdb(input: DuckdbProfileInput, request: ProfileRequest): Promise<SourceProfile> {
  const zoneless = request.kind === 'time' && /^TIMESTAMP(_S|_MS|_NS)?$/i.test(request.columnType);
  let bytes: SourceProfile['bytes'];
  try {
    bytes = { value: statSync(input.database).size, source: 'database file size' };
  } catch {
    bytes = undefined;
  }
  if (input.table === undefined) return { zoneless, ...(bytes === undefined ? {} : { bytes }) };
  const [schema, table] = input.table.includes('.') ? (input.table.split('.', 2) as [string, string]) : ['main', input.table];
  const [row] = await request.conn.all<{ n: string | null }>(
    `SELECT estimated_size::BIGINT AS n FROM duckdb_tables() WHERE database_name = ${quoteLiteral(input.alias)} AND schema_name = ${quoteLiteral(schema)} AND table_name = ${quoteLiteral(table)}`,
  );
  const rows = row?.n === null || row?.n === undefined ? undefined : { value: Number(row.n), source: 'duckdb_tables().estimated_size' };
  // Zone maps prune each chunk's range scan, so a DuckDB table needs no index on the chunk column.
  return { zoneless, ...(bytes === undefined ? {} : { bytes }), ...(rows === undefined ? {} : { rows }) };
}
