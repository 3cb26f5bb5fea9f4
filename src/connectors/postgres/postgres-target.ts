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
import { CHUNK_INDEX_COLUMN, type ChunkWrite, type ColumnInfo, type OnePassOutput, type Target, type TargetCapabilities, type WriteResult } from '../connector.js';
import type { DuckConn } from '../duckdb/duckdb-session.js';
import type { BackupRecord } from '../../ledger/ledger.js';
import type { BackupTaken } from '../connector.js';
import { backupPgRows, dropPgBackups, ensurePgBackupTable, restorePgRows } from './postgres-backup.js';
import type { PostgresTargetConfig } from './postgres-config.js';
import { createPool, pgError, pgTypeOf, type PgPool } from './postgres-pool.js';

const MARKERS = 'backfill.chunk_commits';

export class PostgresTarget implements Target {
  readonly capabilities: TargetCapabilities = { modes: ['append', 'replace', 'merge'], replaceBy: 'range', transactional: true, maxConcurrentWrites: undefined, copyText: true, onePassModes: ['append', 'replace', 'merge'] };
  private readonly db: PgPool;
  private columns: readonly ColumnInfo[] = [];
  private mergeWith: 'on-conflict' | 'merge' = 'merge';
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
      if (this.job.write.mode === 'merge') this.mergeWith = await this.chooseMerge(client);
    } catch (err) {
      throw err instanceof PlanError ? err : pgError(err, 'preparing the target', this.db);
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
        const into = w.mode === 'merge' ? 'backfill_stage' : this.table;
        if (w.mode === 'merge') await client.query(`CREATE TEMP TABLE backfill_stage (LIKE ${this.table} INCLUDING DEFAULTS) ON COMMIT DROP`);
        // The backup is taken in this transaction before the rows it keeps can change (merge: once the staged keys are known).
        let backup: BackupTaken | undefined;
        if (backupTable !== undefined && w.mode !== 'merge') backup = await backupPgRows(client, w, this.table, backupTable, into, names);
        if (w.mode === 'replace') await this.deleteRange(client, w);
        let read = 0;
        if (w.copyIn !== undefined || w.pushdown !== undefined) read = await this.load(client, w, names, '', into);
        else for (const file of files) read += await this.load(client, w, names, file, into);
        if (backupTable !== undefined && w.mode === 'merge') backup = await backupPgRows(client, w, this.table, backupTable, into, names);
        const written = w.mode === 'merge' ? await this.merge(client, w, names) : read;
        await client.query(
          `INSERT INTO ${MARKERS} (job, chunk_key, lease, rows) VALUES ($1, $2, $3, $4)
           ON CONFLICT (job, chunk_key) DO UPDATE SET lease = EXCLUDED.lease, rows = EXCLUDED.rows, committed_at = now()`,
          [this.job.name, w.chunk.key, w.lease, written],
        );
        let marked = false;
        if (w.markDone !== undefined) {
          const mark = w.markDone({ rowsRead: read, rowsWritten: written, bytes: 0 });
          if ((await client.query(mark.text, mark.values)).rowCount !== 1) {
            throw new LedgerError(`lost the lease on chunk ${w.chunk.key} (token ${w.token}) before commit: another worker took it over`, { code: 'LEASE_LOST' });
          }
          marked = true;
        }
        await client.query('COMMIT');
        return { rowsWritten: written, bytes: 0, rowsRead: read, marked, ...(backup === undefined ? {} : { backup }) };
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
      await pipeline(createReadStream(file), sink);
      return sink.rowCount;
    }
    const source = await w.copyIn();
    let broken = true;
    try {
      const sink = client.query(copyFrom(`COPY ${into} (${names.join(', ')}) FROM STDIN`));
      await pipeline(source.stream, sink, { signal: w.signal });
      broken = false;
      return sink.rowCount;
    } finally {
      source.release(broken);
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

  describe(): string {
    return `postgres table ${this.config.table} in ${this.db.name}`;
  }

  async close(): Promise<void> {
    await this.db.pool.end();
  }
}
