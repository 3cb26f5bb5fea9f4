// `backfill init` on a PostgreSQL table: columns, primary key, indexed columns, and the row count
// and ranges from what is cheap (pg_class.reltuples, min/max served by an index).

import { UsageError } from '../../core/errors.js';
import { quoteIdent, quoteQualified } from '../../core/sql-text.js';
import { connectionBlock } from '../connection-block.js';
import type { InitRequest, InspectedColumn, SourceInspection } from '../descriptor.js';
import { createPool, pgError } from './postgres-pool.js';

/** How long a count(*) may take on a table PostgreSQL has no statistics for yet. */
const COUNT_TIMEOUT = '10s';

export async function inspectPostgres(request: InitRequest): Promise<SourceInspection> {
  const table = request.table;
  if (table === undefined) throw new UsageError('--table is required with a PostgreSQL source: which table (or schema.table) to read');
  const { connection, host, port, database } = connectionBlock(request.text, request.secret);
  const db = createPool(request.text, undefined, 1, 'init');
  const from = quoteQualified(table);
  try {
    const found = await db.pool.query<{ oid: number | null }>('SELECT to_regclass($1)::oid AS oid', [from]);
    const oid = found.rows[0]?.oid ?? null;
    if (oid === null) throw new UsageError(`--table: no table ${table} in PostgreSQL ${db.name}`);
    const cols = await db.pool.query<{ name: string; type: string }>(
      `SELECT attname AS name, format_type(atttypid, atttypmod) AS type FROM pg_attribute
        WHERE attrelid = $1 AND attnum > 0 AND NOT attisdropped ORDER BY attnum`,
      [oid],
    );
    const leading = await db.pool.query<{ name: string }>(
      `SELECT a.attname AS name FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
        WHERE i.indrelid = $1 AND i.indpred IS NULL`,
      [oid],
    );
    const pk = await db.pool.query<{ name: string }>(
      `SELECT a.attname AS name FROM pg_index i CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
         JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
        WHERE i.indrelid = $1 AND i.indisprimary ORDER BY k.ord`,
      [oid],
    );
    const stats = await db.pool.query<{ reltuples: number }>('SELECT reltuples::float8 AS reltuples FROM pg_class WHERE oid = $1', [oid]);
    const reltuples = stats.rows[0]?.reltuples ?? -1;
    // -1: never vacuumed or analyzed; counting is then the only way, bounded so a huge table cannot hold init up.
    const rows = reltuples >= 0 ? Math.round(reltuples) : await boundedCount(db.pool, from);
    const indexed = new Set(leading.rows.map((r) => r.name));
    const columns: InspectedColumn[] = cols.rows.map((c) => ({ name: c.name, type: c.type, kind: kindOf(c.type), indexed: indexed.has(c.name) }));
    return {
      block: { type: 'postgres', connection, table },
      name: table.split('.').pop() ?? table,
      description: `PostgreSQL table ${table} on ${host}:${port ?? 5432}/${database}`,
      columns,
      primaryKey: pk.rows.map((r) => r.name),
      hasIndexes: true,
      rows,
      rowsFrom: reltuples >= 0 ? 'pg_class.reltuples' : rows === undefined ? `unknown: never analyzed, and count(*) took over ${COUNT_TIMEOUT}` : 'count(*), the table was never analyzed',
      range: async (column) => {
        const col = quoteIdent(column.name);
        const value = (c: string): string => (column.kind === 'time' ? `(extract(epoch FROM ${c}) * 1000)::float8` : `${c}::float8`);
        try {
          const r = await db.pool.query<{ min: number | null; max: number | null }>(`SELECT ${value(`min(${col})`)} AS min, ${value(`max(${col})`)} AS max FROM ${from}`);
          const row = r.rows[0];
          return row === undefined || row.min === null || row.max === null ? undefined : { min: row.min, max: row.max };
        } catch (err) {
          throw pgError(err, `reading the range of ${column.name}`, db);
        }
      },
      close: () => db.pool.end(),
    };
  } catch (err) {
    await db.pool.end();
    throw err instanceof UsageError ? err : pgError(err, `inspecting ${table}`, db);
  }
}

async function boundedCount(pool: ReturnType<typeof createPool>['pool'], from: string): Promise<number | undefined> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN READ ONLY');
    await client.query(`SET LOCAL statement_timeout = '${COUNT_TIMEOUT}'`);
    const r = await client.query<{ n: string }>(`SELECT count(*) AS n FROM ${from}`);
    return Number(r.rows[0]?.n ?? 0);
  } catch {
    return undefined;
  } finally {
    await client.query('ROLLBACK').catch(() => undefined);
    client.release();
  }
}

function kindOf(type: string): InspectedColumn['kind'] {
  if (type.startsWith('timestamp') || type === 'date') return 'time';
  if (type === 'smallint' || type === 'integer' || type === 'bigint') return 'integer';
  return 'other';
}
