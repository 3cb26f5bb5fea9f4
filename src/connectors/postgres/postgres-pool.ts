// Connection pools for PostgreSQL sources and targets: UTC sessions, TLS, errors without secrets.

import pg from 'pg';
import { ConnectorError, redactSecrets } from '../../core/errors.js';
import { connectionFields, describeConnection, explicitTls, type ConnectionConfig, type ConnectionFields, type TlsConfig } from '../connection-config.js';

export interface PgPool {
  readonly pool: pg.Pool;
  readonly fields: ConnectionFields;
  readonly name: string;
}

/** What a client of ours connects with: plain data (it also crosses to the latency probe's thread). */
export function pgClientOptions(connection: ConnectionConfig, ssl: TlsConfig | undefined, purpose: string): pg.ClientConfig {
  const fields = connectionFields(connection);
  return {
    host: fields.host,
    port: fields.port ?? 5432,
    user: fields.user ?? process.env.PGUSER ?? 'postgres',
    password: fields.password,
    database: fields.database,
    application_name: `backfill-${purpose}`,
    ssl: tlsOptions(ssl, fields),
    // Timestamps travel as text in UTC so naive and zoned values survive unchanged.
    options: '-c TimeZone=UTC -c DateStyle=ISO,YMD -c extra_float_digits=3',
  };
}

export function createPool(connection: ConnectionConfig, ssl: TlsConfig | undefined, max: number, purpose: string): PgPool {
  const fields = connectionFields(connection);
  const pool = new pg.Pool({ ...pgClientOptions(connection, ssl, purpose), max });
  // An idle client's error (server restart) must not crash the process; the next query reports it.
  pool.on('error', () => {});
  // Nor may a checked-out client's (a terminated backend mid-query): pg emits 'error' on the client
  // besides failing its query, and with no listener that crashes the process instead of a retry.
  pool.on('connect', (client) => client.on('error', () => {}));
  return { pool, fields, name: describeConnection(fields, 5432) };
}

function tlsOptions(ssl: TlsConfig | undefined, fields: ConnectionFields): pg.PoolConfig['ssl'] {
  const mode = fields.params.sslmode;
  if (ssl === undefined) {
    if (mode === undefined || mode === 'disable' || mode === 'prefer' || mode === 'allow') return undefined;
    return { rejectUnauthorized: mode === 'verify-full' || mode === 'verify-ca' };
  }
  if (ssl === false) return false;
  return explicitTls(ssl);
}

/** Errors that a reconnect or another attempt may cure: connection loss, serialization failures, deadlocks. */
const RETRYABLE_CODES = new Set(['40001', '40P01', '57P01', '57P02', '57P03', '08000', '08003', '08006', '08001', '53300']);

export function pgError(err: unknown, what: string, pool: PgPool): ConnectorError {
  const e = err as { message?: string; code?: string; detail?: string; where?: string };
  const retryable = (e.code !== undefined && RETRYABLE_CODES.has(e.code)) || /ECONNRESET|ECONNREFUSED|terminat|Connection terminated/i.test(e.message ?? '');
  const detail = e.detail === undefined ? '' : ` (${e.detail})`;
  let message = `${what} on PostgreSQL ${pool.name}: ${e.message ?? String(err)}${detail}`;
  if (pool.fields.password !== undefined && pool.fields.password !== '') message = message.split(pool.fields.password).join('***');
  return new ConnectorError(redactSecrets(message), { cause: err, retryable });
}

/** DuckDB type for a PostgreSQL type as `format_type` prints it. */
export function duckTypeOf(pgType: string): string {
  const t = pgType.toLowerCase();
  if (t === 'smallint') return 'SMALLINT';
  if (t === 'integer') return 'INTEGER';
  if (t === 'bigint') return 'BIGINT';
  if (t === 'real') return 'FLOAT';
  if (t === 'double precision') return 'DOUBLE';
  if (t === 'boolean') return 'BOOLEAN';
  if (t === 'date') return 'DATE';
  if (t.startsWith('timestamp') && t.includes('with time zone')) return 'TIMESTAMPTZ';
  if (t.startsWith('timestamp')) return 'TIMESTAMP';
  if (t === 'uuid') return 'UUID';
  if (t === 'json' || t === 'jsonb') return 'JSON';
  if (t === 'bytea') return 'BLOB';
  const numeric = /^numeric\((\d+),(\d+)\)$/.exec(t);
  if (numeric !== null && Number(numeric[1]) <= 38) return `DECIMAL(${numeric[1]},${numeric[2]})`;
  // Unconstrained numeric, arrays, intervals, ranges, …: exact as text.
  return 'VARCHAR';
}

/** PostgreSQL type for a DuckDB type, for `create: true`. */
export function pgTypeOf(duckType: string): string {
  const t = duckType.toUpperCase();
  if (t === 'TINYINT' || t === 'SMALLINT' || t === 'UTINYINT') return 'smallint';
  if (t === 'INTEGER' || t === 'USMALLINT') return 'integer';
  if (t === 'BIGINT' || t === 'UINTEGER') return 'bigint';
  if (t === 'HUGEINT' || t === 'UBIGINT' || t === 'UHUGEINT') return 'numeric(39,0)';
  if (t === 'FLOAT') return 'real';
  if (t === 'DOUBLE') return 'double precision';
  if (t === 'BOOLEAN') return 'boolean';
  if (t === 'DATE') return 'date';
  if (t === 'TIMESTAMP WITH TIME ZONE' || t === 'TIMESTAMPTZ') return 'timestamptz';
  if (t.startsWith('TIMESTAMP')) return 'timestamp';
  if (t === 'TIME') return 'time';
  if (t === 'UUID') return 'uuid';
  if (t === 'JSON') return 'jsonb';
  if (t === 'BLOB') return 'bytea';
  if (t === 'INTERVAL') return 'interval';
  const decimal = /^DECIMAL\((\d+),\s*(\d+)\)$/.exec(t);
  if (decimal !== null) return `numeric(${decimal[1]},${decimal[2]})`;
  return 'text';
}

/**
 * A text column compared byte by byte, whatever the table's or database's collation: range chunks
 * on text are cut in byte order (collated sources are refused for replace and verify), so a
 * target finds a chunk's rows by the same order. (An index in another collation cannot serve it.)
 */
export const PG_BYTES = (expr: string): string => `${expr} COLLATE "C"`;
