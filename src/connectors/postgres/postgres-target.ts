// A PostgreSQL table as a target: COPY each chunk into a temporary staging table, then one transaction applies it.

import { createReadStream, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import type { Chunk } from '../../core/chunk.js';
import { BackfillError, LedgerError, PlanError } from '../../core/errors.js';
import { quoteIdent, quoteLiteral, quoteQualified } from '../../core/sql-text.js';
import type { Job } from '../../job/job.js';
import { CHUNK_INDEX_COLUMN, type ChunkWrite, type ColumnInfo, type CopyFormat, type OnePassOutput, type OpenedChunk, type Rejects, type Target, type TargetCapabilities, type TargetKeyRead, type TargetRead, type WriteResult } from '../connector.js';
import { copyIsolating } from './postgres-rejects.js';
import type { DuckConn } from '../../runtime/duckdb-session.js';
import type { BackupRecord } from '../../ledger/ledger.js';
import type { BackupTaken } from '../connector.js';
import type { ChangeSink, ChangeSinkSpec } from '../change-sink.js';
import { backupPgRows, dropPgBackups, ensurePgBackupTable, restorePgRows } from './postgres-backup.js';
import type { PostgresTargetConfig } from './postgres-config.js';
import { createPool, pgError, pgTypeOf, type PgPool } from './postgres-pool.js';
import { readPgKeys, readPgRange, type PgReadBack } from './postgres-readback.js';

const MARKERS = 'backfill.chunk_commits';
const UNIQUE_VIOLATION = '23505';

export class PostgresTarget implements Target {
  readonly capabilities: TargetCapabilities = { modes: ['append', 'replace', 'merge'], replaceBy: 'range', mergeScope: 'table', transactional: true, maxConcurrentWrites: undefined, copyText: true, onePassModes: ['append', 'replace', 'merge'] };
  private readonly db: PgPool;
  private columns: readonly ColumnInfo[] = [];
  private mergeWith: 'on-conflict' | 'merge' = 'merge';
  /** Until a chunk meets an existing key, merges load straight into the table (see insertFirst). */
  private tryInsertFirst = true;
  /** Columns that lead an index of the table: a range on one of them is found without a scan. */
  private leadingIndexed = new Set<string>();
  /** Backed-up merges try insert-first with a range backup until a chunk's rows land outside its range. */
  private rangeBackups = true;
  /** How a chunk streamed from a PostgreSQL source travels (see chooseCopyFormat). */
  private copyFormat: CopyFormat = 'text';
  private readonly loadDir: string;
  readonly database: string;

  constructor(
    private readonly config: PostgresTargetConfig,
    private readonly job: Job,
  ) {
    this.db = createPool(config.connection, config.ssl, config.pool.max, 'target');
    this.loadDir = join(job.stateDir, 'load');
    const host = this.db.fields.host.toLowerCase();
    this.database = `${host === 'localhost' ? '127.0.0.1' : host}:${this.db.fields.port ?? 5432}/${this.db.fields.database}`;
  }

  private get table(): string {
    return quoteQualified(this.config.table);
  }

  async attach(): Promise<void> {}

  async prepare(_conn: DuckConn, columns: readonly ColumnInfo[]): Promise<void> {
    this.columns = columns;
    const client = await this.connect('preparing the target');
    try {
      await client.query(`CREATE SCHEMA IF NOT EXISTS backfill`);
      await client.query(`CREATE TABLE IF NOT EXISTS ${MARKERS} (job text NOT NULL, chunk_key text NOT NULL, lease text NOT NULL,
        rows bigint NOT NULL, committed_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (job, chunk_key))`);
      const exists = await client.query<{ oid: string | null }>(`SELECT to_regclass($1)::oid::text AS oid`, [this.table]);
      const oid = exists.rows[0]?.oid ?? null;
      if (oid === null) {
        if (!this.config.create) throw new PlanError(`target.table: ${this.config.table} does not exist in ${this.db.name} (set create: true to create it)`);
        const defs = columns.map((c) => `${quoteIdent(c.name)} ${c.pgType ?? pgTypeOf(c.type)}`);
        if (this.job.write.key.length > 0) defs.push(`PRIMARY KEY (${this.job.write.key.map(quoteIdent).join(', ')})`);
        await client.query(`CREATE TABLE IF NOT EXISTS ${this.table} (${defs.join(', ')})`);
      } else {
        const have = await client.query<{ name: string }>(`SELECT attname AS name FROM pg_attribute WHERE attrelid = $1::oid AND attnum > 0 AND NOT attisdropped`, [oid]);
        const names = new Set(have.rows.map((r) => r.name));
        const missing = columns.filter((c) => !names.has(c.name)).map((c) => c.name);
        if (missing.length > 0) throw new PlanError(`target.table: ${this.config.table} has no column(s) ${missing.join(', ')} that the transform produces`);
      }
      this.copyFormat = await this.chooseCopyFormat(client, columns);
      if (this.job.write.mode === 'merge') {
        this.mergeWith = await this.chooseMerge(client);
        const leading = await client.query<{ name: string }>(
          `SELECT DISTINCT a.attname AS name FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
           WHERE i.indrelid = to_regclass($1) AND i.indpred IS NULL`,
          [this.table],
        );
        this.leadingIndexed = new Set(leading.rows.map((r) => r.name));
      }
    } catch (err) {
      throw err instanceof PlanError ? err : pgError(err, 'preparing the target', this.db);
    } finally {
      client.release();
    }
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
    const key = [...this.job.write.key].sort().join('\0');
    return res.rows.some((r) => r.cols.join('\0') === key) ? 'on-conflict' : 'merge';
  }

  async committedLease(_conn: DuckConn, chunk: Chunk): Promise<{ lease: string; rows: number } | undefined> {
    const res = await this.db.pool
      .query<{ lease: string; rows: string }>(`SELECT lease, rows FROM ${MARKERS} WHERE job = $1 AND chunk_key = $2`, [this.job.name, chunk.key])
      .catch((err: unknown) => {
        throw pgError(err, 'reading commit markers', this.db);
      });
    const row = res.rows[0];
    return row === undefined ? undefined : { lease: row.lease, rows: Number(row.rows) };
  }

  async forgetCommits(_conn: DuckConn, keys: readonly string[]): Promise<void> {
    await this.db.pool.query(`DELETE FROM ${MARKERS} WHERE job = $1 AND chunk_key = ANY ($2::text[])`, [this.job.name, [...keys]]).catch((err: unknown) => {
      throw pgError(err, 'forgetting commit markers', this.db);
    });
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

  /** The chunk's transaction: clear its range (replace), load its rows, apply the mode, write the marks. */
  private async commit(w: ChunkWrite, files: readonly string[]): Promise<WriteResult> {
    const names = this.columns.map((c) => quoteIdent(c.name));
    try {
      const client = await this.connect(`writing chunk ${w.chunk.key}`);
      let broken = false;
      const onAbort = (): void => {
        // Ends the transaction server-side: a cancelled chunk leaves nothing behind.
        broken = true;
        (client as unknown as { connection?: { stream?: { destroy(): void } } }).connection?.stream?.destroy();
      };
      w.signal.addEventListener('abort', onAbort, { once: true });
      try {
        const backupTable = w.backup === undefined ? undefined : await ensurePgBackupTable(client, this.table, this.config.table, this.job.name, w.backup.runId);
        await client.query('BEGIN');
        // Append and replace load straight into the table (one pass of index work, like a plain
        // COPY); merge needs the rows beside the table first, in an unlogged temporary table.
        // The backup is taken in this transaction before the rows it keeps can change (merge: its
        // range before a straight load, or the staged keys' rows before the upsert).
        let backup: BackupTaken | undefined;
        if (backupTable !== undefined && w.mode !== 'merge') backup = await backupPgRows(client, w, this.table, backupTable, this.table);
        if (w.mode === 'replace') await this.deleteRange(client, w);
        let rejected: Rejects | undefined;
        const loadInto = async (into: string): Promise<number> => {
          if (w.copyIn !== undefined || w.pushdown !== undefined) return this.load(client, w, names, '', into);
          if ((w.maxRejects ?? 0) > 0) {
            // Refused rows are isolated and set aside; the transaction keeps exactly the accepted ones.
            const keys = w.key.map((k) => this.columns.findIndex((c) => c.name === k));
            const loaded = await copyIsolating(client, `COPY ${into} (${names.join(', ')}) FROM STDIN (FORMAT csv)`, files, w.maxRejects ?? 0, keys, w.signal);
            rejected = { count: loaded.rejected.length, rows: loaded.rejected };
            return loaded.offered;
          }
          let n = 0;
          for (const file of files) n += await this.load(client, w, names, file, into);
          return n;
        };
        let read: number;
        let written: number;
        // A merge that sets rows aside as rejects would take an existing key for a refusal: it stages.
        const inserted = w.mode === 'merge' && (w.maxRejects ?? 0) === 0 ? await this.insertFirst(client, w, loadInto, backupTable) : undefined;
        if (inserted !== undefined) {
          read = written = inserted.rows;
          backup = inserted.backup;
        } else if (w.mode === 'merge') {
          await client.query(`CREATE TEMP TABLE backfill_stage (LIKE ${this.table} INCLUDING DEFAULTS) ON COMMIT DROP`);
          read = await loadInto('backfill_stage');
          if (backupTable !== undefined) backup = await backupPgRows(client, w, this.table, backupTable, 'backfill_stage');
          written = await this.merge(client, w, names);
        } else {
          read = await loadInto(this.table);
          written = read - (rejected?.count ?? 0);
        }
        await client.query(
          `INSERT INTO ${MARKERS} (job, chunk_key, lease, rows) VALUES ($1, $2, $3, $4)
           ON CONFLICT (job, chunk_key) DO UPDATE SET lease = EXCLUDED.lease, rows = EXCLUDED.rows, committed_at = now()`,
          [this.job.name, w.chunk.key, w.lease, written],
        );
        let marked = false;
        if (w.markDone !== undefined) {
          const mark = w.markDone({ rowsRead: read, rowsWritten: written, bytes: 0, rowsRejected: rejected?.count ?? 0 });
          if ((await client.query(mark.text, mark.values)).rowCount !== 1) {
            throw new LedgerError(`lost the lease on chunk ${w.chunk.key} (token ${w.token}) before commit: another worker took it over`, { code: 'LEASE_LOST' });
          }
          marked = true;
        }
        await client.query('COMMIT');
        return { rowsWritten: written, bytes: 0, rowsRead: read, marked, ...(rejected === undefined ? {} : { rejected }), ...(backup === undefined ? {} : { backup }) };
      } catch (err) {
        await client.query('ROLLBACK').catch(() => {
          broken = true;
        });
        throw err;
      } finally {
        w.signal.removeEventListener('abort', onAbort);
        client.release(broken);
      }
    } catch (err) {
      if (err instanceof BackfillError) throw err;
      throw pgError(err, `writing chunk ${w.chunk.key}`, this.db);
    }
  }

  /** Fill the staging table: from DuckDB's CSV file, or straight from a PostgreSQL source's COPY stream. */
  private async load(client: pg.PoolClient, w: ChunkWrite, names: readonly string[], file: string, into: string): Promise<number> {
    if (w.pushdown !== undefined) {
      // Same database: the chunk never leaves PostgreSQL.
      return (await client.query(`INSERT INTO ${into} (${names.join(', ')}) SELECT ${names.join(', ')} FROM (${w.pushdown}) AS backfill_chunk`)).rowCount ?? 0;
    }
    if (w.copyIn === undefined) {
      const sink = client.query(copyFrom(`COPY ${into} (${names.join(', ')}) FROM STDIN (FORMAT csv)`));
      await pipeline(createReadStream(file, { highWaterMark: 1 << 20 }), sink);
      return sink.rowCount;
    }
    const source = await w.copyIn(this.copyFormat);
    let broken = true;
    try {
      const sink = client.query(copyFrom(`COPY ${into} (${names.join(', ')}) FROM STDIN${this.copyFormat === 'binary' ? ' (FORMAT binary)' : ''}`));
      await pipeline(source.stream, sink, { signal: w.signal });
      broken = false;
      return sink.rowCount;
    } finally {
      source.release(broken);
    }
  }

  /**
   * A merge whose keys are all new is a plain insert: with a unique index on the key, load the
   * chunk straight into the table under a savepoint, once instead of twice (staging, then upsert).
   * The first key that already exists raises a unique violation; the chunk then rolls back to the
   * savepoint and takes the staging path, and the rest of the run goes straight there too, so a
   * re-merge over existing data wastes at most the rows before the first conflict per chunk in
   * flight. A COPY stream from a source cannot be read twice, so it always stages. A backed-up
   * chunk keeps its range (see below) instead of its keys, so it needs no staging either.
   */
  private async insertFirst(
    client: pg.PoolClient, w: ChunkWrite, loadInto: (into: string) => Promise<number>, backupTable: string | undefined,
  ): Promise<{ rows: number; backup: BackupTaken | undefined } | undefined> {
    if (this.mergeWith !== 'on-conflict' || !this.tryInsertFirst || w.copyIn !== undefined) return undefined;
    // Backed up, a chunk whose keys are all new changes no existing row: what it can have changed
    // is its own range, kept as a replace keeps it — when an index finds that range, and the
    // rows loaded all landed in it (checked by counting; a transform may move them out).
    const range = w.range;
    if (backupTable !== undefined && (range === undefined || !this.rangeBackups || !this.leadingIndexed.has(range.column))) return undefined;
    await client.query('SAVEPOINT backfill_insert_first');
    try {
      const backup = backupTable === undefined ? undefined : await backupPgRows(client, { ...w, mode: 'replace' }, this.table, backupTable, this.table);
      const n = await loadInto(this.table);
      if (backup !== undefined && range !== undefined) {
        const col = quoteIdent(range.column);
        const inRange = await client.query<{ n: string }>(`SELECT count(*) AS n FROM ${this.table} WHERE ${col} >= ${range.lo} AND ${col} < ${range.hi}`);
        if (Number(inRange.rows[0]?.n) !== backup.rows + n) {
          this.rangeBackups = false;
          await client.query('ROLLBACK TO SAVEPOINT backfill_insert_first');
          return undefined;
        }
      }
      await client.query('RELEASE SAVEPOINT backfill_insert_first');
      return { rows: n, backup };
    } catch (err) {
      if ((err as { code?: unknown }).code !== UNIQUE_VIOLATION || w.signal.aborted) throw err;
      this.tryInsertFirst = false;
      await client.query('ROLLBACK TO SAVEPOINT backfill_insert_first');
      return undefined;
    }
  }

  private async deleteRange(client: pg.PoolClient, w: ChunkWrite): Promise<void> {
    if (w.range === undefined) throw new PlanError('replace mode needs the chunk column in the transform output');
    const col = quoteIdent(w.range.column);
    await client.query(`DELETE FROM ${this.table} WHERE ${col} >= ${w.range.lo} AND ${col} < ${w.range.hi}`);
  }

  /** Upsert the staged rows; counts only rows inserted or really changed. */
  private async merge(client: pg.PoolClient, w: ChunkWrite, names: readonly string[]): Promise<number> {
    const cols = names.join(', ');
    const keys = new Set(w.key);
    const key = w.key.map(quoteIdent);
    const others = names.filter((n) => !keys.has(this.columns[names.indexOf(n)]?.name ?? ''));
    if (this.mergeWith === 'on-conflict') {
      const update =
        others.length === 0
          ? 'DO NOTHING'
          : `DO UPDATE SET ${others.map((c) => `${c} = EXCLUDED.${c}`).join(', ')}
             WHERE (${others.map((c) => `t.${c}`).join(', ')}) IS DISTINCT FROM (${others.map((c) => `EXCLUDED.${c}`).join(', ')})`;
      const sql = `INSERT INTO ${this.table} AS t (${cols}) SELECT ${cols} FROM backfill_stage ON CONFLICT (${key.join(', ')}) ${update}`;
      return (await client.query(sql)).rowCount ?? 0;
    }
    const on = key.map((k) => `t.${k} = s.${k}`).join(' AND ');
    const changed = others.map((c) => `t.${c} IS DISTINCT FROM s.${c}`).join(' OR ');
    const update = others.length === 0 ? '' : `WHEN MATCHED AND (${changed}) THEN UPDATE SET ${others.map((c) => `${c} = s.${c}`).join(', ')} `;
    const sql = `MERGE INTO ${this.table} AS t USING backfill_stage AS s ON (${on})
      ${update}WHEN NOT MATCHED THEN INSERT (${cols}) VALUES (${names.map((c) => `s.${c}`).join(', ')})`;
    return (await client.query(sql)).rowCount ?? 0;
  }

  private async connect(what: string): Promise<pg.PoolClient> {
    try {
      return await this.db.pool.connect();
    } catch (err) {
      throw pgError(err, what, this.db);
    }
  }

  async readChunk(_conn: DuckConn, read: TargetRead, signal: AbortSignal): Promise<OpenedChunk> {
    return readPgRange(this.readBack, read, signal);
  }

  async readKeys(conn: DuckConn, read: TargetKeyRead, signal: AbortSignal): Promise<OpenedChunk> {
    return readPgKeys(this.readBack, conn, read, signal);
  }

  private get readBack(): PgReadBack {
    return { db: this.db, table: this.table, dir: join(this.job.stateDir, 'fetch') };
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
