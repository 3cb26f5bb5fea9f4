// A MySQL / MariaDB table or query as a source: each chunk streams out of an index-served query into a local CSV.

import { columnExpr, nullCondition } from '../../core/chunk.js';
import { createWriteStream, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Connection as CoreConnection } from 'mysql2';
import type mysql from 'mysql2/promise';
import { PlanError } from '../../core/errors.js';
import { chunkTimezone, type SourceBounds } from '../../core/planner.js';
import { quoteIdent, quoteLiteral } from '../../core/sql-text.js';
import type { DuckConn } from '../../runtime/duckdb-session.js';
import { emptyRelation } from '../../runtime/duckdb-sql.js';
import { sweepDeadScratch } from '../../runtime/scratch-dirs.js';
import { connectionFields, describeConnection } from '../connection-config.js';
import type { ChunkRead, CumulativeRequest, CumulativeRow, OpenedChunk, Source, SourceCapabilities, SourceContext } from '../connector.js';
import { cumulativeCountSql } from '../../core/row-cut.js';
import type { MysqlSourceConfig } from './mysql-config.js';
import type { ProfileRequest, SourceProfile } from '../source-profile.js';
import { CsvEncoder } from './mysql-csv-encoder.js';
import { MysqlHealth } from './mysql-health.js';
import { createMysqlPool, MYSQL_PORT, mysqlBounds, mysqlCondition, mysqlError, quoteMysqlIdent, quoteMysqlTable, splitMysqlTable, withConnection, type MysqlPool } from './mysql-pool.js';
import { duckTypeOf, type FieldInfo, type SourceColumn } from './mysql-types.js';

const FETCH_DIR = 'fetch';

export class MysqlSource implements Source {
  readonly capabilities: SourceCapabilities = { prunes: true, cheapBounds: false, copyText: false };
  private db: MysqlPool | undefined;
  private columns: SourceColumn[] = [];
  private readonly fetchDir: string;

  constructor(
    private readonly config: MysqlSourceConfig,
    private readonly ctx: SourceContext,
  ) {
    this.fetchDir = join(ctx.stateDir, FETCH_DIR);
    this.health = new MysqlHealth(config);
  }

  /** Replica lag, load and latency for the run's limits, on a connection of their own (opened on first use). */
  readonly health: MysqlHealth;

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
    // Fetched files of processes that died before removing them.
    sweepDeadScratch(this.fetchDir);
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

  async cumulativeCounts(request: CumulativeRequest): Promise<readonly CumulativeRow[]> {
    const cols = request.columns.map(quoteMysqlIdent);
    const types = request.columns.map((c) => this.columns.find((x) => x.name === c)?.type ?? '');
    let where = 'TRUE';
    let values: unknown[] = [];
    if (request.after !== undefined) {
      const b = mysqlBounds(request.after, types, chunkTimezone(this.ctx.chunking));
      ({ where, values } = mysqlCondition(cols.length === 1 ? (cols[0] as string) : `(${cols.join(', ')})`, { lo: b.hi, holdsHi: b.holdsHi, as: b.as }));
    }
    const sql = cumulativeCountSql(this.from, cols, (k) => k, where, request.grain);
    const db = this.pool;
    try {
      const rows = await withConnection(db, undefined, async (conn) => {
        const [r] = await conn.query({ sql, values, rowsAsArray: true, typeCast: false });
        return r as (Buffer | null)[][];
      });
      const dates = types[0]?.toUpperCase() === 'DATE';
      // Values arrive as the server prints them: DATETIME / TIMESTAMP in UTC sessions, read back as instants.
      const render = (b: Buffer): string => {
        const t = b.toString('utf8');
        if (request.kind !== 'time' || dates) return dates ? t.slice(0, 10) : t;
        return String(Date.parse(`${t.replace(' ', 'T')}Z`));
      };
      return rows.map((r) => ({ values: request.columns.map((_, i) => render(r[i] as Buffer)), cum: Number((r[request.columns.length] as Buffer).toString()) }));
    } catch (err) {
      throw mysqlError(err, `counting rows by ${request.columns.join(', ')} to cut chunks`, db);
    }
  }

  async textCollation(column: string): Promise<string | undefined> {
    if (this.config.table === undefined) return undefined;
    const { schema, table } = splitMysqlTable(this.config.table);
    const db = this.pool;
    try {
      const [rows] = await withConnection(db, undefined, (conn) =>
        conn.query(`SELECT COLLATION_NAME AS name FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = COALESCE(?, DATABASE()) AND TABLE_NAME = ? AND COLUMN_NAME = ?`, [schema ?? null, table, column]));
      const name = (rows as { name: string | null }[])[0]?.name ?? null;
      return name === null || /(_bin|^binary)$/i.test(name) ? undefined : name;
    } catch (err) {
      throw mysqlError(err, `reading the collation of ${column}`, db);
    }
  }

  async countRows(): Promise<number> {
    const db = this.pool;
    try {
      const [rows] = await withConnection(db, undefined, (conn) => conn.query(`SELECT COUNT(*) AS n FROM ${this.from}`));
      return Number((rows as { n: number | string }[])[0]?.n ?? 0);
    } catch (err) {
      throw mysqlError(err, 'counting rows', db);
    }
  }

  async openChunk(read: ChunkRead, _conn: DuckConn, signal: AbortSignal): Promise<OpenedChunk> {
    const column = this.columns.find((c) => c.name === read.column);
    if (column === undefined && read.chunk.kind !== 'all') throw new PlanError(`chunk.column "${read.column}" is not a column of ${this.describe()}`);
    const types = (read.columns ?? [read.column]).map((c) => this.columns.find((x) => x.name === c)?.type ?? '');
    const scope =
      read.nulls === true ? { where: nullCondition(read, quoteMysqlIdent), values: [] } : mysqlCondition(columnExpr(read, quoteMysqlIdent), mysqlBounds(read.chunk, types, chunkTimezone(this.ctx.chunking)));
    const sql = `SELECT * FROM ${this.from} WHERE ${scope.where}`;
    return this.fetch(sql, scope.values, async () => {}, `${read.chunk.tag}${read.nulls === true ? '-nulls' : ''}`, `reading chunk ${read.chunk.key}`, signal);
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

  async profile(request: ProfileRequest): Promise<SourceProfile> {
    const type = [this.columns.find((c) => c.name === request.column)?.type ?? 'BIGINT'];
    return (await import('./mysql-profile.js')).profileMysql({ db: this.pool, from: this.from, table: this.config.table, values: (c) => { const b = mysqlBounds(c, type, request.timezone); return [b.lo, b.hi]; } }, request);
  }

  async close(): Promise<void> {
    await this.health.close();
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
}
