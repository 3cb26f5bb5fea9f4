// A MySQL / MariaDB table or query as a source: each chunk streams out of an index-served query into a local CSV.

import { createWriteStream, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { DateTime } from 'luxon';
import type { Connection as CoreConnection } from 'mysql2';
import mysql from 'mysql2/promise';
import type { Chunk } from '../../core/chunk.js';
import { AbortedError, ConnectorError, PlanError, redactSecrets, SourceDataError } from '../../core/errors.js';
import type { SourceBounds } from '../../core/planner.js';
import { quoteIdent, quoteLiteral } from '../../core/sql-text.js';
import type { Job } from '../../job/job.js';
import { connectionFields, describeConnection, explicitTls, type ConnectionConfig, type ConnectionFields, type TlsConfig } from '../connection-config.js';
import type { ChunkRead, ColumnInfo, OpenedChunk, Source, SourceCapabilities } from '../connector.js';
import type { DuckConn } from '../../runtime/duckdb-session.js';
import { emptyRelation } from '../../runtime/duckdb-sql.js';
import { processAlive } from '../../runtime/process-liveness.js';
import type { MysqlSourceConfig } from './mysql-config.js';

export const MYSQL_PORT = 3306;

// ---------------------------------------------------------------------------------------------
// Shared with the target: pools with UTC sessions, quoting, errors without secrets, chunk bounds.
// ---------------------------------------------------------------------------------------------

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

export function createMysqlPool(
  connection: ConnectionConfig,
  ssl: TlsConfig | undefined,
  max: number,
  options: { readonly foundRows: boolean; readonly session: readonly string[] },
): MysqlPool {
  const fields = connectionFields(connection);
  const base: mysql.ConnectionOptions = {
    host: fields.host,
    port: fields.port ?? MYSQL_PORT,
    user: fields.user ?? 'root',
    password: fields.password,
    database: fields.database,
    ssl: tlsOptions(ssl, fields),
  };
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
 * The chunk's bounds as parameter values for a MySQL column: integers for keys, local dates (in the
 * job's zone) for DATE, `YYYY-MM-DD HH:MM:SS.ffffff` UTC for DATETIME / TIMESTAMP (UTC sessions).
 */
export function mysqlBounds(chunk: Chunk, duckType: string, timezone: string): [bigint, bigint] | [string, string] {
  if (chunk.kind === 'key') return [BigInt(chunk.lo), BigInt(chunk.hi)];
  if (duckType.toUpperCase() === 'DATE') {
    const local = (iso: string): string => DateTime.fromISO(iso, { zone: timezone }).toISODate() as string;
    return [local(chunk.lo), local(chunk.hi)];
  }
  return [mysqlDatetime(chunk.lo), mysqlDatetime(chunk.hi)];
}

function mysqlDatetime(iso: string): string {
  // `2024-01-01T00:00:00.123Z` → `2024-01-01 00:00:00.123000`
  return `${new Date(iso).toISOString().slice(0, 23).replace('T', ' ')}000`;
}

// ---------------------------------------------------------------------------------------------
// The source.
// ---------------------------------------------------------------------------------------------

/** How a value's text goes into the chunk's CSV file. */
type Encoding = 'raw' | 'text' | 'base64' | 'bool' | 'temporal' | 'bit';

interface SourceColumn extends ColumnInfo {
  readonly encoding: Encoding;
}

/** mysql2's column metadata (the fields of a result). */
interface FieldInfo {
  readonly name: string;
  readonly columnType: number;
  readonly characterSet: number;
  readonly columnLength: number;
  readonly decimals: number;
  readonly flags: number;
  readonly extendedFormat?: string;
}

const UNSIGNED_FLAG = 32;
const BINARY_CHARSET = 63;
const FETCH_DIR = 'fetch';

export class MysqlSource implements Source {
  readonly capabilities: SourceCapabilities = { prunes: true, cheapBounds: false, copyText: false };
  private db: MysqlPool | undefined;
  private columns: SourceColumn[] = [];
  private readonly fetchDir: string;

  constructor(
    private readonly config: MysqlSourceConfig,
    private readonly job: Job,
  ) {
    this.fetchDir = join(job.stateDir, FETCH_DIR);
  }

  private get pool(): MysqlPool {
    // Long chunk fetches pause the stream while the file catches up; keep the server from giving up on us.
    this.db ??= createMysqlPool(this.config.connection, this.config.ssl, this.config.maxConcurrentQueries, {
      foundRows: true,
      session: ['SET SESSION net_write_timeout = 600'],
    });
    return this.db;
  }

  /** The source as MySQL SQL after FROM. */
  private get from(): string {
    if (this.config.query !== undefined) return `(${this.config.query.trim().replace(/;\s*$/, '')}) AS backfill_source`;
    return quoteMysqlTable(this.config.table as string);
  }

  async prepare(): Promise<void> {
    this.cleanDeadFetches();
    const db = this.pool;
    try {
      const fields = await withConnection(db, undefined, async (conn) => {
        const [, meta] = await conn.query({ sql: `SELECT * FROM ${this.from} LIMIT 0` });
        return (meta ?? []) as unknown as FieldInfo[];
      });
      this.columns = fields.map((f) => ({ name: f.name, ...duckTypeOf(f) }));
    } catch (err) {
      throw mysqlError(err, `reading the columns of ${this.config.table ?? 'the source query'}`, db);
    }
  }

  async attach(): Promise<void> {}

  fingerprint(): undefined {
    return undefined;
  }

  relation(): string {
    return emptyRelation(this.columns);
  }

  knownBounds(): SourceBounds | undefined {
    return undefined;
  }

  async measureBounds(column: string, kind: 'time' | 'key', columnType: string): Promise<{ min: string | null; max: string | null }> {
    const col = quoteMysqlIdent(column);
    const isDate = columnType.toUpperCase() === 'DATE';
    // Zero dates ('0000-00-00') are MySQL's stand-in for "no date"; they belong to no chunk.
    const where = kind === 'time' ? ` WHERE ${col} >= '0001-01-01'` : '';
    const db = this.pool;
    try {
      // MIN and MAX of an indexed column are answered from the index ends, without a scan.
      const row = await withConnection(db, undefined, async (conn) => {
        const [rows] = await conn.query({ sql: `SELECT MIN(${col}), MAX(${col}) FROM ${this.from}${where}`, rowsAsArray: true, typeCast: false });
        return (rows as (Buffer | null)[][])[0];
      });
      const text = (b: Buffer | null | undefined): string | null => (b === null || b === undefined ? null : b.toString('latin1'));
      const lo = text(row?.[0]);
      const hi = text(row?.[1]);
      if (kind === 'key' || isDate) return { min: lo === null ? null : lo.slice(0, isDate ? 10 : undefined), max: hi === null ? null : hi.slice(0, isDate ? 10 : undefined) };
      const ms = (t: string | null): string | null => (t === null ? null : String(Date.parse(`${t.replace(' ', 'T')}Z`)));
      return { min: ms(lo), max: ms(hi) };
    } catch (err) {
      throw mysqlError(err, `measuring min/max of ${column}`, db);
    }
  }

  async openChunk(read: ChunkRead, _conn: DuckConn, signal: AbortSignal): Promise<OpenedChunk> {
    const column = this.columns.find((c) => c.name === read.column);
    if (column === undefined) throw new PlanError(`chunk.column "${read.column}" is not a column of ${this.describe()}`);
    const timezone = this.job.chunking.kind === 'time' ? this.job.chunking.timezone : 'UTC';
    const col = quoteMysqlIdent(read.column);
    const sql = read.nulls === true ? `SELECT * FROM ${this.from} WHERE ${col} IS NULL` : `SELECT * FROM ${this.from} WHERE ${col} >= ? AND ${col} < ?`;
    const values = read.nulls === true ? [] : mysqlBounds(read.chunk, column.type, timezone);
    return this.fetch(sql, values, async () => {}, `${read.chunk.tag}${read.nulls === true ? '-nulls' : ''}`, `reading chunk ${read.chunk.key}`, signal);
  }

  /**
   * The table's rows (alias `t`) matching a MySQL condition, after `setup` ran on the same
   * connection (a temporary table of keys, say); how a MySQL target reads rows back.
   */
  async openWhere(where: string, setup: (conn: mysql.PoolConnection) => Promise<void>, tag: string, signal: AbortSignal): Promise<OpenedChunk> {
    return this.fetch(`SELECT t.* FROM ${this.from} AS t WHERE ${where}`, [], setup, tag, 'reading rows back', signal);
  }

  private async fetch(
    sql: string, values: unknown[], setup: (conn: mysql.PoolConnection) => Promise<void>, tag: string, what: string, signal: AbortSignal,
  ): Promise<OpenedChunk> {
    mkdirSync(this.fetchDir, { recursive: true });
    const file = join(this.fetchDir, `${process.pid}-${tag}-${Math.random().toString(36).slice(2)}.csv`);
    const db = this.pool;
    const encoder = new CsvEncoder(this.columns.map((c) => c.encoding));
    try {
      await withConnection(db, signal, async (conn) => {
        await setup(conn);
        // typeCast false: every value arrives as the server's bytes, which go to the file without decoding.
        // (mysql2 types `connection` as the promise wrapper; it is the callback connection that streams.)
        const core = conn.connection as unknown as CoreConnection;
        const rows = core.query({ sql, values, rowsAsArray: true, typeCast: false }).stream({ highWaterMark: 256 });
        // An error after the pipeline settled (a destroyed connection) must not go unhandled.
        rows.on('error', () => {});
        await pipeline(rows, encoder, createWriteStream(file), { signal });
      });
    } catch (err) {
      rmSync(file, { force: true });
      throw mysqlError(err, what, db);
    }
    return { relation: this.csvRelation(file, encoder.longestLine), close: async () => rmSync(file, { force: true }) };
  }

  describe(): string {
    const fields = this.db?.fields ?? connectionFields(this.config.connection);
    return `mysql source ${describeConnection(fields, MYSQL_PORT)} (${this.config.table ?? 'query'})`;
  }

  async close(): Promise<void> {
    const db = this.db;
    this.db = undefined;
    await db?.end();
  }

  /**
   * DuckDB sizes its read buffer from max_line_size (16 × it), so a fixed 1 GiB limit reserved
   * 16 GiB per chunk read and concurrent chunks ran out of memory: pass the file's real longest line.
   */
  private csvRelation(file: string, longestLine: number): string {
    const maxLine = Math.max(2 * 1024 * 1024, longestLine + 1024);
    const csvType = (c: SourceColumn): string => (c.encoding === 'base64' ? 'VARCHAR' : c.type);
    const columns = `{${this.columns.map((c) => `${quoteLiteral(c.name)}: ${quoteLiteral(csvType(c))}`).join(', ')}}`;
    const csv =
      `read_csv(${quoteLiteral(file)}, header = false, auto_detect = false, allow_quoted_nulls = false, ` +
      `delim = ',', quote = '"', escape = '"', new_line = '\\n', max_line_size = ${maxLine}, columns = ${columns})`;
    const decode = this.columns.filter((c) => c.encoding === 'base64').map((c) => `from_base64(${quoteIdent(c.name)}) AS ${quoteIdent(c.name)}`);
    return decode.length === 0 ? `(SELECT * FROM ${csv})` : `(SELECT * REPLACE (${decode.join(', ')}) FROM ${csv})`;
  }

  /** Fetched files of processes that died before removing them. */
  private cleanDeadFetches(): void {
    let names: string[];
    try {
      names = readdirSync(this.fetchDir);
    } catch {
      return;
    }
    for (const name of names) {
      const pid = Number(name.split('-')[0]);
      if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && !processAlive(pid)) rmSync(join(this.fetchDir, name), { force: true });
    }
  }
}

/** DuckDB type and CSV encoding of a MySQL result column. */
function duckTypeOf(f: FieldInfo): { type: string; encoding: Encoding } {
  const unsigned = (f.flags & UNSIGNED_FLAG) !== 0;
  if (f.extendedFormat === 'json') return { type: 'JSON', encoding: 'text' };
  switch (f.columnType) {
    case 1: // TINYINT
      if (f.columnLength === 1 && !unsigned) return { type: 'BOOLEAN', encoding: 'bool' };
      return { type: unsigned ? 'SMALLINT' : 'TINYINT', encoding: 'raw' };
    case 2: // SMALLINT
      return { type: unsigned ? 'INTEGER' : 'SMALLINT', encoding: 'raw' };
    case 9: // MEDIUMINT
      return { type: 'INTEGER', encoding: 'raw' };
    case 3: // INT
      return { type: unsigned ? 'BIGINT' : 'INTEGER', encoding: 'raw' };
    case 8: // BIGINT
      return { type: unsigned ? 'UBIGINT' : 'BIGINT', encoding: 'raw' };
    case 13: // YEAR
      return { type: 'SMALLINT', encoding: 'raw' };
    case 4:
      return { type: 'FLOAT', encoding: 'raw' };
    case 5:
      return { type: 'DOUBLE', encoding: 'raw' };
    case 0: // DECIMAL
    case 246: {
      // The length counts the digits, the point (when there are decimals) and the sign (when signed).
      const scale = f.decimals;
      const precision = Math.max(1, scale, f.columnLength - (scale > 0 ? 1 : 0) - (unsigned ? 0 : 1));
      return precision <= 38 ? { type: `DECIMAL(${precision},${scale})`, encoding: 'raw' } : { type: 'VARCHAR', encoding: 'text' };
    }
    case 10: // DATE
    case 14:
      return { type: 'DATE', encoding: 'temporal' };
    case 7: // TIMESTAMP (UTC in our sessions)
    case 12: // DATETIME
      return { type: 'TIMESTAMP', encoding: 'temporal' };
    case 16: // BIT(n)
      return { type: 'UBIGINT', encoding: 'bit' };
    case 245: // JSON (MySQL)
      return { type: 'JSON', encoding: 'text' };
    case 255: // GEOMETRY (WKB with SRID)
      return { type: 'BLOB', encoding: 'base64' };
    case 6: // NULL literal
    case 11: // TIME may exceed 24 hours or be negative: kept as text
    case 247: // ENUM
    case 248: // SET
      return { type: 'VARCHAR', encoding: 'text' };
    default:
      // CHAR, VARCHAR, TEXT, BLOB, BINARY: bytes when the character set is binary.
      return f.characterSet === BINARY_CHARSET ? { type: 'BLOB', encoding: 'base64' } : { type: 'VARCHAR', encoding: 'text' };
  }
}

const COMMA = 0x2c;
const QUOTE = 0x22;
const NEWLINE = 0x0a;
const FLUSH_AT = 1 << 20;
const TRUE = Buffer.from('true');
const FALSE = Buffer.from('false');

/**
 * Rows of raw value bytes (mysql2 with typeCast false) → CSV bytes DuckDB reads back typed: NULL is an
 * unquoted empty field, text is always quoted (so an empty string is `""`), numbers and dates go as
 * the server printed them, binary as base64.
 */
class CsvEncoder extends Transform {
  private out = Buffer.allocUnsafe(FLUSH_AT * 2);
  private pos = 0;
  /** Bytes of the longest line written, so the reader is told its real maximum line size. */
  longestLine = 0;

  constructor(private readonly encodings: readonly Encoding[]) {
    super({ writableObjectMode: true, writableHighWaterMark: 256 });
  }

  override _transform(row: (Buffer | null)[], _encoding: BufferEncoding, callback: TransformCallback): void {
    const encodings = this.encodings;
    const start = this.pos;
    for (let i = 0; i < encodings.length; i++) {
      if (i > 0) this.byte(COMMA);
      const value = row[i];
      if (value === null || value === undefined) continue;
      switch (encodings[i]) {
        case 'raw':
          this.bytes(value);
          break;
        case 'text':
          this.quoted(value);
          break;
        case 'temporal':
          // Zero dates ('0000-00-00', '2024-00-00') have no DuckDB value: they read as NULL.
          if (!isZeroDate(value)) this.bytes(value);
          break;
        case 'bool':
          this.bytes(value.length === 1 && value[0] === 0x30 ? FALSE : TRUE);
          break;
        case 'bit':
          this.bytes(Buffer.from(bitValue(value), 'latin1'));
          break;
        case 'base64':
          this.byte(QUOTE);
          this.bytes(Buffer.from(value.toString('base64'), 'latin1'));
          this.byte(QUOTE);
          break;
      }
    }
    this.byte(NEWLINE);
    if (this.pos - start > this.longestLine) this.longestLine = this.pos - start;
    if (this.pos >= FLUSH_AT) this.flushOut();
    callback();
  }

  override _flush(callback: TransformCallback): void {
    this.flushOut();
    callback();
  }

  private flushOut(): void {
    if (this.pos === 0) return;
    this.push(this.out.subarray(0, this.pos));
    this.out = Buffer.allocUnsafe(Math.max(FLUSH_AT * 2, this.out.length));
    this.pos = 0;
  }

  private ensure(n: number): void {
    if (this.pos + n <= this.out.length) return;
    const bigger = Buffer.allocUnsafe(Math.max(this.out.length * 2, this.pos + n));
    this.out.copy(bigger, 0, 0, this.pos);
    this.out = bigger;
  }

  private byte(b: number): void {
    this.ensure(1);
    this.out[this.pos++] = b;
  }

  private bytes(value: Buffer): void {
    this.ensure(value.length);
    this.pos += value.copy(this.out, this.pos);
  }

  private quoted(value: Buffer): void {
    this.ensure(value.length * 2 + 2);
    const out = this.out;
    out[this.pos++] = QUOTE;
    let from = 0;
    for (let at = value.indexOf(QUOTE); at >= 0; at = value.indexOf(QUOTE, from)) {
      this.pos += value.copy(out, this.pos, from, at + 1);
      out[this.pos++] = QUOTE;
      from = at + 1;
    }
    this.pos += value.copy(out, this.pos, from);
    out[this.pos++] = QUOTE;
  }
}

function isZeroDate(value: Buffer): boolean {
  // YYYY-MM-DD…: year 0000, month 00 or day 00.
  const zero2 = (at: number): boolean => value[at] === 0x30 && value[at + 1] === 0x30;
  return (zero2(0) && zero2(2)) || zero2(5) || zero2(8);
}

function bitValue(bytes: Buffer): string {
  let n = 0n;
  for (const b of bytes) n = (n << 8n) | BigInt(b);
  return n.toString();
}
