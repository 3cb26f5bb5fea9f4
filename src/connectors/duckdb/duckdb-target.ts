// A table in a DuckDB database file as a target: each chunk is one transaction with its commit marker.

import { type Chunk, columnExpr } from '../../core/chunk.js';
import { duckRangeCondition } from '../../runtime/duckdb-sql.js';
import { PlanError } from '../../core/errors.js';
import { quoteIdent, quoteLiteral, quoteQualified } from '../../core/sql-text.js';
import type { BackupRecord } from '../../core/write.js';
import { inPlace, type Rejects, type BackupTaken, type ChunkWrite, type ColumnInfo, type OpenedChunk, type Target, type TargetCapabilities, type TargetContext, type TargetKeyRead, type TargetRead, type WriteResult } from '../connector.js';
import { SqlChunkTransaction, type ChunkLoad } from '../sql/sql-chunk-transaction.js';
import { forgetMarkers, inlineLiterals, markerOf, readMarker, type MarkerTable } from '../sql/sql-commit-markers.js';
import { backupDuckRows, dropDuckBackups, ensureDuckBackupTable, restoreDuckRows } from './duckdb-backup.js';
import { acceptedRows, findRefusedRows, numberRows } from './duckdb-rejects.js';
import type { DuckConn } from '../../runtime/duckdb-session.js';
import type { DuckdbTargetConfig } from './duckdb-config.js';
import type { ChangeSink, ChangeSinkSpec } from '../change-sink.js';

export const TARGET_ALIAS = 'backfill_target';
const MARKERS: MarkerTable = { table: `${quoteIdent(TARGET_ALIAS)}.main.backfill_chunk_commits`, rows: 'rows', bind: inlineLiterals };

export class DuckdbTarget implements Target {
  readonly capabilities: TargetCapabilities = {
    modes: ['append', 'replace', 'merge'],
    replaceBy: 'range',
    mergeScope: 'table',
    transactional: true,
    // DuckDB runs one statement on all cores; concurrent writers to one table only add conflicts.
    maxConcurrentWrites: 1,
    copyText: false,
  };
  private columns: readonly ColumnInfo[] = [];
  /** Backup tables made by this process, by run id. */
  private readonly backupTables = new Map<string, Promise<void>>();

  private readonly job: string;

  constructor(
    private readonly config: DuckdbTargetConfig,
    ctx: TargetContext,
  ) {
    this.job = ctx.job;
  }

  private get table(): string {
    return `${quoteIdent(TARGET_ALIAS)}.${quoteQualified(this.config.table)}`;
  }

  async attach(conn: DuckConn): Promise<void> {
    await conn.attach(this.config.database, TARGET_ALIAS, false);
  }

  async prepare(conn: DuckConn, columns: readonly ColumnInfo[]): Promise<void> {
    await this.attach(conn);
    this.columns = columns;
    await conn.run(`CREATE TABLE IF NOT EXISTS ${MARKERS.table} (job VARCHAR NOT NULL, chunk_key VARCHAR NOT NULL, lease VARCHAR NOT NULL,
      rows BIGINT NOT NULL, committed_at TIMESTAMPTZ NOT NULL, PRIMARY KEY (job, chunk_key))`);
    const parts = this.config.table.split('.');
    const schema = parts.length > 1 ? (parts[0] as string) : 'main';
    const name = parts[parts.length - 1] as string;
    const existing = await conn.all<{ column_name: string; data_type: string }>(
      `SELECT column_name, data_type FROM information_schema.columns
       WHERE table_catalog = ${quoteLiteral(TARGET_ALIAS)} AND table_schema = ${quoteLiteral(schema)} AND table_name = ${quoteLiteral(name)}`,
    );
    if (existing.length === 0) {
      if (!this.config.create) throw new PlanError(`target.table: ${this.config.table} does not exist in ${this.config.database} (set create: true to create it)`);
      if (parts.length > 1) await conn.run(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(TARGET_ALIAS)}.${quoteIdent(schema)}`);
      const defs = columns.map((c) => `${quoteIdent(c.name)} ${c.type}`).join(', ');
      await conn.run(`CREATE TABLE IF NOT EXISTS ${this.table} (${defs})`);
      return;
    }
    const have = new Set(existing.map((c) => c.column_name));
    const missing = columns.filter((c) => !have.has(c.name)).map((c) => c.name);
    if (missing.length > 0) {
      throw new PlanError(`target.table: ${this.config.table} has no column(s) ${missing.join(', ')} that the transform produces`);
    }
  }

  async addColumns(conn: DuckConn, columns: readonly ColumnInfo[]): Promise<readonly string[]> {
    await this.attach(conn);
    const have = await this.existingColumns(conn);
    if (have.size === 0) return [];
    const missing = columns.filter((c) => !have.has(c.name));
    for (const c of missing) await conn.run(`ALTER TABLE ${this.table} ADD COLUMN ${quoteIdent(c.name)} ${c.type}`);
    return missing.map((c) => c.name);
  }

  async widenColumns(conn: DuckConn, columns: readonly ColumnInfo[]): Promise<void> {
    await this.attach(conn);
    const have = await this.existingColumns(conn);
    for (const c of columns.filter((x) => have.has(x.name))) await conn.run(`ALTER TABLE ${this.table} ALTER ${quoteIdent(c.name)} TYPE ${c.type}`);
  }

  private async existingColumns(conn: DuckConn): Promise<Set<string>> {
    const parts = this.config.table.split('.');
    const schema = parts.length > 1 ? (parts[0] as string) : 'main';
    const name = parts[parts.length - 1] as string;
    const rows = await conn.all<{ column_name: string }>(
      `SELECT column_name FROM information_schema.columns
       WHERE table_catalog = ${quoteLiteral(TARGET_ALIAS)} AND table_schema = ${quoteLiteral(schema)} AND table_name = ${quoteLiteral(name)}`,
    );
    return new Set(rows.map((r) => r.column_name));
  }

  async committedLease(conn: DuckConn, chunk: Chunk): Promise<{ lease: string; rows: number } | undefined> {
    const read = readMarker(MARKERS, this.job, chunk.key);
    return markerOf(MARKERS, (await conn.all<Record<string, unknown>>(read.text))[0]);
  }

  async forgetCommits(conn: DuckConn, keys: readonly string[]): Promise<void> {
    for (const forget of forgetMarkers(MARKERS, this.job, keys)) await conn.run(forget.text);
  }

  async write(w: ChunkWrite): Promise<WriteResult> {
    // Rows the table may refuse are found first, in transactions rolled back, then left out.
    let isolated: Isolated | undefined;
    if ((w.maxRejects ?? 0) > 0 && w.mode !== 'merge') {
      if (w.mode === 'replace' && w.range === undefined) throw new PlanError('replace mode needs the chunk column in the transform output');
      const rows = await numberRows(w, quoteIdent(`backfill_rows_${w.token}`));
      const tx = new DuckChunkTransaction(w, this.table, this.columns.map((c) => c.name), this.job, undefined);
      const found = await findRefusedRows(w, this.table, rows, () => tx.deleteChunkRange(), w.maxRejects ?? 0);
      isolated = { rows, bad: found.bad, rejected: { count: found.rejected.length, rows: found.rejected } };
    }
    try {
      const tx = new DuckChunkTransaction(w, this.table, this.columns.map((c) => c.name), this.job, isolated, () => this.backupTable(w.conn, (w.backup as NonNullable<ChunkWrite['backup']>).runId));
      const done = await tx.run();
      return {
        // The rows go from DuckDB's query into the table without a byte passing in between: size unknown.
        rowsWritten: done.written, bytes: null, ...(done.backup === undefined ? {} : { backup: done.backup }),
        ...(isolated === undefined ? {} : { rejected: isolated.rejected, rowsRead: done.written + isolated.rejected.count }),
      };
    } finally {
      if (isolated !== undefined) await w.conn.run(`DROP TABLE IF EXISTS ${isolated.rows}`).catch(() => {});
    }
  }

  /** The run's backup table, made once: the chunks of a run share this target, and take turns here. */
  private backupTable(conn: DuckConn, runId: string): Promise<void> {
    let made = this.backupTables.get(runId);
    if (made === undefined) {
      made = ensureDuckBackupTable(conn, this.table, TARGET_ALIAS, this.job, runId);
      this.backupTables.set(runId, made);
      made.catch(() => this.backupTables.delete(runId));
    }
    return made;
  }

  async readChunk(conn: DuckConn, read: TargetRead): Promise<OpenedChunk> {
    if (read.range === undefined) throw new PlanError(`reading back chunk ${read.chunk.key} from ${this.describe()} needs the chunk column in the transform's output`);
    await this.attachForReading(conn);
    const col = columnExpr(read.range, quoteIdent);
    return inPlace(`(SELECT ${read.columns.map((c) => quoteIdent(c.name)).join(', ')} FROM ${this.table} WHERE ${duckRangeCondition(col, read.range)})`);
  }

  async readKeys(conn: DuckConn, read: TargetKeyRead): Promise<OpenedChunk> {
    await this.attachForReading(conn);
    const match = read.key.map((k) => `t.${quoteIdent(k)} = k.${quoteIdent(k)}`).join(' AND ');
    return inPlace(`(SELECT ${read.columns.map((c) => `t.${quoteIdent(c.name)}`).join(', ')} FROM ${this.table} AS t WHERE EXISTS (SELECT 1 FROM ${read.keys} AS k WHERE ${match}))`);
  }

  /** Read-only, unless a run in this process already attached the file for writing. */
  private async attachForReading(conn: DuckConn): Promise<void> {
    const attached = await conn.all(`SELECT 1 FROM duckdb_databases() WHERE database_name = ${quoteLiteral(TARGET_ALIAS)}`);
    if (attached.length === 0) await conn.attach(this.config.database, TARGET_ALIAS, true);
  }

  async restoreBackup(conn: DuckConn, backup: BackupRecord): Promise<{ rows: number; checksum: string }> {
    await this.attach(conn);
    return restoreDuckRows(conn, this.table, TARGET_ALIAS, backup);
  }

  async dropBackups(conn: DuckConn, backups: readonly BackupRecord[]): Promise<void> {
    await this.attach(conn);
    await dropDuckBackups(conn, TARGET_ALIAS, backups);
  }

  async close(): Promise<void> {}

  async openChangeSink(conn: DuckConn, spec: ChangeSinkSpec): Promise<ChangeSink> {
    await this.attach(conn);
    const { DuckdbChangeSink } = await import('./duckdb-cdc-sink.js');
    return DuckdbChangeSink.open(conn, TARGET_ALIAS, this.config.table, this.config.database, this.config.create, spec);
  }

  describe(): string {
    return `duckdb table ${this.config.table} in ${this.config.database}`;
  }
}

/** The chunk's output numbered in a temporary table, and the rows of it the table refused. */
interface Isolated {
  readonly rows: string;
  readonly bad: number[];
  readonly rejected: Rejects;
}

/** DuckDB's statements for the shared chunk transaction: the chunk's query is the staged rows, and MERGE reads it directly. */
class DuckChunkTransaction extends SqlChunkTransaction {
  protected override rangeWhere(range: NonNullable<ChunkWrite['range']>): string {
    return duckRangeCondition(columnExpr(range, quoteIdent), range);
  }

  constructor(
    w: ChunkWrite,
    table: string,
    names: readonly string[],
    private readonly job: string,
    private readonly isolated: Isolated | undefined,
    private readonly makeBackupTable: () => Promise<void> = async () => {},
  ) {
    super(w, table, names);
  }

  /** The replace's DELETE, for the probes that find refused rows before the real transaction. */
  async deleteChunkRange(): Promise<void> {
    if (this.w.mode === 'replace') await this.deleteRange();
  }

  protected async exec(text: string): Promise<number> {
    const rows = await this.w.conn.all<{ Count?: string }>(text, this.w.signal);
    return Number(rows[0]?.Count ?? 0);
  }

  protected override async prepareBackup(): Promise<void> {
    if (this.w.backup !== undefined) await this.makeBackupTable();
  }

  protected override async begin(): Promise<void> {
    await this.w.conn.run('BEGIN TRANSACTION', this.w.signal);
  }

  protected override async commit(): Promise<void> {
    await this.w.conn.run('COMMIT', this.w.signal);
  }

  protected override async rollback(): Promise<void> {
    await this.w.conn.run('ROLLBACK').catch(() => {});
  }

  // Before anything changes, in the same transaction: the backup matches what the write replaces.
  protected backup(): Promise<BackupTaken> {
    return backupDuckRows(this.w, this.table, TARGET_ALIAS, this.job, this.names);
  }

  protected async load(): Promise<ChunkLoad> {
    const from = this.isolated === undefined ? `(${this.w.query})` : acceptedRows(this.isolated.rows, this.isolated.bad);
    return { read: undefined, written: await this.exec(`INSERT INTO ${this.table} BY NAME SELECT * FROM ${from}`) };
  }

  /** Nothing to stage: MERGE and the backup read the chunk's query itself. */
  protected async stage(): Promise<ChunkLoad> {
    return { read: undefined, written: 0 };
  }

  protected override stagedRows(): string {
    return `(${this.w.query})`;
  }

  protected async mark(written: number): Promise<void> {
    await this.w.conn.run(
      `INSERT OR REPLACE INTO ${MARKERS.table} VALUES (${quoteLiteral(this.job)}, ${quoteLiteral(this.w.chunk.key)}, ${quoteLiteral(this.w.lease)}, ${written}, now())`,
      this.w.signal,
    );
  }
}
