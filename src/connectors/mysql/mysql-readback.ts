// A MySQL target's rows read back into DuckDB (verify, diff): streamed out the way the MySQL source reads a chunk, one read at a time.

import { createReadStream, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { PoolConnection } from 'mysql2/promise';
import { PlanError } from '../../core/errors.js';
import { quoteIdent, quoteLiteral } from '../../core/sql-text.js';
import type { DuckConn } from '../../runtime/duckdb-session.js';
import type { OpenedChunk, TargetContext, TargetKeyRead, TargetRead } from '../connector.js';
import type { MysqlTargetConfig } from './mysql-config.js';
import { quoteMysqlIdent, quoteMysqlTable } from './mysql-pool.js';
import { MysqlSource } from './mysql-source.js';
import { exportColumn } from './mysql-types.js';

export class MysqlReadBack {
  /** Reads chunks back, opened on first use. */
  private readBack: MysqlSource | undefined;
  private reading: Promise<void> = Promise.resolve();

  constructor(
    private readonly config: MysqlTargetConfig,
    private readonly ctx: TargetContext,
    /** Folder for the key files. */
    private readonly loadDir: string,
    /** The target, for messages. */
    private readonly describe: string,
  ) {}

  private get table(): string {
    return quoteMysqlTable(this.config.table);
  }

  /** The chunk's range streamed out the way the MySQL source reads a chunk: the same query, encoding and types. */
  async readChunk(conn: DuckConn, read: TargetRead, signal: AbortSignal): Promise<OpenedChunk> {
    const range = read.range;
    if (range === undefined) throw new PlanError(`reading back chunk ${read.chunk.key} from ${this.describe} needs the chunk column in the transform's output`);
    return this.oneReadAtATime(async () => {
      const reader = await this.reader();
      const opened = await reader.openChunk({ chunk: read.chunk, column: range.column, columns: range.columns, literals: range }, conn, signal);
      return materialise(conn, opened, read, signal);
    });
  }

  /** Rows by key anywhere in the table: the keys go into a temporary table on the reading connection. */
  async readKeys(conn: DuckConn, read: TargetKeyRead, signal: AbortSignal): Promise<OpenedChunk> {
    mkdirSync(this.loadDir, { recursive: true });
    const file = join(this.loadDir, `${process.pid}-${read.chunk.tag}-keys-${Math.random().toString(36).slice(2)}.csv`);
    const keyColumns = read.key.map((k) => read.columns.find((c) => c.name === k) ?? { name: k, type: 'VARCHAR' });
    const keys = read.key.map(quoteMysqlIdent);
    const temp = quoteMysqlIdent('backfill_diff_keys');
    const setup = async (c: PoolConnection): Promise<void> => {
      await c.query(`DROP TEMPORARY TABLE IF EXISTS ${temp}`);
      await c.query(`CREATE TEMPORARY TABLE ${temp} AS SELECT ${keys.join(', ')} FROM ${this.table} LIMIT 0`);
      await c.query({
        sql: `LOAD DATA LOCAL INFILE ? INTO TABLE ${temp} CHARACTER SET utf8mb4 FIELDS TERMINATED BY ',' OPTIONALLY ENCLOSED BY '"' ESCAPED BY '' LINES TERMINATED BY '\\n'`,
        values: [file],
        infileStreamFactory: () => createReadStream(file),
      });
    };
    try {
      await conn.run(
        `COPY (SELECT ${keyColumns.map(exportColumn).join(', ')} FROM ${read.keys}) TO ${quoteLiteral(file)} ` +
          `(FORMAT csv, HEADER false, DELIMITER ',', QUOTE '"', ESCAPE '"', NULLSTR 'NULL')`,
        signal,
      );
      return await this.oneReadAtATime(async () => {
        const reader = await this.reader();
        const where = `EXISTS (SELECT 1 FROM ${temp} AS k WHERE ${keys.map((k) => `t.${k} = k.${k}`).join(' AND ')})`;
        return materialise(conn, await reader.openWhere(where, setup, `${read.chunk.tag}-read`, signal), read, signal);
      });
    } finally {
      rmSync(file, { force: true });
    }
  }

  /**
   * Read-backs one after another: DuckDB reserves a buffer of 16 × the CSV reader's maximum line
   * size (1 GiB for MySQL text) per scan, and two at once can exceed its memory limit.
   */
  private async oneReadAtATime<T>(work: () => Promise<T>): Promise<T> {
    const before = this.reading;
    let done = (): void => {};
    this.reading = new Promise<void>((resolve) => (done = resolve));
    await before;
    try {
      return await work();
    } finally {
      done();
    }
  }

  private async reader(): Promise<MysqlSource> {
    if (this.readBack === undefined) {
      const reader = new MysqlSource(
        { type: 'mysql', connection: this.config.connection, ssl: this.config.ssl, table: this.config.table, maxConcurrentQueries: this.config.pool.max },
        { ...this.ctx, sourceTransform: undefined, memoryLimited: false },
      );
      await reader.prepare();
      this.readBack = reader;
    }
    return this.readBack;
  }

  async close(): Promise<void> {
    const reader = this.readBack;
    this.readBack = undefined;
    await reader?.close();
  }
}

/** Copy a fetched chunk into a DuckDB temporary table while the read-back holds its turn; the file goes at once. */
async function materialise(conn: DuckConn, opened: OpenedChunk, read: TargetRead, signal: AbortSignal): Promise<OpenedChunk> {
  const table = quoteIdent(`backfill_read_${read.chunk.tag}_${Math.random().toString(36).slice(2, 8)}`);
  try {
    await conn.run(`CREATE TEMP TABLE ${table} AS SELECT ${read.columns.map((c) => quoteIdent(c.name)).join(', ')} FROM ${opened.relation}`, signal);
  } finally {
    await opened.close();
  }
  return { relation: table, close: () => conn.run(`DROP TABLE IF EXISTS ${table}`).catch(() => {}) };
}
