// Connection pools for MySQL / MariaDB sources and targets: UTC sessions, TLS, quoting, errors without secrets, chunk bounds as driver values.

import { DateTime } from 'luxon';
import mysql from 'mysql2/promise';
import { rangeValues, type Chunk } from '../../core/chunk.js';
import { AbortedError, ConnectorError, PlanError, redactSecrets, SourceDataError } from '../../core/errors.js';
import { connectionFields, describeConnection, explicitTls, type ConnectionConfig, type ConnectionFields, type TlsConfig } from '../connection-config.js';

export const MYSQL_PORT = 3306;

export interface MysqlPool {
  readonly pool: mysql.Pool;
  readonly fields: ConnectionFields;
  /** `user@host:port/db`, for messages. */
  readonly name: string;
  /** Borrow a connection whose session is set up (UTC, …); give it back with `release` or `destroy`. */
  acquire(): Promise<mysql.PoolConnection>;
  /** Stop the statement running on a connection we gave up on, from a connection of its own. */
  kill(threadId: number): void;
  /** Wait for pending kills, then close every connection. */
  end(): Promise<void>;
}

/** Where and as whom a connection of ours connects: plain data (it also crosses to the latency probe's thread). */
export function mysqlConnectionOptions(connection: ConnectionConfig, ssl: TlsConfig | undefined): mysql.ConnectionOptions {
  const fields = connectionFields(connection);
  return {
    host: fields.host,
    port: fields.port ?? MYSQL_PORT,
    user: fields.user ?? 'root',
    password: fields.password,
    database: fields.database,
    ssl: tlsOptions(ssl, fields),
  };
}

export function createMysqlPool(
  connection: ConnectionConfig,
  ssl: TlsConfig | undefined,
  max: number,
  options: { readonly foundRows: boolean; readonly session: readonly string[] },
): MysqlPool {
  const fields = connectionFields(connection);
  const base = mysqlConnectionOptions(connection, ssl);
  const pool = mysql.createPool({
    ...base,
    connectionLimit: max,
    maxIdle: max,
    charset: 'utf8mb4_general_ci',
    // Values travel as the server's text: exact decimals, big integers and microseconds.
    supportBigNumbers: true,
    bigNumberStrings: true,
    dateStrings: true,
    decimalNumbers: false,
    multipleStatements: false,
    // Without FOUND_ROWS, INSERT … ON DUPLICATE KEY UPDATE reports 0 for rows set to their own values.
    flags: options.foundRows ? [] : ['-FOUND_ROWS'],
  });
  // An idle connection's error (server restart) must not crash the process; the next query reports it.
  pool.on('connection', (c) => (c as unknown as { on(e: string, f: () => void): void }).on('error', () => {}));
  const ready = new WeakSet<object>();
  const kills = new Set<Promise<void>>();
  const session = ["SET time_zone = '+00:00'", ...options.session];
  return {
    pool,
    fields,
    name: describeConnection(fields, MYSQL_PORT),
    async acquire() {
      const conn = await pool.getConnection();
      if (!ready.has(conn.connection)) {
        try {
          for (const sql of session) await conn.query(sql);
        } catch (err) {
          conn.destroy();
          throw err;
        }
        ready.add(conn.connection);
      }
      return conn;
    },
    kill(threadId) {
      // Not from the pool: its slots may all be busy, and it may be closing.
      const killing = (async () => {
        const conn = await mysql.createConnection({ ...base, connectTimeout: 10_000 });
        try {
          await conn.query('KILL QUERY ?', [threadId]);
        } finally {
          await conn.end();
        }
      })().catch(() => {});
      kills.add(killing);
      void killing.finally(() => kills.delete(killing));
    },
    async end() {
      await Promise.allSettled([...kills]);
      await pool.end();
    },
  };
}

function tlsOptions(ssl: TlsConfig | undefined, fields: ConnectionFields): mysql.PoolOptions['ssl'] {
  const mode = (fields.params['ssl-mode'] ?? fields.params['sslmode'] ?? fields.params['ssl'])?.toLowerCase();
  if (ssl === undefined) {
    if (mode === undefined || mode === 'disabled' || mode === 'false' || mode === 'preferred') return undefined;
    return { rejectUnauthorized: mode === 'verify_identity' || mode === 'verify_ca' || mode === 'true' };
  }
  if (ssl === false) return undefined;
  return explicitTls(ssl);
}

/** `name` → `` `name` ``, backticks doubled. */
export function quoteMysqlIdent(name: string): string {
  return `\`${name.replace(/`/g, '``')}\``;
}

/** `db.table` → `` `db`.`table` ``; a name without a dot stays one identifier. */
export function quoteMysqlTable(name: string): string {
  const dot = name.indexOf('.');
  if (dot <= 0 || dot === name.length - 1) return quoteMysqlIdent(name);
  return `${quoteMysqlIdent(name.slice(0, dot))}.${quoteMysqlIdent(name.slice(dot + 1))}`;
}

/** `{ schema, table }` of a `table` or `db.table` name; schema undefined means the connection's database. */
export function splitMysqlTable(name: string): { schema: string | undefined; table: string } {
  const dot = name.indexOf('.');
  if (dot <= 0 || dot === name.length - 1) return { schema: undefined, table: name };
  return { schema: name.slice(0, dot), table: name.slice(dot + 1) };
}

/** Deadlocks, lock wait timeouts, lost connections, too many connections: another attempt may succeed. */
const RETRYABLE_ERRNOS = new Set([1205, 1213, 1040, 1053, 2006, 2013]);
const RETRYABLE_CODES = /^(ECONNRESET|ECONNREFUSED|ETIMEDOUT|EPIPE|PROTOCOL_CONNECTION_LOST|PROTOCOL_SEQUENCE_TIMEOUT)$/;

export function mysqlError(err: unknown, what: string, db: MysqlPool): Error {
  if (err instanceof AbortedError || err instanceof PlanError) return err;
  // A chunk's rows refused past maxRejects are the data's fault, not the server's.
  if (err instanceof ConnectorError || err instanceof SourceDataError) return err;
  const e = err as { message?: string; code?: string; errno?: number };
  const retryable = (e.errno !== undefined && RETRYABLE_ERRNOS.has(e.errno)) || (e.code !== undefined && RETRYABLE_CODES.test(e.code));
  let message = `${what} on MySQL ${db.name}: ${e.message ?? String(err)}`;
  const password = db.fields.password;
  if (password !== undefined && password.length > 0) message = message.split(password).join('***');
  return new ConnectorError(redactSecrets(message), { cause: scrub(err, password), retryable });
}

/** A driver error without the password anywhere in the texts it carries (sql, message). */
function scrub(err: unknown, password: string | undefined): unknown {
  if (password === undefined || password.length === 0 || !(err instanceof Error)) return err;
  const hide = (s: string): string => s.split(password).join('***');
  const copy = new Error(hide(err.message));
  for (const [k, v] of Object.entries(err)) (copy as unknown as Record<string, unknown>)[k] = typeof v === 'string' ? hide(v) : v;
  return copy;
}

/**
 * Run `work` on a borrowed connection; an abort destroys the connection (the server rolls back and
 * stops sending), a failure destroys it too so no half-read result or open transaction returns to the pool.
 */
export async function withConnection<T>(db: MysqlPool, signal: AbortSignal | undefined, work: (conn: mysql.PoolConnection) => Promise<T>): Promise<T> {
  if (isAborted(signal)) throw new AbortedError(abortReason(signal as AbortSignal));
  const conn = await db.acquire();
  let broken = false;
  let destroyed = false;
  const destroy = (): void => {
    if (destroyed) return;
    destroyed = true;
    conn.destroy();
  };
  const onAbort = (): void => {
    broken = true;
    if (destroyed) return;
    const threadId = conn.threadId;
    destroy();
    // A closed socket stops a streaming query at its next write, but not a long sort or a lock wait.
    db.kill(threadId);
  };
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    if (isAborted(signal)) onAbort();
    return await work(conn);
  } catch (err) {
    broken = true;
    if (isAborted(signal)) throw new AbortedError(abortReason(signal as AbortSignal), { cause: err });
    throw err;
  } finally {
    signal?.removeEventListener('abort', onAbort);
    if (broken) destroy();
    else conn.release();
  }
}

function isAborted(signal: AbortSignal | undefined): boolean {
  return signal !== undefined && signal.aborted;
}

function abortReason(signal: AbortSignal): string {
  const reason: unknown = signal.reason;
  return reason instanceof Error ? reason.message : typeof reason === 'string' ? reason : 'aborted';
}

/**
 * A chunk's bounds as MySQL takes them (kept as JSON in range backups): `integer` bounds are
 * written as digits (a string parameter would compare as a double past 2^53), `decimal` ones cast
 * from text, `value` ones are parameters compared in the column's own collation.
 */
export interface MysqlBounds {
  /** One value, or one per column of a tuple. */
  readonly lo?: string | readonly string[] | undefined;
  readonly hi?: string | readonly string[] | undefined;
  /** (lo, hi] as range chunks; [lo, hi) otherwise. */
  readonly holdsHi?: boolean | undefined;
  /** How each value is written (one per tuple column). */
  readonly as: MysqlValue | readonly MysqlValue[];
}

type MysqlValue = 'integer' | 'decimal' | 'value';

/**
 * The chunk's bounds for a MySQL column: integers for keys, local dates (in the job's zone) for
 * DATE, `YYYY-MM-DD HH:MM:SS.ffffff` UTC for DATETIME / TIMESTAMP (UTC sessions), the data's own
 * values for range chunks, none for the one chunk of a job without chunk column.
 */
export function mysqlBounds(chunk: Chunk, duckTypes: string | readonly string[], timezone: string): MysqlBounds {
  const types = typeof duckTypes === 'string' ? [duckTypes] : duckTypes;
  const duckType = types[0] ?? '';
  if (chunk.kind === 'all') return { as: 'value' };
  if (chunk.kind === 'key') return { lo: chunk.lo, hi: chunk.hi, as: 'integer' };
  if (chunk.kind === 'range') {
    const as = (t: string): MysqlValue => (/^(DECIMAL|NUMERIC)/i.test(t) ? 'decimal' : /^(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT|U?(TINY|SMALL|BIG|HUGE)?INT\w*)$/i.test(t) ? 'integer' : 'value');
    const values = (text: string): string | string[] | undefined => {
      const v = rangeValues(text);
      if (v !== undefined && v.length !== types.length) throw new PlanError(`chunk ${chunk.key}: a bound of ${v.length} values for ${types.length} chunk column(s)`);
      return v === undefined ? undefined : v.length === 1 ? String(v[0]) : v.map(String);
    };
    return { lo: values(chunk.lo), hi: values(chunk.hi), holdsHi: true, as: types.length === 1 ? as(duckType) : types.map(as) };
  }
  if (duckType.toUpperCase() === 'DATE') {
    const local = (iso: string): string => DateTime.fromISO(iso, { zone: timezone }).toISODate() as string;
    return { lo: local(chunk.lo), hi: local(chunk.hi), as: 'value' };
  }
  return { lo: mysqlDatetime(chunk.lo), hi: mysqlDatetime(chunk.hi), as: 'value' };
}

/** The condition selecting a chunk's rows in MySQL, for a quoted column, with its parameter values. */
export function mysqlCondition(col: string, b: MysqlBounds): { where: string; values: unknown[] } {
  const parts: string[] = [];
  const values: unknown[] = [];
  const one = (v: string, as: MysqlValue): string => {
    if (as === 'integer') {
      if (!/^-?\d+$/.test(v)) throw new ConnectorError(`chunk bound ${v} is not an integer key`);
      return v;
    }
    values.push(v);
    return as === 'decimal' ? 'CAST(? AS DECIMAL(65,30))' : '?';
  };
  const bound = (v: string | readonly string[]): string =>
    typeof v === 'string' ? one(v, typeof b.as === 'string' ? b.as : (b.as[0] ?? 'value')) : `(${v.map((x, i) => one(x, typeof b.as === 'string' ? b.as : (b.as[i] ?? 'value'))).join(', ')})`;
  if (b.lo !== undefined) parts.push(`${col} ${b.holdsHi === true ? '>' : '>='} ${bound(b.lo)}`);
  if (b.hi !== undefined) parts.push(`${col} ${b.holdsHi === true ? '<=' : '<'} ${bound(b.hi)}`);
  return { where: parts.length === 0 ? 'TRUE' : parts.join(' AND '), values };
}

function mysqlDatetime(iso: string): string {
  // `2024-01-01T00:00:00.123Z` → `2024-01-01 00:00:00.123000`
  return `${new Date(iso).toISOString().slice(0, 23).replace('T', ' ')}000`;
}
