// A PostgreSQL table as a target: each chunk is COPYed in (through a temporary staging table for merges) in one transaction with its marks.

import { databaseIdentity } from '../connection-config.js';
import { existsSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type pg from 'pg';
import type { Chunk } from '../../core/chunk.js';
import { BackfillError, PlanError } from '../../core/errors.js';
import { quoteIdent, quoteLiteral, quoteQualified } from '../../core/sql-text.js';
import type { BackupRecord } from '../../core/write.js';
import type { DuckConn } from '../../runtime/duckdb-session.js';
import { sweepDeadScratch } from '../../runtime/scratch-dirs.js';
import type { ChangeSink, ChangeSinkSpec } from '../change-sink.js';
import { CHUNK_INDEX_COLUMN, type ChunkWrite, type ColumnInfo, type CopyFormat, type OnePassOutput, type OnePassWriter, type OpenedChunk, type Target, type TargetCapabilities, type TargetContext, type TargetKeyRead, type TargetRead, type WriteResult } from '../connector.js';
import { dollarParams, forgetMarkers, markerOf, readMarker, type MarkerTable } from '../sql/sql-commit-markers.js';
import { dropPgBackups, ensurePgBackupTable, restorePgRows } from './postgres-backup.js';
import { PG_MARKERS, PgChunkTransaction, type PgWriteState } from './postgres-chunk-transaction.js';
import type { PostgresTargetConfig } from './postgres-config.js';
import { createPool, pgError, pgTypeOf, type PgPool } from './postgres-pool.js';
import { readPgKeys, readPgRange, type PgReadBack } from './postgres-readback.js';

const MARKERS: MarkerTable = { table: PG_MARKERS, rows: 'rows', bind: dollarParams };

export class PostgresTarget implements Target, OnePassWriter {
  /** One pass: each chunk's rows go to a file of its own, COPYed in when the chunk is published. */
  readonly onePass: OnePassWriter = this;
  readonly capabilities: TargetCapabilities = { modes: ['append', 'replace', 'merge'], replaceBy: 'range', mergeScope: 'table', transactional: true, maxConcurrentWrites: undefined, copyText: true, onePassModes: ['append', 'replace', 'merge'] };
  private readonly db: PgPool;
  private columns: readonly ColumnInfo[] = [];
  /** How chunks are merged and loaded, chosen at prepare; the chunk transactions may turn insert-first off. */
  private state: PgWriteState;
  /** Text columns whose collation already orders bytes (learnt in prepare). */
  private bytewiseAlready = new Set<string>();
  /** The range with `bytewise` left to the text columns that need COLLATE "C" here. */
  private ownRange<T extends { readonly range: ChunkWrite['range'] }>(r: T): T {
    if (r.range?.bytewise === undefined) return r;
    return { ...r, range: { ...r.range, bytewise: r.range.bytewise.filter((c) => !this.bytewiseAlready.has(c)) } };
  }
  private readonly loadDir: string;
  readonly database: string;

  constructor(
    private readonly config: PostgresTargetConfig,
    private readonly ctx: TargetContext,
  ) {
    this.db = createPool(config.connection, config.ssl, config.pool.max, 'target');
    this.loadDir = join(ctx.stateDir, 'load');
    this.state = { job: ctx.job, mergeWith: 'merge', copyFormat: 'text', leadingIndexed: new Set(), tryInsertFirst: true, rangeBackups: true };
    this.database = databaseIdentity(this.db.fields, 5432);
  }

  private get table(): string {
    return quoteQualified(this.config.table);
  }

  async attach(): Promise<void> {}

  async prepare(_conn: DuckConn, columns: readonly ColumnInfo[]): Promise<void> {
    this.columns = columns;
    // Load files and one-pass folders of a process killed mid-chunk are never removed by it.
    sweepDeadScratch(this.loadDir);
    const client = await this.connect('preparing the target');
    try {
      await client.query(`CREATE SCHEMA IF NOT EXISTS backfill`);
      await client.query(`CREATE TABLE IF NOT EXISTS ${PG_MARKERS} (job text NOT NULL, chunk_key text NOT NULL, lease text NOT NULL,
        rows bigint NOT NULL, committed_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (job, chunk_key))`);
      const exists = await client.query<{ oid: string | null }>(`SELECT to_regclass($1)::oid::text AS oid`, [this.table]);
      const oid = exists.rows[0]?.oid ?? null;
      if (oid === null) {
        if (!this.config.create) throw new PlanError(`target.table: ${this.config.table} does not exist in ${this.db.name} (set create: true to create it)`);
        const defs = columns.map((c) => `${quoteIdent(c.name)} ${c.pgType ?? pgTypeOf(c.type)}`);
        if (this.ctx.write.key.length > 0) defs.push(`PRIMARY KEY (${this.ctx.write.key.map(quoteIdent).join(', ')})`);
        await client.query(`CREATE TABLE IF NOT EXISTS ${this.table} (${defs.join(', ')})`);
        // Replace deletes each chunk's range, and a backed-up merge may keep it: an index that leads
        // with the chunk column finds it without scanning the whole table (DESIGN, rule 7).
        const chunkColumn = this.ctx.chunking.column;
        if (chunkColumn !== undefined && columns.some((c) => c.name === chunkColumn) && this.ctx.write.key[0] !== chunkColumn) await client.query(this.chunkIndexSql(true, chunkColumn));
      } else {
        const have = await client.query<{ name: string }>(`SELECT attname AS name FROM pg_attribute WHERE attrelid = $1::oid AND attnum > 0 AND NOT attisdropped`, [oid]);
        const names = new Set(have.rows.map((r) => r.name));
        const missing = columns.filter((c) => !names.has(c.name)).map((c) => c.name);
        if (missing.length > 0) throw new PlanError(`target.table: ${this.config.table} has no column(s) ${missing.join(', ')} that the transform produces`);
      }
      const copyFormat = await this.chooseCopyFormat(client, columns);
      this.state = { ...this.state, copyFormat };
      // Text columns already compared byte by byte need no COLLATE "C" (which their index could not serve).
      const bytewise = await client.query<{ name: string }>(`SELECT a.attname AS name FROM pg_attribute a JOIN pg_collation c ON c.oid = a.attcollation WHERE a.attrelid = to_regclass($1)
        AND (CASE WHEN c.collname = 'default' THEN (SELECT datcollate FROM pg_database WHERE datname = current_database()) ELSE c.collname END) ~* '^(C|POSIX|C\.utf-?8|ucs_basic)$'`, [this.table]);
      this.bytewiseAlready = new Set(bytewise.rows.map((r) => r.name));
      if (this.ctx.write.mode === 'merge') {
        const mergeWith = await this.chooseMerge(client);
        const leading = await client.query<{ name: string }>(
          `SELECT DISTINCT a.attname AS name FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
           WHERE i.indrelid = to_regclass($1) AND i.indpred IS NULL`,
          [this.table],
        );
        this.state = { ...this.state, mergeWith, leadingIndexed: new Set(leading.rows.map((r) => r.name)) };
      }
    } catch (err) {
      throw err instanceof PlanError ? err : pgError(err, 'preparing the target', this.db);
    } finally {
      client.release();
    }
  }

  /** The index that leads with the chunk column, named after the table so that two runs racing to create it make one. */
  private chunkIndexSql(ifNotExists: boolean, column: string): string {
    const table = this.config.table.split('.').pop() as string;
    const name = `${table}_${column}_backfill_idx`.slice(0, 63);
    return `CREATE INDEX ${ifNotExists ? 'IF NOT EXISTS ' : ''}${quoteIdent(name)} ON ${this.table} (${quoteIdent(column)})`;
  }

  /** Replace into an existing table whose indexes do not lead with the chunk column: the statement that adds one. */
  async indexAdvice(): Promise<readonly string[]> {
    if (this.ctx.write.mode === 'merge') return this.mergeKeyAdvice();
    const column = this.ctx.chunking.column;
    // A job without chunk column replaces the whole table: no range to find.
    if (this.ctx.write.mode !== 'replace' || column === undefined) return [];
    const res = await this.db.pool.query<{ has_column: boolean; leads: boolean }>(
      `SELECT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass($1) AND attname = $2 AND attnum > 0 AND NOT attisdropped) AS has_column,
              EXISTS (SELECT 1 FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
                      WHERE i.indrelid = to_regclass($1) AND a.attname = $2 AND i.indpred IS NULL AND i.indisvalid) AS leads`,
      [this.table, column],
    );
    const row = res.rows[0];
    if (row === undefined || !row.has_column || row.leads) return [];
    return [
      `${this.config.table} has no index that leads with the chunk column "${column}": replace deletes each chunk's range by scanning the whole table, ` +
        `so every chunk gets slower as the table grows. Add one: ${this.chunkIndexSql(false, column)};`,
    ];
  }

  /**
   * Merge without a unique index on the key: the upsert runs as MERGE, which finds each key by
   * scanning unless an index serves it, and nothing stops a key from being in the table twice.
   */
  private async mergeKeyAdvice(): Promise<readonly string[]> {
    const key = [...this.ctx.write.key].sort();
    if (key.length === 0) return [];
    const res = await this.db.pool.query<{ exists: boolean; unique_key: boolean }>(
      `SELECT to_regclass($1) IS NOT NULL AS exists,
              EXISTS (SELECT 1 FROM pg_index i
                      WHERE i.indrelid = to_regclass($1) AND i.indisunique AND i.indisvalid AND i.indpred IS NULL
                        AND (SELECT array_agg(a.attname::text ORDER BY a.attname::text) FROM pg_attribute a
                             WHERE a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)) = $2::text[]
                        AND array_length(i.indkey, 1) = cardinality($2::text[])) AS unique_key`,
      [this.table, key],
    );
    const row = res.rows[0];
    if (row === undefined || !row.exists || row.unique_key) return [];
    const columns = this.ctx.write.key.map(quoteIdent).join(', ');
    return [
      `${this.config.table} has no unique index on the merge key (${this.ctx.write.key.join(', ')}): each chunk's MERGE looks its keys up without an index ` +
        `and nothing keeps a key from being stored twice. Add one: CREATE UNIQUE INDEX ON ${this.table} (${columns});`,
    ];
  }

  /**
   * Binary COPY carries each value in its type's own wire format, so it skips printing and
   * parsing text on both servers — but only reads back correctly into a column of the same type
   * (an int4 is not an int8). `auto` takes it when every column's type matches the source's.
   */
  private async chooseCopyFormat(client: pg.PoolClient, columns: readonly ColumnInfo[]): Promise<CopyFormat> {
    if (this.config.copyFormat === 'text') return 'text';
    const rows = await client.query<{ name: string; type: string }>(
      `SELECT attname AS name, format_type(atttypid, NULL) AS type FROM pg_attribute WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped`,
      [this.table],
    );
    const types = new Map(rows.rows.map((r) => [r.name, r.type]));
    // A type's modifier (numeric(12,2), varchar(20), timestamp(3)) does not change its binary form; the receiving column applies its own.
    const base = (t: string | undefined): string | undefined => t?.replace(/\([^)]*\)/g, '').replace(/\s+/g, ' ').trim();
    const differ = columns.filter((c) => c.pgType === undefined || base(c.pgType) !== base(types.get(c.name)));
    if (differ.length === 0) return 'binary';
    if (this.config.copyFormat === 'binary') {
      const c = differ[0] as ColumnInfo;
      throw new PlanError(
        `target.copyFormat: binary needs the same column types in source and target, but "${c.name}" is ${c.pgType ?? `${c.type} (computed by the engine)`} in the source and ${types.get(c.name) ?? 'missing'} in ${this.config.table}; use copyFormat: text or auto`,
      );
    }
    return 'text';
  }

  async addColumns(_conn: DuckConn, columns: readonly ColumnInfo[]): Promise<readonly string[]> {
    return this.alter('adding columns', async (client, names) => {
      const missing = columns.filter((c) => !names.has(c.name));
      for (const c of missing) await client.query(`ALTER TABLE ${this.table} ADD COLUMN IF NOT EXISTS ${quoteIdent(c.name)} ${c.pgType ?? pgTypeOf(c.type)}`);
      return missing.map((c) => c.name);
    });
  }

  async widenColumns(_conn: DuckConn, columns: readonly ColumnInfo[]): Promise<void> {
    await this.alter('widening columns', async (client, names) => {
      for (const c of columns.filter((x) => names.has(x.name))) {
        const type = pgTypeOf(c.type);
        await client.query(`ALTER TABLE ${this.table} ALTER COLUMN ${quoteIdent(c.name)} TYPE ${type} USING ${quoteIdent(c.name)}::${type}`);
      }
      return [];
    });
  }

  /** Schema evolution in one transaction; nothing to do while the table does not exist (prepare creates it whole). */
  private async alter(what: string, body: (client: pg.PoolClient, names: Set<string>) => Promise<string[]>): Promise<string[]> {
    const client = await this.connect(what);
    try {
      const exists = await client.query<{ oid: string | null }>(`SELECT to_regclass($1)::oid::text AS oid`, [this.table]);
      const oid = exists.rows[0]?.oid ?? null;
      if (oid === null) return [];
      await client.query('BEGIN');
      const have = await client.query<{ name: string }>(`SELECT attname AS name FROM pg_attribute WHERE attrelid = $1::oid AND attnum > 0 AND NOT attisdropped`, [oid]);
      const done = await body(client, new Set(have.rows.map((r) => r.name)));
      await client.query('COMMIT');
      return done;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => {});
      throw pgError(err, `${what} to ${this.config.table}`, this.db);
    } finally {
      client.release();
    }
  }

  /** INSERT … ON CONFLICT needs a unique index on exactly the key; MERGE works without one. */
  private async chooseMerge(client: pg.PoolClient): Promise<'on-conflict' | 'merge'> {
    if (this.config.mergeWith !== 'auto') return this.config.mergeWith;
    const res = await client.query<{ cols: string[] }>(
      `SELECT array_agg(a.attname::text ORDER BY a.attname) AS cols FROM pg_index i
         JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
       WHERE i.indrelid = to_regclass($1) AND i.indisunique AND i.indpred IS NULL GROUP BY i.indexrelid`,
      [this.table],
    );
    const key = [...this.ctx.write.key].sort().join('\0');
    return res.rows.some((r) => r.cols.join('\0') === key) ? 'on-conflict' : 'merge';
  }

  async committedLease(_conn: DuckConn, chunk: Chunk): Promise<{ lease: string; rows: number } | undefined> {
    const read = readMarker(MARKERS, this.ctx.job, chunk.key);
    const res = await this.db.pool.query(read.text, read.values).catch((err: unknown) => {
      throw pgError(err, 'reading commit markers', this.db);
    });
    return markerOf(MARKERS, res.rows[0] as Record<string, unknown> | undefined);
  }

  async forgetCommits(_conn: DuckConn, keys: readonly string[]): Promise<void> {
    for (const forget of forgetMarkers(MARKERS, this.ctx.job, keys)) {
      await this.db.pool.query(forget.text, forget.values).catch((err: unknown) => {
        throw pgError(err, 'forgetting commit markers', this.db);
      });
    }
  }

  /** bytea reads hex as \x…; everything else DuckDB prints the way PostgreSQL parses it. */
  private csvExprs(): string {
    return this.columns.map((c) => (c.type === 'BLOB' ? `'\\x' || hex(${quoteIdent(c.name)}) AS ${quoteIdent(c.name)}` : quoteIdent(c.name))).join(', ');
  }

  async write(w: ChunkWrite): Promise<WriteResult> {
    mkdirSync(this.loadDir, { recursive: true });
    const file = join(this.loadDir, `${process.pid}-${w.chunk.tag}-${w.token}.csv`);
    try {
      if (w.copyIn === undefined && w.pushdown === undefined) {
        await w.conn.run(`COPY (SELECT ${this.csvExprs()} FROM (${w.query})) TO ${quoteLiteral(file)} (FORMAT csv, HEADER false)`, w.signal);
      }
      return await this.commit(w, [file]);
    } finally {
      rmSync(file, { force: true });
    }
  }

  /** One pass over the source writes every chunk's rows as CSV files, ready to COPY. */
  async writeAll(conn: DuckConn, query: string, signal: AbortSignal): Promise<OnePassOutput> {
    const root = join(this.loadDir, `${process.pid}-all-${Date.now().toString(36)}`);
    rmSync(root, { recursive: true, force: true });
    mkdirSync(root, { recursive: true });
    const done = await conn.all<{ Count: string }>(
      `COPY (SELECT ${this.csvExprs()}, ${quoteIdent(CHUNK_INDEX_COLUMN)} FROM (${query})) TO ${quoteLiteral(root)}
       (FORMAT csv, HEADER false, PARTITION_BY (${quoteIdent(CHUNK_INDEX_COLUMN)}))`,
      signal,
    );
    const chunks = new Map<string, string[]>();
    for (const folder of readdirSync(root)) {
      const match = new RegExp(`^${CHUNK_INDEX_COLUMN}=(-?\\d+)$`).exec(folder);
      if (match === null) continue;
      chunks.set(match[1] as string, readdirSync(join(root, folder)).map((f) => join(root, folder, f)));
    }
    const rows = Number(done[0]?.Count ?? 0);
    return { chunks, rows, cleanup: () => rmSync(root, { recursive: true, force: true }) };
  }

  shareRelation(staged: unknown): string | undefined {
    const files = staged as string[] | undefined;
    if (files === undefined || files.length === 0) return undefined;
    const columns = `{${this.columns.map((c) => `${quoteLiteral(c.name)}: 'VARCHAR'`).join(', ')}}`;
    return `read_csv([${files.map(quoteLiteral).join(', ')}], header = false, auto_detect = false, columns = ${columns})`;
  }

  async publishChunk(w: ChunkWrite, staged: unknown): Promise<WriteResult> {
    const files = (staged as string[] | undefined) ?? [];
    const result = await this.commit(w, files);
    for (const file of files) rmSync(file, { force: true });
    return result;
  }

  /** The chunk's transaction (sql/sql-chunk-transaction.ts): clear its range (replace), load its rows, apply the mode, write the marks. */
  private async commit(given: ChunkWrite, files: readonly string[]): Promise<WriteResult> {
    const w = this.ownRange(given);
    try {
      const client = await this.connect(`writing chunk ${w.chunk.key}`);
      let broken = false;
      const onAbort = (): void => {
        // Ends the transaction server-side: a cancelled chunk leaves nothing behind.
        broken = true;
        (client as unknown as { connection?: { stream?: { destroy(): void } } }).connection?.stream?.destroy();
      };
      w.signal.addEventListener('abort', onAbort, { once: true });
      let tx: PgChunkTransaction | undefined;
      try {
        let backupTable: string | undefined;
        try {
          backupTable = w.backup === undefined ? undefined : await ensurePgBackupTable(client, this.table, this.config.table, this.ctx.job, w.backup.runId);
        } catch (err) {
          await client.query('ROLLBACK').catch(() => {
            broken = true;
          });
          throw err;
        }
        tx = new PgChunkTransaction(w, this.table, this.columns.map((c) => c.name), client, this.state, files, backupTable);
        // What COPY sends: the chunk's CSV files (a COPY stream counts its own bytes as they pass);
        // rows moved by INSERT … SELECT inside the database pass no bytes the engine could count.
        const fileBytes = w.pushdown !== undefined ? null : files.reduce((n, f) => n + (existsSync(f) ? statSync(f).size : 0), 0);
        const done = await tx.run(fileBytes);
        const read = done.read ?? done.written;
        return { rowsWritten: done.written, bytes: done.bytes, rowsRead: read, marked: done.marked, ...(done.rejected === undefined ? {} : { rejected: done.rejected }), ...(done.backup === undefined ? {} : { backup: done.backup }) };
      } finally {
        w.signal.removeEventListener('abort', onAbort);
        client.release(broken || tx?.broken === true);
      }
    } catch (err) {
      if (err instanceof BackfillError) throw err;
      throw pgError(err, `writing chunk ${w.chunk.key}`, this.db);
    }
  }

  private async connect(what: string): Promise<pg.PoolClient> {
    try {
      return await this.db.pool.connect();
    } catch (err) {
      throw pgError(err, what, this.db);
    }
  }

  async readChunk(_conn: DuckConn, read: TargetRead, signal: AbortSignal): Promise<OpenedChunk> {
    return readPgRange(this.readBack, this.ownRange(read), signal);
  }

  async readKeys(conn: DuckConn, read: TargetKeyRead, signal: AbortSignal): Promise<OpenedChunk> {
    return readPgKeys(this.readBack, conn, read, signal);
  }

  private get readBack(): PgReadBack {
    return { db: this.db, table: this.table, dir: join(this.ctx.stateDir, 'fetch') };
  }

  async restoreBackup(_conn: DuckConn, backup: BackupRecord): Promise<{ rows: number; checksum: string }> {
    const client = await this.connect(`restoring chunk ${backup.chunkKey}`);
    try {
      return await restorePgRows(client, this.table, backup);
    } catch (err) {
      throw err instanceof BackfillError ? err : pgError(err, `restoring chunk ${backup.chunkKey}`, this.db);
    } finally {
      client.release();
    }
  }

  async dropBackups(_conn: DuckConn, backups: readonly BackupRecord[]): Promise<void> {
    const client = await this.connect('removing backups');
    try {
      await dropPgBackups(client, backups);
    } catch (err) {
      throw pgError(err, 'removing backups', this.db);
    } finally {
      client.release();
    }
  }

  async openChangeSink(_conn: DuckConn, spec: ChangeSinkSpec): Promise<ChangeSink> {
    const { PostgresChangeSink } = await import('./postgres-cdc-sink.js');
    return PostgresChangeSink.open(this.db, this.config.table, this.config.create, spec);
  }

  describe(): string {
    return `postgres table ${this.config.table} in ${this.db.name}`;
  }

  async close(): Promise<void> {
    await this.db.pool.end();
  }
}
