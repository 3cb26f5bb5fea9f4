// MySQL's statements for the shared chunk transaction: staging before the transaction, READ COMMITTED, LOAD DATA, ON DUPLICATE KEY UPDATE.

import { columnExpr } from '../../core/chunk.js';
import type { PoolConnection, ResultSetHeader } from 'mysql2/promise';
import { ConnectorError } from '../../core/errors.js';
import type { BackupTaken, ChunkWrite, ColumnInfo } from '../connector.js';
import { SqlChunkTransaction, type ChunkLoad } from '../sql/sql-chunk-transaction.js';
import { backupMysqlRows, ensureMysqlBackupTable } from './mysql-backup.js';
import { insertRows, loadData, loadDataSql, type LoadInto } from './mysql-load.js';
import { mysqlCondition, quoteMysqlIdent, type MysqlBounds } from './mysql-pool.js';
import { loadDataIsolating } from './mysql-rejects.js';

export const MYSQL_MARKERS = 'backfill_chunk_commits';

/** The chunk's file and what the target knows around it. */
export interface MysqlChunkFile {
  readonly job: string;
  /** The target table's name as configured (messages), and its schema (backup table beside it). */
  readonly tableName: string;
  readonly schema: string | undefined;
  readonly columns: readonly ColumnInfo[];
  readonly readCommitted: boolean;
  readonly loadWith: 'load-data' | 'insert';
  /** DuckDB's CSV file of the chunk and the rows DuckDB wrote into it. */
  readonly file: string;
  readonly rows: number;
  /** The chunk's bounds as driver values for the chunk column (replace's DELETE, the range backup). */
  readonly bounds: MysqlBounds | undefined;
}

export class MysqlChunkTransaction extends SqlChunkTransaction {
  // LOAD DATA into a temporary table needs no transaction: the staging is done before it begins,
  // so the transaction holds its row locks only for the upsert.
  protected override readonly stagesBeforeBegin = true;
  private readonly stageTable: string;
  /** The staged rows the merge will change, found by the backup; the upsert reads only them. */
  private readonly changedTable: string;
  private changedOnly = false;
  private backupAt: string | undefined;

  constructor(
    w: ChunkWrite,
    table: string,
    private readonly conn: PoolConnection,
    private readonly chunk: MysqlChunkFile,
  ) {
    super(w, table, chunk.columns.map((c) => c.name));
    this.stageTable = quoteMysqlIdent(`backfill_stage_${w.token}`);
    this.changedTable = quoteMysqlIdent(`backfill_changed_${w.token}`);
  }

  protected async exec(text: string, values?: readonly unknown[]): Promise<number> {
    const [result] = await this.conn.query(text, values === undefined ? undefined : [...values]);
    return (result as ResultSetHeader).affectedRows ?? 0;
  }

  protected async stage(): Promise<ChunkLoad> {
    await this.conn.query(`DROP TEMPORARY TABLE IF EXISTS ${this.stageTable}`);
    // Same column types as the target, no indexes: a duplicate key cannot be skipped silently while loading.
    await this.conn.query(`CREATE TEMPORARY TABLE ${this.stageTable} AS SELECT ${this.columnList()} FROM ${this.table} LIMIT 0`);
    await this.loadFile(this.stageTable);
    return { read: this.chunk.rows, written: 0 };
  }

  // CREATE TABLE commits implicitly, so the run's backup table is made before the transaction.
  protected override async prepareBackup(): Promise<void> {
    if (this.w.backup !== undefined) this.backupAt = await ensureMysqlBackupTable(this.conn, this.table, this.chunk.schema, this.chunk.job, this.w.backup.runId);
  }

  // Chunks write disjoint ranges side by side; under REPEATABLE READ the gap locks of one chunk's
  // DELETE block the other's inserts and deadlock, READ COMMITTED locks only the rows it deletes.
  protected override async begin(): Promise<void> {
    if (this.chunk.readCommitted) await this.conn.query('SET TRANSACTION ISOLATION LEVEL READ COMMITTED');
    await this.conn.query('START TRANSACTION');
  }

  protected async backup(scope: 'range' | 'staged'): Promise<BackupTaken> {
    if (scope === 'range') return backupMysqlRows(this.conn, this.w, this.table, this.backupAt as string, this.stageTable, this.names, this.chunk.bounds);
    const taken = await backupMysqlRows(this.conn, this.w, this.table, this.backupAt as string, this.stageTable, this.names, this.chunk.bounds, this.changedTable);
    this.changedOnly = true;
    return taken;
  }

  protected override async deleteRange(): Promise<void> {
    const range = this.w.range as NonNullable<ChunkWrite['range']>;
    const col = columnExpr(range, quoteMysqlIdent);
    const scope = mysqlCondition(col, this.chunk.bounds as MysqlBounds);
    await this.conn.query(`DELETE FROM ${this.table} WHERE ${scope.where}`, scope.values);
  }

  // Loading straight into the table inside the transaction saves a copy; any warning or a short count rolls it back.
  protected async load(): Promise<ChunkLoad> {
    const w = this.w;
    const { rows, file } = this.chunk;
    if ((w.maxRejects ?? 0) > 0 && this.chunk.loadWith === 'load-data' && rows > 0) {
      // Refused rows are isolated and set aside; the transaction keeps exactly the accepted ones.
      const keys = w.key.map((k) => this.names.indexOf(k));
      const loaded = await loadDataIsolating(this.conn, loadDataSql(this.table, this.chunk.columns), file, w.maxRejects ?? 0, keys, w.signal);
      return { read: rows, written: loaded.accepted, rejected: { count: loaded.rejected.length, rows: loaded.rejected } };
    }
    return { read: rows, written: await this.loadFile(this.table) };
  }

  /**
   * Upsert by the table's unique key. Without FOUND_ROWS the server counts 1 affected row per insert,
   * 2 per real update and 0 per row set to its own values, and `Duplicates` in the info text counts the
   * real updates, so inserts + updates = affected − duplicates: a re-run of unchanged data reports 0.
   */
  protected override async merge(): Promise<number> {
    const cols = this.columnList();
    const keys = new Set(this.w.key);
    const others = this.names.filter((n) => !keys.has(n)).map(quoteMysqlIdent);
    const sets = others.length > 0 ? others.map((c) => `${c} = VALUES(${c})`) : this.w.key.map((k) => `${quoteMysqlIdent(k)} = ${quoteMysqlIdent(k)}`);
    // After a backup, only the rows it found new or changed: the others would be left as they are anyway.
    const from = this.changedOnly ? this.changedTable : this.stageTable;
    const [result] = await this.conn.query(`INSERT INTO ${this.table} (${cols}) SELECT ${cols} FROM ${from} ON DUPLICATE KEY UPDATE ${sets.join(', ')}`);
    const header = result as ResultSetHeader;
    const duplicates = /Duplicates:\s*(\d+)/.exec(header.info ?? '');
    return header.affectedRows - (duplicates === null ? 0 : Number(duplicates[1]));
  }

  protected async mark(written: number): Promise<void> {
    await this.conn.query(
      `INSERT INTO ${quoteMysqlIdent(MYSQL_MARKERS)} (job, chunk_key, lease, rows_written, committed_at) VALUES (?, ?, ?, ?, UTC_TIMESTAMP(6))
       ON DUPLICATE KEY UPDATE lease = VALUES(lease), rows_written = VALUES(rows_written), committed_at = VALUES(committed_at)`,
      [this.chunk.job, this.w.chunk.key, this.w.lease, written],
    );
  }

  protected override async afterCommit(): Promise<void> {
    if (this.w.mode === 'merge') await this.conn.query(`DROP TEMPORARY TABLE IF EXISTS ${this.stageTable}, ${this.changedTable}`);
  }

  /** Load the chunk's file into `table`; every row must arrive. */
  private async loadFile(table: string): Promise<number> {
    const { rows, file } = this.chunk;
    if (rows === 0) return 0;
    const into: LoadInto = { conn: this.conn, table, columns: this.chunk.columns, name: this.chunk.tableName };
    const loaded = this.chunk.loadWith === 'insert' ? await insertRows(into, file, this.w.conn, `${this.w.chunk.tag}_${this.w.token}`, this.w.signal) : await loadData(into, file);
    if (loaded !== rows) throw new ConnectorError(`loaded ${loaded} of the chunk's ${rows} rows into ${table}`);
    return loaded;
  }

  private columnList(): string {
    return this.names.map(quoteMysqlIdent).join(', ');
  }
}
