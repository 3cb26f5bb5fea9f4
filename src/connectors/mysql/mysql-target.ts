// A MySQL / MariaDB table as a target: each chunk is loaded into a temporary staging table, then one transaction applies it with its commit marker.

import { createReadStream, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { PoolConnection, ResultSetHeader } from 'mysql2/promise';
import type { Chunk } from '../../core/chunk.js';
import { ConnectorError, PlanError } from '../../core/errors.js';
import { quoteIdent, quoteLiteral } from '../../core/sql-text.js';
import type { Job } from '../../job/job.js';
import { connectionFields, describeConnection } from '../connection-config.js';
import type { ChunkWrite, ColumnInfo, OpenedChunk, Target, TargetCapabilities, TargetKeyRead, TargetRead, WriteResult } from '../connector.js';
import type { DuckConn } from '../../runtime/duckdb-session.js';
import { processAlive } from '../../runtime/process-liveness.js';
import type { BackupRecord } from '../../ledger/ledger.js';
import type { BackupTaken, Rejects } from '../connector.js';
import { loadDataIsolating } from './mysql-rejects.js';
import { backupMysqlRows, dropMysqlBackups, ensureMysqlBackupTable, restoreMysqlRows } from './mysql-backup.js';
import type { MysqlTargetConfig } from './mysql-config.js';
import type { ChangeSink, ChangeSinkSpec } from '../change-sink.js';
import {
  createMysqlPool,
  MYSQL_PORT,
  mysqlBounds,
  mysqlError,
  MysqlSource,
  quoteMysqlIdent,
  quoteMysqlTable,
  splitMysqlTable,
  withConnection,
  type MysqlPool,
} from './mysql-source.js';

const MARKERS = 'backfill_chunk_commits';
const LOAD_DIR = 'load';
/** Rows per multi-row INSERT when LOAD DATA LOCAL is not allowed (`loadWith: insert`), and a size cap under max_allowed_packet. */
const INSERT_ROWS = 5_000;
const INSERT_CHARS = 4 << 20;

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
  /** Reads chunks back (verify, diff), opened on first use. */
  private readBack: MysqlSource | undefined;
  private reading: Promise<void> = Promise.resolve();

  constructor(
    private readonly config: MysqlTargetConfig,
    private readonly job: Job,
  ) {
    this.loadDir = join(job.stateDir, LOAD_DIR);
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
    this.cleanDeadLoads();
    const db = this.pool;
    try {
      await withConnection(db, undefined, async (conn) => {
        await conn.query(
          `CREATE TABLE IF NOT EXISTS ${quoteMysqlIdent(MARKERS)} (job VARCHAR(128) NOT NULL, chunk_key VARCHAR(255) NOT NULL,
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
        if (this.job.write.mode === 'merge') await this.checkUniqueKey(conn, schema, table);
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
        const [rows] = await conn.query(`SELECT lease, rows_written FROM ${quoteMysqlIdent(MARKERS)} WHERE job = ? AND chunk_key = ?`, [this.job.name, chunk.key]);
        const row = (rows as { lease: string; rows_written: string }[])[0];
        return row === undefined ? undefined : { lease: row.lease, rows: Number(row.rows_written) };
      });
    } catch (err) {
      throw mysqlError(err, `reading the commit marker of chunk ${chunk.key}`, db);
    }
  }

  async forgetCommits(_conn: DuckConn, keys: readonly string[]): Promise<void> {
    const db = this.pool;
    try {
      await withConnection(db, undefined, async (conn) => {
        for (let i = 0; i < keys.length; i += 500) {
          await conn.query(`DELETE FROM ${quoteMysqlIdent(MARKERS)} WHERE job = ? AND chunk_key IN (?)`, [this.job.name, keys.slice(i, i + 500)]);
        }
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
        `COPY (SELECT ${this.columns.map(exportColumn).join(', ')} FROM (${write.query}) AS backfill_output) TO ${quoteLiteral(file)} ` +
          `(FORMAT csv, HEADER false, DELIMITER ',', QUOTE '"', ESCAPE '"', NULLSTR 'NULL'${this.forceQuote()})`,
        write.signal,
      );
      const rows = Number(copied[0]?.Count ?? 0);
      const bytes = statSync(file).size;
      const { written, backup, rejected } = await withConnection(db, write.signal, (conn) => this.apply(conn, write, file, rows));
      return { rowsWritten: written, bytes, rowsRead: rows, ...(backup === undefined ? {} : { backup }), ...(rejected === undefined ? {} : { rejected }) };
    } catch (err) {
      throw mysqlError(err, `writing chunk ${write.chunk.key} to ${this.config.table}`, db);
    } finally {
      rmSync(file, { force: true });
    }
  }

  /** The chunk's range streamed out the way the MySQL source reads a chunk: the same query, encoding and types. */
  async readChunk(conn: DuckConn, read: TargetRead, signal: AbortSignal): Promise<OpenedChunk> {
    const range = read.range;
    if (range === undefined) throw new PlanError(`reading back chunk ${read.chunk.key} from ${this.describe()} needs the chunk column in the transform's output`);
    return this.oneReadAtATime(async () => {
      const reader = await this.reader();
      const opened = await reader.openChunk({ chunk: read.chunk, column: range.column, literals: { lo: range.lo, hi: range.hi } }, conn, signal);
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
      const reader = new MysqlSource({ type: 'mysql', connection: this.config.connection, ssl: this.config.ssl, table: this.config.table, maxConcurrentQueries: this.config.pool.max }, this.job);
      await reader.prepare();
      this.readBack = reader;
    }
    return this.readBack;
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
    const reader = this.readBack;
    this.readBack = undefined;
    await reader?.close();
  }

  /**
   * One transaction: delete the range (replace), load the rows (append, replace) or upsert them from a
   * staging table (merge), mark the chunk. Loading straight into the table inside the transaction
   * saves a copy; any warning or a short count rolls it back.
   */
  private async apply(conn: PoolConnection, w: ChunkWrite, file: string, rows: number): Promise<{ written: number; backup: BackupTaken | undefined; rejected: Rejects | undefined }> {
    const stage = quoteMysqlIdent(`backfill_stage_${w.token}`);
    if (w.mode === 'merge') {
      await conn.query(`DROP TEMPORARY TABLE IF EXISTS ${stage}`);
      // Same column types as the target, no indexes: a duplicate key cannot be skipped silently while loading.
      await conn.query(`CREATE TEMPORARY TABLE ${stage} AS SELECT ${this.columnList()} FROM ${this.table} LIMIT 0`);
      await this.load(conn, stage, file, rows);
    }
    // Chunks write disjoint ranges side by side; under REPEATABLE READ the gap locks of one chunk's
    // DELETE block the other's inserts and deadlock, READ COMMITTED locks only the rows it deletes.
    // CREATE TABLE commits implicitly, so the run's backup table is made before the transaction.
    const backupAt =
      w.backup === undefined ? undefined : await ensureMysqlBackupTable(conn, this.table, splitMysqlTable(this.config.table).schema, this.job.name, w.backup.runId);
    const bounds =
      w.range === undefined
        ? undefined
        : mysqlBounds(w.chunk, this.columns.find((c) => c.name === w.range?.column)?.type ?? 'TIMESTAMP', this.job.chunking.kind === 'time' ? this.job.chunking.timezone : 'UTC');
    const names = this.columns.map((c) => c.name);
    if (this.readCommitted) await conn.query('SET TRANSACTION ISOLATION LEVEL READ COMMITTED');
    await conn.query('START TRANSACTION');
    try {
      // The backup is taken in this transaction before the rows it keeps can change.
      let backup: BackupTaken | undefined;
      if (backupAt !== undefined && w.mode !== 'merge') backup = await backupMysqlRows(conn, w, this.table, backupAt, stage, names, bounds);
      if (w.mode === 'replace') {
        const range = w.range as NonNullable<ChunkWrite['range']>;
        const col = quoteMysqlIdent(range.column);
        await conn.query(`DELETE FROM ${this.table} WHERE ${col} >= ? AND ${col} < ?`, bounds as unknown[]);
      }
      if (backupAt !== undefined && w.mode === 'merge') backup = await backupMysqlRows(conn, w, this.table, backupAt, stage, names, bounds);
      let rejected: Rejects | undefined;
      let written: number;
      if (w.mode === 'merge') written = await this.merge(conn, w, stage);
      else if ((w.maxRejects ?? 0) > 0 && this.config.loadWith === 'load-data' && rows > 0) {
        // Refused rows are isolated and set aside; the transaction keeps exactly the accepted ones.
        const keys = w.key.map((k) => this.columns.findIndex((c) => c.name === k));
        const loaded = await loadDataIsolating(conn, this.loadDataSql(this.table), file, w.maxRejects ?? 0, keys, w.signal);
        written = loaded.accepted;
        rejected = { count: loaded.rejected.length, rows: loaded.rejected };
      } else written = await this.load(conn, this.table, file, rows);
      await conn.query(
        `INSERT INTO ${quoteMysqlIdent(MARKERS)} (job, chunk_key, lease, rows_written, committed_at) VALUES (?, ?, ?, ?, UTC_TIMESTAMP(6))
         ON DUPLICATE KEY UPDATE lease = VALUES(lease), rows_written = VALUES(rows_written), committed_at = VALUES(committed_at)`,
        [this.job.name, w.chunk.key, w.lease, written],
      );
      await conn.query('COMMIT');
      if (w.mode === 'merge') await conn.query(`DROP TEMPORARY TABLE IF EXISTS ${stage}`);
      return { written, backup, rejected };
    } catch (err) {
      // (On abort the connection is already destroyed, which rolls back on the server.)
      await conn.query('ROLLBACK').catch(() => {});
      throw err;
    }
  }

  /** Load the chunk's file into `table`; every row must arrive. */
  private async load(conn: PoolConnection, table: string, file: string, rows: number): Promise<number> {
    if (rows === 0) return 0;
    const loaded = this.config.loadWith === 'insert' ? await this.insertRows(conn, table, file) : await this.loadData(conn, table, file);
    if (loaded !== rows) throw new ConnectorError(`loaded ${loaded} of the chunk's ${rows} rows into ${table}`);
    return loaded;
  }

  private columnList(): string {
    return this.columns.map((c) => quoteMysqlIdent(c.name)).join(', ');
  }

  /**
   * Upsert by the table's unique key. Without FOUND_ROWS the server counts 1 affected row per insert,
   * 2 per real update and 0 per row set to its own values, and `Duplicates` in the info text counts the
   * real updates, so inserts + updates = affected − duplicates: a re-run of unchanged data reports 0.
   */
  private async merge(conn: PoolConnection, w: ChunkWrite, stage: string): Promise<number> {
    const cols = this.columnList();
    const keys = new Set(w.key);
    const others = this.columns.filter((c) => !keys.has(c.name)).map((c) => quoteMysqlIdent(c.name));
    const sets = others.length > 0 ? others.map((c) => `${c} = VALUES(${c})`) : w.key.map((k) => `${quoteMysqlIdent(k)} = ${quoteMysqlIdent(k)}`);
    const [result] = await conn.query(`INSERT INTO ${this.table} (${cols}) SELECT ${cols} FROM ${stage} ON DUPLICATE KEY UPDATE ${sets.join(', ')}`);
    const header = result as ResultSetHeader;
    const duplicates = /Duplicates:\s*(\d+)/.exec(header.info ?? '');
    return header.affectedRows - (duplicates === null ? 0 : Number(duplicates[1]));
  }

  private loadDataSql(table: string, columns: readonly ColumnInfo[] = this.columns): string {
    const targets = columns.map((c, i) => (isBlob(c.type) ? `@backfill_${i}` : quoteMysqlIdent(c.name)));
    const decode = columns.flatMap((c, i) => (isBlob(c.type) ? [`${quoteMysqlIdent(c.name)} = FROM_BASE64(@backfill_${i})`] : []));
    return (
      `LOAD DATA LOCAL INFILE ? INTO TABLE ${table} CHARACTER SET utf8mb4 ` +
      `FIELDS TERMINATED BY ',' OPTIONALLY ENCLOSED BY '"' ESCAPED BY '' LINES TERMINATED BY '\\n' ` +
      `(${targets.join(', ')})${decode.length === 0 ? '' : ` SET ${decode.join(', ')}`}`
    );
  }

  /** LOAD DATA LOCAL INFILE, streamed from the file; its warnings (truncation, bad values) fail the chunk. */
  private async loadData(conn: PoolConnection, table: string, file: string, columns: readonly ColumnInfo[] = this.columns): Promise<number> {
    const [result] = await conn.query({
      sql: this.loadDataSql(table, columns),
      values: [file],
      infileStreamFactory: () => createReadStream(file, { highWaterMark: 1 << 20 }),
    });
    const header = result as ResultSetHeader;
    // LOCAL loads cannot stop the client mid-file, so the server turns data errors into warnings.
    if (header.warningStatus > 0) await this.failOnWarnings(conn, header.warningStatus);
    return header.affectedRows;
  }

  /** Multi-row INSERTs with parameters, for servers that refuse LOAD DATA LOCAL. */
  private async insertRows(conn: PoolConnection, table: string, file: string): Promise<number> {
    const cols = this.columnList();
    const tuple = `(${this.columns.map((c) => (isBlob(c.type) ? 'FROM_BASE64(?)' : '?')).join(', ')})`;
    let loaded = 0;
    let values: (string | null)[] = [];
    let count = 0;
    let chars = 0;
    const flush = async (): Promise<void> => {
      if (count === 0) return;
      const [result] = await conn.query(`INSERT INTO ${table} (${cols}) VALUES ${Array(count).fill(tuple).join(', ')}`, values);
      const header = result as ResultSetHeader;
      if (header.warningStatus > 0) await this.failOnWarnings(conn, header.warningStatus);
      loaded += header.affectedRows;
      values = [];
      count = 0;
      chars = 0;
    };
    for await (const batch of csvRows(file, this.columns.length)) {
      for (const row of batch) {
        for (const v of row) {
          values.push(v);
          chars += v === null ? 4 : v.length + 3;
        }
        count++;
        if (count >= INSERT_ROWS || chars >= INSERT_CHARS) await flush();
      }
    }
    await flush();
    return loaded;
  }

  private async failOnWarnings(conn: PoolConnection, count: number): Promise<never> {
    const [rows] = await conn.query('SHOW WARNINGS LIMIT 3');
    const list = (rows as { Level: string; Code: number; Message: string }[]).map((r) => `${r.Level} ${r.Code}: ${r.Message}`);
    throw new ConnectorError(`loading the chunk into ${this.config.table} gave ${count} warning(s), e.g. ${list.join('; ')}`);
  }

  private async checkUniqueKey(conn: PoolConnection, schema: string | undefined, table: string): Promise<void> {
    const [rows] = await conn.query(
      `SELECT INDEX_NAME AS idx, COLUMN_NAME AS col FROM information_schema.STATISTICS
       WHERE TABLE_SCHEMA = COALESCE(?, DATABASE()) AND TABLE_NAME = ? AND NON_UNIQUE = 0`,
      [schema ?? null, table],
    );
    const indexes = new Map<string, Set<string>>();
    for (const r of rows as { idx: string; col: string }[]) indexes.set(r.idx, (indexes.get(r.idx) ?? new Set()).add(r.col));
    const key = this.job.write.key;
    const matches = [...indexes.values()].some((cols) => cols.size === key.length && key.every((k) => cols.has(k)));
    if (!matches) {
      throw new PlanError(`write.key: merge into ${this.config.table} needs a PRIMARY KEY or UNIQUE index on (${key.join(', ')}); the table has none`);
    }
  }

  private createTableSql(columns: readonly ColumnInfo[]): string {
    const key = this.job.write.key;
    const chunkColumn = this.job.chunking.column;
    const indexed = new Set([...key, chunkColumn]);
    const defs = columns.map((c) => `${quoteMysqlIdent(c.name)} ${mysqlTypeOf(c.type, indexed.has(c.name))}`);
    const keyList = key.map(quoteMysqlIdent).join(', ');
    // Append mode may add a chunk's rows twice on purpose (restate), so its key is an index, not a constraint.
    if (key.length > 0) defs.push(this.job.write.mode === 'append' ? `KEY backfill_key (${keyList})` : `PRIMARY KEY (${keyList})`);
    // Replace mode deletes each chunk's range: an index on the chunk column keeps that from scanning the table.
    if (columns.some((c) => c.name === chunkColumn) && key[0] !== chunkColumn) defs.push(`KEY backfill_chunk (${quoteMysqlIdent(chunkColumn)})`);
    return `CREATE TABLE IF NOT EXISTS ${this.table} (${defs.join(', ')}) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`;
  }

  private forceQuote(columns: readonly ColumnInfo[] = this.columns): string {
    // Quoted so that a text value "NULL" is not read as NULL; numbers and dates never need it.
    const quoted = columns.filter((c) => !UNQUOTED.test(c.type)).map((c) => quoteIdent(c.name));
    return quoted.length === 0 ? '' : `, FORCE_QUOTE (${quoted.join(', ')})`;
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
      csvOptions: (columns) => `(FORMAT csv, HEADER false, DELIMITER ',', QUOTE '"', ESCAPE '"', NULLSTR 'NULL'${this.forceQuote(columns)})`,
      loadData: (c, into, file, columns) => this.loadData(c, into, file, columns),
    });
  }

  /** Load files of processes that died before removing them. */
  private cleanDeadLoads(): void {
    let names: string[];
    try {
      names = readdirSync(this.loadDir);
    } catch {
      return;
    }
    for (const name of names) {
      const pid = Number(name.split('-')[0]);
      if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && !processAlive(pid)) rmSync(join(this.loadDir, name), { force: true });
    }
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

const INTEGER = /^(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT|UTINYINT|USMALLINT|UINTEGER|UBIGINT|UHUGEINT|INT\d*)$/;
const UNQUOTED = /^(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT|UTINYINT|USMALLINT|UINTEGER|UBIGINT|UHUGEINT|INT\d*|FLOAT|REAL|DOUBLE|DECIMAL.*|BOOLEAN|DATE|TIME|TIMESTAMP.*|DATETIME)$/i;
const TIMESTAMP = /^(TIMESTAMP.*|DATETIME)$/i;
const NESTED = /(\[\d*\]$)|^(STRUCT|MAP|UNION)\b/i;

function isBlob(type: string): boolean {
  return /^(BLOB|BYTEA|BINARY|VARBINARY)$/i.test(type);
}

/** The SELECT item that prints a DuckDB column as MySQL reads it. */
function exportColumn(c: ColumnInfo): string {
  const col = quoteIdent(c.name);
  const t = c.type.toUpperCase();
  if (isBlob(t)) return `to_base64(${col}) AS ${col}`;
  // Zoned values print in UTC (the session's zone); DATETIME(6) keeps the microseconds.
  if (TIMESTAMP.test(t)) return `strftime(CAST(${col} AS TIMESTAMP), '%Y-%m-%d %H:%M:%S.%f') AS ${col}`;
  if (t === 'BOOLEAN') return `CAST(${col} AS TINYINT) AS ${col}`;
  if (NESTED.test(t)) return `CAST(to_json(${col}) AS VARCHAR) AS ${col}`;
  return col;
}

/** MySQL column type for a DuckDB type, for `create: true`; indexed text needs a bounded length. */
export function mysqlTypeOf(duckType: string, indexed: boolean): string {
  const t = duckType.toUpperCase();
  if (INTEGER.test(t)) {
    const ints: Record<string, string> = {
      TINYINT: 'TINYINT', SMALLINT: 'SMALLINT', INTEGER: 'INT', BIGINT: 'BIGINT', HUGEINT: 'DECIMAL(39,0)',
      UTINYINT: 'TINYINT UNSIGNED', USMALLINT: 'SMALLINT UNSIGNED', UINTEGER: 'INT UNSIGNED', UBIGINT: 'BIGINT UNSIGNED', UHUGEINT: 'DECIMAL(39,0) UNSIGNED',
    };
    return ints[t] ?? 'BIGINT';
  }
  const decimal = /^DECIMAL\((\d+),\s*(\d+)\)$/.exec(t);
  if (decimal !== null) return `DECIMAL(${decimal[1]},${decimal[2]})`;
  if (t === 'DOUBLE' || t === 'FLOAT8') return 'DOUBLE';
  if (t === 'FLOAT' || t === 'REAL' || t === 'FLOAT4') return 'FLOAT';
  if (t === 'BOOLEAN') return 'BOOLEAN';
  if (t === 'DATE') return 'DATE';
  if (t === 'TIME') return 'TIME(6)';
  if (TIMESTAMP.test(t)) return 'DATETIME(6)';
  if (t === 'UUID') return 'CHAR(36)';
  if (isBlob(t)) return indexed ? 'VARBINARY(255)' : 'LONGBLOB';
  if (t === 'JSON' || NESTED.test(t)) return 'JSON';
  return indexed ? 'VARCHAR(255)' : 'LONGTEXT';
}

/**
 * Rows of a CSV file as DuckDB wrote it for LOAD DATA: `"…"` quoted text with `""` for a quote,
 * unquoted `NULL` for NULL. Yields the rows of each block read, so memory stays bounded.
 */
async function* csvRows(file: string, width: number): AsyncGenerator<(string | null)[][]> {
  const START = 0;
  const UNQUOTED = 1;
  const QUOTED = 2;
  const QUOTE_SEEN = 3;
  let state = START;
  let field = '';
  let quoted = false;
  let row: (string | null)[] = [];
  const endField = (): void => {
    row.push(!quoted && (field === 'NULL' || field === '') ? null : field);
    field = '';
    quoted = false;
  };
  for await (const text of createReadStream(file, { encoding: 'utf8', highWaterMark: 1 << 20 }) as AsyncIterable<string>) {
    const rows: (string | null)[][] = [];
    const endRow = (): void => {
      if (row.length !== width) throw new ConnectorError(`staging file ${file} has a row of ${row.length} fields, expected ${width}`);
      rows.push(row);
      row = [];
    };
    let i = 0;
    const n = text.length;
    while (i < n) {
      if (state === START) {
        if (text.charCodeAt(i) === 0x22) {
          state = QUOTED;
          quoted = true;
          i++;
        } else {
          state = UNQUOTED;
        }
      } else if (state === UNQUOTED) {
        const comma = text.indexOf(',', i);
        const newline = text.indexOf('\n', i);
        const end = comma < 0 ? newline : newline < 0 ? comma : Math.min(comma, newline);
        if (end < 0) {
          field += text.slice(i);
          i = n;
        } else {
          field += text.slice(i, end);
          endField();
          if (end === newline) endRow();
          state = START;
          i = end + 1;
        }
      } else if (state === QUOTED) {
        const quote = text.indexOf('"', i);
        if (quote < 0) {
          field += text.slice(i);
          i = n;
        } else {
          field += text.slice(i, quote);
          state = QUOTE_SEEN;
          i = quote + 1;
        }
      } else {
        const c = text.charCodeAt(i);
        if (c === 0x22) {
          field += '"';
          state = QUOTED;
        } else if (c === 0x2c || c === 0x0a) {
          endField();
          if (c === 0x0a) endRow();
          state = START;
        } else {
          throw new ConnectorError(`staging file ${file} has a stray quote`);
        }
        i++;
      }
    }
    if (rows.length > 0) yield rows;
  }
  if (state !== START || row.length > 0) {
    endField();
    if (row.length !== width) throw new ConnectorError(`staging file ${file} ends inside a row`);
    yield [row];
  }
}
