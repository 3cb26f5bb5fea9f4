// A MySQL / MariaDB table as a target: DuckDB writes each chunk as LOAD DATA text, and one transaction applies it with its commit marker.

import { mkdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { PoolConnection } from 'mysql2/promise';
import type { Chunk } from '../../core/chunk.js';
import { PlanError } from '../../core/errors.js';
import { quoteLiteral } from '../../core/sql-text.js';
import type { BackupRecord } from '../../core/write.js';
import type { DuckConn } from '../../runtime/duckdb-session.js';
import { sweepDeadScratch } from '../../runtime/scratch-dirs.js';
import type { ChangeSink, ChangeSinkSpec } from '../change-sink.js';
import { connectionFields, describeConnection } from '../connection-config.js';
import type { ChunkWrite, ColumnInfo, OpenedChunk, Target, TargetCapabilities, TargetContext, TargetKeyRead, TargetRead, WriteResult } from '../connector.js';
import { forgetMarkers, markerOf, questionParams, readMarker, type MarkerTable } from '../sql/sql-commit-markers.js';
import { dropMysqlBackups, restoreMysqlRows } from './mysql-backup.js';
import { MYSQL_MARKERS, MysqlChunkTransaction } from './mysql-chunk-transaction.js';
import type { MysqlTargetConfig } from './mysql-config.js';
import { loadData } from './mysql-load.js';
import { chunkTimezone } from '../../core/planner.js';
import { createMysqlPool, MYSQL_PORT, mysqlBounds, mysqlError, quoteMysqlIdent, quoteMysqlTable, splitMysqlTable, withConnection, type MysqlPool } from './mysql-pool.js';
import { MysqlReadBack } from './mysql-readback.js';
import { exportColumn, loadDataCsvOptions, mysqlTypeOf } from './mysql-types.js';

const MARKERS: MarkerTable = { table: quoteMysqlIdent(MYSQL_MARKERS), rows: 'rows_written', bind: questionParams };
const LOAD_DIR = 'load';

export class MysqlTarget implements Target {
  readonly capabilities: TargetCapabilities = {
    modes: ['append', 'replace', 'merge'],
    replaceBy: 'range',
    mergeScope: 'table',
    transactional: true,
    // InnoDB runs transactions on disjoint ranges side by side; deadlocks and lock waits are retried.
    maxConcurrentWrites: undefined,
    copyText: false,
  };
  private db: MysqlPool | undefined;
  private columns: readonly ColumnInfo[] = [];
  private readonly loadDir: string;
  /** READ COMMITTED unless statement-based binary logging forbids it (InnoDB refuses such writes). */
  private readCommitted = true;
  /** Reads chunks back (verify, diff). */
  private readonly readBack: MysqlReadBack;

  constructor(
    private readonly config: MysqlTargetConfig,
    private readonly ctx: TargetContext,
  ) {
    this.loadDir = join(ctx.stateDir, LOAD_DIR);
    this.readBack = new MysqlReadBack(config, ctx, this.loadDir, this.describe());
  }

  private get pool(): MysqlPool {
    this.db ??= createMysqlPool(this.config.connection, this.config.ssl, this.config.pool.max, { foundRows: false, session: [] });
    return this.db;
  }

  private get table(): string {
    return quoteMysqlTable(this.config.table);
  }

  async attach(): Promise<void> {}

  async prepare(_conn: DuckConn, columns: readonly ColumnInfo[]): Promise<void> {
    this.columns = columns;
    // Load files of processes that died before removing them.
    sweepDeadScratch(this.loadDir);
    const db = this.pool;
    try {
      await withConnection(db, undefined, async (conn) => {
        await conn.query(
          `CREATE TABLE IF NOT EXISTS ${MARKERS.table} (job VARCHAR(128) NOT NULL, chunk_key VARCHAR(255) NOT NULL,
            lease VARCHAR(512) NOT NULL, rows_written BIGINT NOT NULL, committed_at DATETIME(6) NOT NULL, PRIMARY KEY (job, chunk_key))
           ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`,
        );
        const [logging] = await conn.query('SELECT @@GLOBAL.log_bin AS log_bin, @@SESSION.binlog_format AS format');
        const log = (logging as { log_bin: number | string; format: string }[])[0];
        this.readCommitted = !(Number(log?.log_bin) === 1 && log?.format === 'STATEMENT');
        const { schema, table } = splitMysqlTable(this.config.table);
        const [found] = await conn.query(
          'SELECT COLUMN_NAME AS name FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = COALESCE(?, DATABASE()) AND TABLE_NAME = ?',
          [schema ?? null, table],
        );
        const existing = (found as { name: string }[]).map((r) => r.name);
        if (existing.length === 0) {
          if (!this.config.create) throw new PlanError(`target.table: ${this.config.table} does not exist in ${db.name} (set create: true to create it)`);
          await conn.query(this.createTableSql(columns));
          return;
        }
        const have = new Set(existing);
        const missing = columns.filter((c) => !have.has(c.name)).map((c) => c.name);
        if (missing.length > 0) throw new PlanError(`target.table: ${this.config.table} has no column(s) ${missing.join(', ')} that the transform produces`);
        if (this.ctx.write.mode === 'merge') await this.checkUniqueKey(conn, schema, table);
      });
    } catch (err) {
      throw mysqlError(err, `preparing table ${this.config.table}`, db);
    }
  }

  async addColumns(_conn: DuckConn, columns: readonly ColumnInfo[]): Promise<readonly string[]> {
    try {
      return await withConnection(this.pool, undefined, async (conn) => {
        const have = await this.existingColumns(conn);
        if (have.size === 0) return [];
        const missing = columns.filter((c) => !have.has(c.name));
        for (const c of missing) await conn.query(`ALTER TABLE ${this.table} ADD COLUMN ${quoteMysqlIdent(c.name)} ${mysqlTypeOf(c.type, false)} NULL`);
        return missing.map((c) => c.name);
      });
    } catch (err) {
      throw mysqlError(err, `adding columns to ${this.config.table}`, this.pool);
    }
  }

  async widenColumns(_conn: DuckConn, columns: readonly ColumnInfo[]): Promise<void> {
    try {
      await withConnection(this.pool, undefined, async (conn) => {
        const have = await this.existingColumns(conn);
        for (const c of columns.filter((x) => have.has(x.name))) {
          await conn.query(`ALTER TABLE ${this.table} MODIFY COLUMN ${quoteMysqlIdent(c.name)} ${mysqlTypeOf(c.type, false)} NULL`);
        }
      });
    } catch (err) {
      throw mysqlError(err, `widening columns of ${this.config.table}`, this.pool);
    }
  }

  private async existingColumns(conn: { query(sql: string, values?: unknown[]): Promise<unknown> }): Promise<Set<string>> {
    const { schema, table } = splitMysqlTable(this.config.table);
    const [found] = (await conn.query(
      'SELECT COLUMN_NAME AS name FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = COALESCE(?, DATABASE()) AND TABLE_NAME = ?',
      [schema ?? null, table],
    )) as [{ name: string }[]];
    return new Set(found.map((r) => r.name));
  }

  async committedLease(_conn: DuckConn, chunk: Chunk): Promise<{ lease: string; rows: number } | undefined> {
    const db = this.pool;
    try {
      return await withConnection(db, undefined, async (conn) => {
        const read = readMarker(MARKERS, this.ctx.job, chunk.key);
        const [rows] = await conn.query(read.text, read.values);
        return markerOf(MARKERS, (rows as Record<string, unknown>[])[0]);
      });
    } catch (err) {
      throw mysqlError(err, `reading the commit marker of chunk ${chunk.key}`, db);
    }
  }

  async forgetCommits(_conn: DuckConn, keys: readonly string[]): Promise<void> {
    const db = this.pool;
    try {
      await withConnection(db, undefined, async (conn) => {
        for (const forget of forgetMarkers(MARKERS, this.ctx.job, keys)) await conn.query(forget.text, forget.values);
      });
    } catch (err) {
      throw mysqlError(err, 'forgetting commit markers', db);
    }
  }

  async write(write: ChunkWrite): Promise<WriteResult> {
    if (write.mode === 'replace' && write.range === undefined) throw new PlanError('replace mode needs the chunk column in the transform output');
    const db = this.pool;
    mkdirSync(this.loadDir, { recursive: true });
    const file = join(this.loadDir, `${process.pid}-${write.chunk.tag}-${write.token}.csv`);
    try {
      // DuckDB writes the chunk's rows in the text MySQL's LOAD DATA reads (see exportColumn).
      const copied = await write.conn.all<{ Count: string }>(
        `COPY (SELECT ${this.columns.map(exportColumn).join(', ')} FROM (${write.query}) AS backfill_output) TO ${quoteLiteral(file)} ${loadDataCsvOptions(this.columns)}`,
        write.signal,
      );
      const rows = Number(copied[0]?.Count ?? 0);
      const bytes = statSync(file).size;
      const range = write.range;
      const bounds = range === undefined ? undefined : mysqlBounds(write.chunk, (range.columns ?? [range.column]).map((n) => this.columns.find((c) => c.name === n)?.type ?? 'TIMESTAMP'), chunkTimezone(this.ctx.chunking));
      const chunk = {
        job: this.ctx.job, tableName: this.config.table, schema: splitMysqlTable(this.config.table).schema, columns: this.columns,
        readCommitted: this.readCommitted, loadWith: this.config.loadWith, file, rows, bounds,
      };
      const done = await withConnection(db, write.signal, (conn) => new MysqlChunkTransaction(write, this.table, conn, chunk).run(bytes));
      return { rowsWritten: done.written, bytes, rowsRead: rows, ...(done.backup === undefined ? {} : { backup: done.backup }), ...(done.rejected === undefined ? {} : { rejected: done.rejected }) };
    } catch (err) {
      throw mysqlError(err, `writing chunk ${write.chunk.key} to ${this.config.table}`, db);
    } finally {
      rmSync(file, { force: true });
    }
  }

  async readChunk(conn: DuckConn, read: TargetRead, signal: AbortSignal): Promise<OpenedChunk> {
    return this.readBack.readChunk(conn, read, signal);
  }

  async readKeys(conn: DuckConn, read: TargetKeyRead, signal: AbortSignal): Promise<OpenedChunk> {
    return this.readBack.readKeys(conn, read, signal);
  }

  async restoreBackup(_conn: DuckConn, backup: BackupRecord): Promise<{ rows: number; checksum: string }> {
    const db = this.pool;
    try {
      return await withConnection(db, undefined, (conn) => restoreMysqlRows(conn, this.table, backup));
    } catch (err) {
      throw mysqlError(err, `restoring chunk ${backup.chunkKey} of ${this.config.table}`, db);
    }
  }

  async dropBackups(_conn: DuckConn, backups: readonly BackupRecord[]): Promise<void> {
    const db = this.pool;
    try {
      await withConnection(db, undefined, (conn) => dropMysqlBackups(conn, backups));
    } catch (err) {
      throw mysqlError(err, `removing backups of ${this.config.table}`, db);
    }
  }

  describe(): string {
    const fields = this.db?.fields ?? connectionFields(this.config.connection);
    return `mysql table ${this.config.table} in ${describeConnection(fields, MYSQL_PORT)}`;
  }

  async close(): Promise<void> {
    const db = this.db;
    this.db = undefined;
    await db?.end();
    await this.readBack.close();
  }

  private async checkUniqueKey(conn: PoolConnection, schema: string | undefined, table: string): Promise<void> {
    const [rows] = await conn.query(
      `SELECT INDEX_NAME AS idx, COLUMN_NAME AS col FROM information_schema.STATISTICS
       WHERE TABLE_SCHEMA = COALESCE(?, DATABASE()) AND TABLE_NAME = ? AND NON_UNIQUE = 0`,
      [schema ?? null, table],
    );
    const indexes = new Map<string, Set<string>>();
    for (const r of rows as { idx: string; col: string }[]) indexes.set(r.idx, (indexes.get(r.idx) ?? new Set()).add(r.col));
    const key = this.ctx.write.key;
    const matches = [...indexes.values()].some((cols) => cols.size === key.length && key.every((k) => cols.has(k)));
    if (!matches) {
      throw new PlanError(`write.key: merge into ${this.config.table} needs a PRIMARY KEY or UNIQUE index on (${key.join(', ')}); the table has none`);
    }
  }

  /** Replace into an existing table whose indexes do not lead with the chunk column: the statement that adds one. */
  async indexAdvice(): Promise<readonly string[]> {
    const column = this.ctx.chunking.column;
    // A job without chunk column replaces the whole table: no range to find.
    if (this.ctx.write.mode !== 'replace' || column === undefined) return [];
    const { schema, table } = splitMysqlTable(this.config.table);
    const leads = await withConnection(this.pool, undefined, async (conn) => {
      const [rows] = await conn.query(
        `SELECT (SELECT COUNT(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = COALESCE(?, DATABASE()) AND TABLE_NAME = ? AND COLUMN_NAME = ?) AS has_column,
                (SELECT COUNT(*) FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = COALESCE(?, DATABASE()) AND TABLE_NAME = ? AND COLUMN_NAME = ? AND SEQ_IN_INDEX = 1) AS leads`,
        [schema ?? null, table, column, schema ?? null, table, column],
      );
      const row = (rows as { has_column: number | string; leads: number | string }[])[0];
      return Number(row?.has_column) === 0 || Number(row?.leads) > 0;
    });
    if (leads) return [];
    return [
      `${this.config.table} has no index that leads with the chunk column "${column}": replace deletes each chunk's range by scanning the whole table, ` +
        `so every chunk gets slower as the table grows. Add one: CREATE INDEX backfill_chunk ON ${this.table} (${quoteMysqlIdent(column)});`,
    ];
  }

  private createTableSql(columns: readonly ColumnInfo[]): string {
    const key = this.ctx.write.key;
    const chunkColumn = this.ctx.chunking.column;
    const indexed = new Set(chunkColumn === undefined ? key : [...key, chunkColumn]);
    const defs = columns.map((c) => `${quoteMysqlIdent(c.name)} ${mysqlTypeOf(c.type, indexed.has(c.name))}`);
    const keyList = key.map(quoteMysqlIdent).join(', ');
    // Append mode may add a chunk's rows twice on purpose (restate), so its key is an index, not a constraint.
    if (key.length > 0) defs.push(this.ctx.write.mode === 'append' ? `KEY backfill_key (${keyList})` : `PRIMARY KEY (${keyList})`);
    // Replace mode deletes each chunk's range: an index on the chunk column keeps that from scanning the table.
    if (chunkColumn !== undefined && columns.some((c) => c.name === chunkColumn) && key[0] !== chunkColumn) defs.push(`KEY backfill_chunk (${quoteMysqlIdent(chunkColumn)})`);
    return `CREATE TABLE IF NOT EXISTS ${this.table} (${defs.join(', ')}) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`;
  }

  /** Change data capture (docs/cdc.md): batches staged by DuckDB in LOAD DATA's text, upserted by key with the position. */
  async openChangeSink(conn: DuckConn, spec: ChangeSinkSpec): Promise<ChangeSink> {
    const { MysqlChangeSink } = await import('./mysql-cdc-sink.js');
    const { schema, table } = splitMysqlTable(this.config.table);
    return MysqlChangeSink.open(conn, spec, {
      db: this.pool,
      tableName: this.config.table,
      table: this.table,
      create: this.config.create,
      createTableSql: () => this.createTableSql(spec.columns),
      checkUniqueKey: (c) => this.checkUniqueKey(c, schema, table),
      exportColumns: (columns) => `${columns.map(exportColumn).join(', ')}`,
      csvOptions: (columns) => loadDataCsvOptions(columns),
      loadData: (c, into, file, columns) => loadData({ conn: c, table: into, columns, name: this.config.table }, file),
    });
  }
}
