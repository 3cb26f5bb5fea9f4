// `backfill init` on a MySQL / MariaDB table: columns, primary key and indexed columns from
// information_schema, the row estimate from information_schema.tables, ranges served by an index.

import { UsageError } from '../../core/errors.js';
import { connectionBlock } from '../connection-block.js';
import type { InitRequest, InspectedColumn, SourceInspection } from '../descriptor.js';
import { createMysqlPool, MYSQL_PORT, mysqlError, quoteMysqlIdent, quoteMysqlTable, splitMysqlTable, withConnection } from './mysql-pool.js';

export async function inspectMysql(request: InitRequest): Promise<SourceInspection> {
  const table = request.table;
  if (table === undefined) throw new UsageError('--table is required with a MySQL source: which table (or database.table) to read');
  const { connection, host, port, database } = connectionBlock(request.text, request.secret);
  const db = createMysqlPool(request.text, undefined, 1, { foundRows: true, session: [] });
  const { schema, table: name } = splitMysqlTable(table);
  const query = <T>(sql: string, values: unknown[] = []): Promise<T[]> =>
    withConnection(db, undefined, async (conn) => (await conn.query(sql, values))[0] as T[]);
  try {
    const where = 'table_schema = ? AND table_name = ?';
    const at = [schema ?? database, name];
    const cols = await query<{ name: string; type: string; dataType: string }>(
      `SELECT column_name AS name, column_type AS type, data_type AS dataType FROM information_schema.columns WHERE ${where} ORDER BY ordinal_position`,
      at,
    );
    if (cols.length === 0) throw new UsageError(`--table: no table ${table} in MySQL ${db.name}`);
    const leading = await query<{ name: string }>(`SELECT column_name AS name FROM information_schema.statistics WHERE ${where} AND seq_in_index = 1`, at);
    const pk = await query<{ name: string }>(
      `SELECT column_name AS name FROM information_schema.statistics WHERE ${where} AND index_name = 'PRIMARY' ORDER BY seq_in_index`,
      at,
    );
    const stats = await query<{ n: string | null }>(`SELECT table_rows AS n FROM information_schema.tables WHERE ${where}`, at);
    const estimate = stats[0]?.n;
    const indexed = new Set(leading.map((r) => r.name));
    const from = quoteMysqlTable(table);
    return {
      block: { type: 'mysql', connection, table },
      name,
      description: `MySQL table ${table} on ${host}:${port ?? MYSQL_PORT}/${database}`,
      columns: cols.map((c) => ({ name: c.name, type: c.type, kind: kindOf(c.dataType), indexed: indexed.has(c.name) })),
      primaryKey: pk.map((r) => r.name),
      hasIndexes: true,
      rows: estimate === null || estimate === undefined ? undefined : Number(estimate),
      rowsFrom: 'information_schema.tables, an estimate',
      range: async (column) => {
        const col = quoteMysqlIdent(column.name);
        const value = (c: string): string => (column.kind === 'time' ? `UNIX_TIMESTAMP(${c}) * 1000` : c);
        try {
          const r = await query<{ min: string | null; max: string | null }>(`SELECT ${value(`MIN(${col})`)} AS min, ${value(`MAX(${col})`)} AS max FROM ${from}`);
          const row = r[0];
          return row === undefined || row.min === null || row.max === null ? undefined : { min: Number(row.min), max: Number(row.max) };
        } catch (err) {
          throw mysqlError(err, `reading the range of ${column.name}`, db);
        }
      },
      close: () => db.end(),
    };
  } catch (err) {
    await db.end();
    throw err instanceof UsageError ? err : mysqlError(err, `inspecting ${table}`, db);
  }
}

function kindOf(dataType: string): InspectedColumn['kind'] {
  const t = dataType.toLowerCase();
  if (t === 'datetime' || t === 'timestamp' || t === 'date') return 'time';
  if (['tinyint', 'smallint', 'mediumint', 'int', 'integer', 'bigint'].includes(t)) return 'integer';
  return 'other';
}
