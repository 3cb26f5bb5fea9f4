// The shared ledger: tables in a PostgreSQL schema, so workers on several machines can split one backfill.
// Same semantics and record shapes as the embedded SQLite ledger; see ledger.ts for the contract.

import pg from 'pg';
import type { Chunk, ChunkStats } from '../../core/chunk.js';
import { LedgerError, redactSecrets } from '../../core/errors.js';
import type { BackupRecord, ChunkRecord, Lease, Ledger, LedgerReader, RunRecord, RunStatus, WatermarkRecord } from '../ledger.js';
import { POSTGRES_MIGRATIONS, metaTableSql } from './postgres-migrations.js';
import { INSERT_BATCH, postgresStatements, quoteIdent, type PostgresStatements } from './postgres-statements.js';

export const DEFAULT_SCHEMA = 'backfill';

export interface PostgresLedgerOptions {
  /** The schema holding the ledger's tables; wins over a `?schema=` parameter of the URL. Default `backfill`. */
  readonly schema?: string;
  /** How long to wait for a connection before failing. Default 10 s. */
  readonly connectTimeoutMs?: number;
}

/** Where the ledger lives: what pg is given, and what may be printed. */
interface Target {
  readonly connectionString: string;
  readonly schema: string;
  /** The URL with any password redacted: safe in messages. */
  readonly where: string;
}

// bigint (int8) columns hold epoch milliseconds, tokens and counters: read them as numbers, like SQLite does.
// The parser is set on this ledger's pools only, never globally, so other pg users in the process are unaffected.
const INT8 = pg.types.builtins.INT8;
const parseInt8 = (value: string): number => Number(value);
const LEDGER_TYPES: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === INT8 && format !== 'binary' ? parseInt8 : pg.types.getTypeParser(oid, format)) as pg.CustomTypesConfig['getTypeParser'],
};

type Queryable = Pick<pg.Pool | pg.PoolClient, 'query'>;

export class PostgresLedger implements Ledger {
  private readonly pool: pg.Pool;
  private readonly sql: PostgresStatements;
  private readonly target: Target;
  private closed = false;
  /** `host:port/database`: a target in the same database can commit a chunk's mark in its own transaction. */
  readonly database: string;

  private constructor(pool: pg.Pool, target: Target) {
    this.pool = pool;
    this.target = target;
    this.sql = postgresStatements(target.schema);
    this.database = databaseIdentity(target.connectionString);
  }

  /** The fenced `complete` statement, to run inside a target's transaction (exactly one row must change). */
  completeSql(lease: Lease, stats: ChunkStats, durationMs: number): { text: string; values: unknown[] } {
    return { text: this.sql.complete, values: [...keyOf(lease), Date.now(), whole(durationMs), ...statsOf(stats)] };
  }

  /** Connect, create or upgrade the schema (serialised across processes), and return the ledger. */
  static async open(url: string, options: PostgresLedgerOptions = {}): Promise<PostgresLedger> {
    const target = parseTarget(url, options.schema);
    const ledger = new PostgresLedger(createPool(target, options, false), target);
    try {
      await ledger.migrate();
    } catch (err) {
      await ledger.close().catch(() => undefined);
      throw err;
    }
    return ledger;
  }

  /**
   * Open for reading only (every transaction read-only, no migrations), e.g. for `status`;
   * undefined when the ledger's tables do not exist yet.
   */
  static async openReader(url: string, options: PostgresLedgerOptions = {}): Promise<LedgerReader | undefined> {
    const target = parseTarget(url, options.schema);
    const ledger = new PostgresLedger(createPool(target, options, true), target);
    try {
      const version = await ledger.guard('open', (db) => ledger.readVersion(db));
      if (version === 0) {
        await ledger.close();
        return undefined;
      }
      if (version > POSTGRES_MIGRATIONS.length) throw newerSchema(target, version);
      if (version < POSTGRES_MIGRATIONS.length) {
        throw new LedgerError(`the ledger ${target.where} has schema version ${version}; run \`backfill run\` once to upgrade it`);
      }
      return ledger;
    } catch (err) {
      await ledger.close().catch(() => undefined);
      throw err;
    }
  }

  async listChunks(job: string): Promise<ChunkRecord[]> {
    return (await this.query<ChunkRecord>('list chunks', this.sql.listChunks, [job])).rows;
  }

  async getChunk(job: string, key: string): Promise<ChunkRecord | undefined> {
    return (await this.query<ChunkRecord>('read a chunk', this.sql.getChunk, [job, key])).rows[0];
  }

  async listRuns(job: string, limit = 20): Promise<RunRecord[]> {
    return (await this.query<RunRecord>('list runs', this.sql.listRuns, [job, limit])).rows;
  }

  async listBackups(job: string, runId?: string): Promise<BackupRecord[]> {
    return (await this.query<BackupRecord>('list backups', this.sql.listBackups, [job, runId ?? null])).rows;
  }

  async watermark(job: string): Promise<WatermarkRecord | undefined> {
    return (await this.query<WatermarkRecord>('read the watermark', this.sql.watermark, [job])).rows[0];
  }

  async initWatermark(w: { job: string; cursor: string; kind: 'time' | 'key'; value: bigint; runId: string }): Promise<WatermarkRecord> {
    await this.query('create the watermark', this.sql.initWatermark, [w.job, w.cursor, w.kind, w.value.toString(), w.runId, Date.now()]);
    return (await this.watermark(w.job)) as WatermarkRecord;
  }

  async advanceWatermark(job: string, value: bigint, runId: string): Promise<boolean> {
    return (await this.changes('advance the watermark', this.sql.advanceWatermark, [job, value.toString(), runId, Date.now()])) === 1;
  }

  async startWindow(job: string, lo: bigint, hi: bigint, runId: string): Promise<void> {
    await this.query('record the window', this.sql.startWindow, [job, lo.toString(), hi.toString(), runId, Date.now()]);
  }

  async rewindWatermark(job: string, value: bigint): Promise<boolean> {
    return (await this.changes('rewind the watermark', this.sql.rewindWatermark, [job, value.toString(), Date.now()])) === 1;
  }

  async recordBackup(b: Omit<BackupRecord, 'restoredAt'>): Promise<void> {
    await this.query('record a backup', this.sql.recordBackup, [
      b.job, b.runId, b.chunkKey, b.targetKind, b.location, whole(b.rows), whole(b.bytes), b.checksum, b.detail, whole(b.createdAt),
    ]);
  }

  async markBackupRestored(job: string, runId: string, chunkKey: string, at: number): Promise<boolean> {
    return (await this.changes('mark a backup restored', this.sql.markBackupRestored, [job, runId, chunkKey, whole(at)])) === 1;
  }

  async deleteBackups(job: string, runId: string): Promise<number> {
    return this.changes('delete backups', this.sql.deleteBackups, [job, runId]);
  }

  async syncChunks(job: string, chunks: readonly Chunk[]): Promise<void> {
    const now = Date.now();
    await this.transaction('register chunks', async (db) => {
      await db.query(this.sql.ensureTokenRow, [job]);
      for (let start = 0; start < chunks.length; start += INSERT_BATCH) {
        const batch = chunks.slice(start, start + INSERT_BATCH);
        await db.query(this.sql.insertChunks, [
          job,
          batch.map((c) => c.key),
          batch.map((c) => c.kind),
          batch.map((c) => c.lo),
          batch.map((c) => c.hi),
          batch.map((c) => c.tag),
          now,
        ]);
      }
    });
  }

  async claim(job: string, chunk: Chunk, owner: string, runId: string, leaseMs: number): Promise<Lease | undefined> {
    const now = Date.now();
    const { rows } = await this.query<{ attempts: number; generation: number; token: number }>('claim a chunk', this.sql.claim, [
      job,
      chunk.key,
      owner,
      runId,
      now,
      now + whole(leaseMs),
    ]);
    const row = rows[0];
    if (row === undefined) return undefined;
    return { job, chunk, token: row.token, owner, attempt: row.attempts, generation: row.generation };
  }

  async heartbeat(lease: Lease, leaseMs: number): Promise<void> {
    const now = Date.now();
    const changed = await this.changes('extend a lease', this.sql.heartbeat, [...keyOf(lease), now, now + whole(leaseMs)]);
    if (changed !== 1) throw leaseLost(lease, 'heartbeat');
  }

  async complete(lease: Lease, stats: ChunkStats, durationMs: number): Promise<void> {
    const changed = await this.changes('complete a chunk', this.sql.complete, [
      ...keyOf(lease),
      Date.now(),
      whole(durationMs),
      ...statsOf(stats),
    ]);
    if (changed !== 1) throw leaseLost(lease, 'complete');
  }

  async fail(lease: Lease, error: string, durationMs: number): Promise<void> {
    const changed = await this.changes('fail a chunk', this.sql.fail, [...keyOf(lease), Date.now(), whole(durationMs), error]);
    if (changed !== 1) throw leaseLost(lease, 'fail');
  }

  async release(lease: Lease, error?: string): Promise<void> {
    await this.changes('release a chunk', this.sql.release, [...keyOf(lease), Date.now(), error ?? null]);
  }

  async reset(job: string, keys: readonly string[]): Promise<number> {
    if (keys.length === 0) return 0;
    return this.changes('reset chunks', this.sql.reset, [job, [...keys], Date.now()]);
  }

  async forgetChunks(job: string, keys: readonly string[]): Promise<number> {
    if (keys.length === 0) return 0;
    return this.changes('forget chunks', this.sql.forgetChunks, [job, [...keys]]);
  }

  async staleChunks(job: string, now: number, isOwnerAlive: (owner: string) => boolean): Promise<ChunkRecord[]> {
    const running = (await this.query<ChunkRecord>('list running chunks', this.sql.staleChunks, [job])).rows;
    return running.filter((c) => (c.leaseExpiresAt ?? 0) < now || c.leaseOwner === null || !isOwnerAlive(c.leaseOwner));
  }

  async adoptCommitted(job: string, key: string, token: number, stats: ChunkStats): Promise<boolean> {
    return (await this.changes('adopt a committed chunk', this.sql.adoptCommitted, [job, key, token, Date.now(), ...statsOf(stats)])) === 1;
  }

  async resetStale(job: string, key: string, token: number): Promise<boolean> {
    return (await this.changes('reset a stale chunk', this.sql.resetStale, [job, key, token, Date.now()])) === 1;
  }

  async cachedBounds(job: string, fingerprint: string, column: string): Promise<{ min: string | null; max: string | null } | undefined> {
    const { rows } = await this.query<{ min: string | null; max: string | null }>('read cached bounds', this.sql.cachedBounds, [
      job,
      fingerprint,
      column,
    ]);
    return rows[0];
  }

  async saveBounds(job: string, fingerprint: string, column: string, min: string | null, max: string | null): Promise<void> {
    await this.query('save bounds', this.sql.saveBounds, [job, fingerprint, column, min, max, Date.now()]);
  }

  async sourceSchema(job: string): Promise<string | undefined> {
    return (await this.query<{ columns: string }>('read the source schema', this.sql.sourceSchema, [job])).rows[0]?.columns;
  }

  async saveSourceSchema(job: string, columns: string): Promise<void> {
    await this.query('save the source schema', this.sql.saveSourceSchema, [job, columns, Date.now()]);
  }

  async startRun(run: { runId: string; job: string; owner: string; host: string; pid: number; options: string; chunksTotal: number }): Promise<void> {
    await this.query('start a run', this.sql.startRun, [
      run.runId,
      run.job,
      run.owner,
      run.host,
      run.pid,
      Date.now(),
      run.options,
      run.chunksTotal,
    ]);
  }

  async heartbeatRun(runId: string): Promise<void> {
    await this.query('heartbeat a run', this.sql.heartbeatRun, [Date.now(), runId]);
  }

  async finishRun(
    runId: string,
    result: { status: RunStatus; chunksDone: number; chunksFailed: number; rowsRead: number; rowsWritten: number; bytes: number; error?: string },
  ): Promise<void> {
    await this.query('finish a run', this.sql.finishRun, [
      runId,
      result.status,
      Date.now(),
      result.chunksDone,
      result.chunksFailed,
      whole(result.rowsRead),
      whole(result.rowsWritten),
      whole(result.bytes),
      result.error ?? null,
    ]);
  }

  async closeDeadRuns(job: string, isOwnerAlive: (owner: string) => boolean): Promise<number> {
    const runs = (await this.query<{ runId: string; owner: string }>('list running runs', this.sql.runningRuns, [job])).rows;
    const dead = runs.filter((run) => !isOwnerAlive(run.owner)).map((run) => run.runId);
    if (dead.length === 0) return 0;
    return this.changes('close dead runs', this.sql.markRunsInterrupted, [dead]);
  }

  /** Ends the pool; calling it again does nothing. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      await this.pool.end();
    } catch (cause) {
      throw this.wrap('close', cause);
    }
  }

  // ---- internals ---------------------------------------------------------------------------------

  /** Create or upgrade the tables in one transaction, under a lock that other workers' migrations wait on. */
  private async migrate(): Promise<void> {
    const latest = POSTGRES_MIGRATIONS.length;
    await this.transaction('create or upgrade the ledger tables', async (db) => {
      await db.query(this.sql.migrationLock, [this.target.schema]);
      const current = await this.readVersion(db);
      if (current > latest) throw newerSchema(this.target, current);
      if (current === latest) return;
      // CREATE … IF NOT EXISTS still needs the privilege, so only ask for what is missing.
      if ((await db.query(this.sql.schemaExists, [this.target.schema])).rowCount === 0) await db.query(this.sql.createSchema);
      const schema = quoteIdent(this.target.schema);
      await db.query(metaTableSql(schema));
      for (let v = current; v < latest; v++) {
        await db.query((POSTGRES_MIGRATIONS[v] as (schema: string) => string)(schema));
      }
      await db.query(this.sql.writeVersion, [String(latest)]);
    });
  }

  /** The schema version; 0 when the ledger's tables do not exist. */
  private async readVersion(db: Queryable): Promise<number> {
    const meta = `${quoteIdent(this.target.schema)}.backfill_meta`;
    const { rows } = await db.query<{ name: string | null }>(this.sql.metaTable, [meta]);
    if (rows[0]?.name === null || rows[0]?.name === undefined) return 0;
    const version = (await db.query<{ value: string }>(this.sql.readVersion)).rows[0];
    return version === undefined ? 0 : Number(version.value);
  }

  private async query<R extends pg.QueryResultRow = pg.QueryResultRow>(action: string, text: string, values: unknown[]): Promise<pg.QueryResult<R>> {
    return this.guard(action, (db) => db.query<R>(text, values));
  }

  private async changes(action: string, text: string, values: unknown[]): Promise<number> {
    return (await this.query(action, text, values)).rowCount ?? 0;
  }

  /** Run `fn` on the pool; any driver error comes out as a LedgerError whose message is safe to print. */
  private async guard<T>(action: string, fn: (db: Queryable) => Promise<T>): Promise<T> {
    try {
      return await fn(this.pool);
    } catch (cause) {
      throw this.wrap(action, cause);
    }
  }

  private async transaction<T>(action: string, fn: (db: pg.PoolClient) => Promise<T>): Promise<T> {
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (cause) {
      throw this.wrap(`connect to ${action}`, cause);
    }
    let broken: Error | undefined;
    try {
      await client.query('BEGIN');
      const result = await fn(client);
      await client.query('COMMIT');
      return result;
    } catch (cause) {
      try {
        await client.query('ROLLBACK');
      } catch (rollbackError) {
        // The connection is unusable: have the pool discard it rather than hand it out again.
        broken = rollbackError as Error;
      }
      throw this.wrap(action, cause);
    } finally {
      client.release(broken);
    }
  }

  private wrap(action: string, cause: unknown): LedgerError {
    if (cause instanceof LedgerError) return cause;
    return new LedgerError(redactSecrets(`the ledger ${this.target.where}: cannot ${action}: ${driverMessage(cause)}`), { cause });
  }
}

function createPool(target: Target, options: PostgresLedgerOptions, readonly: boolean): pg.Pool {
  const pool = new pg.Pool({
    connectionString: target.connectionString,
    max: 4,
    application_name: 'backfill-ledger',
    connectionTimeoutMillis: options.connectTimeoutMs ?? 10_000,
    types: LEDGER_TYPES,
    // A reader's every transaction is read-only: `status` can never change the ledger by mistake.
    ...(readonly ? { options: '-c default_transaction_read_only=on' } : {}),
  });
  // An idle connection that breaks (server restart, network) must not crash the process; the pool drops it
  // and the next query reports the problem.
  pool.on('error', () => undefined);
  // A checked-out client whose backend is terminated emits 'error' too, besides failing its query.
  pool.on('connect', (client) => client.on('error', () => undefined));
  return pool;
}

/** Take `?schema=` out of the URL (pg must not see it) and check the schema name. */
function parseTarget(url: string, schemaOption: string | undefined): Target {
  const where = redactSecrets(url);
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    // No cause: Node's URL error carries the whole input, password included.
    throw new LedgerError(`the ledger URL ${where} is not a valid URL`);
  }
  const fromUrl = parsed.searchParams.get('schema');
  let connectionString = url;
  if (fromUrl !== null) {
    parsed.searchParams.delete('schema');
    connectionString = parsed.toString();
  }
  const schema = schemaOption ?? (fromUrl === null || fromUrl === '' ? DEFAULT_SCHEMA : fromUrl);
  if (!/^[A-Za-z_][A-Za-z0-9_$]{0,62}$/.test(schema)) {
    throw new LedgerError(`the ledger schema name ${JSON.stringify(schema)} (in ${where}) is not valid: use letters, digits and _ (at most 63)`);
  }
  return { connectionString, schema, where };
}

/** A driver error's message; a failed connection to several addresses is an AggregateError with an empty one. */
function driverMessage(cause: unknown): string {
  if (cause instanceof AggregateError && cause.message === '') {
    return cause.errors.map((e: unknown) => driverMessage(e)).join('; ') || 'connection failed';
  }
  if (cause instanceof Error) {
    const code = (cause as { code?: unknown }).code;
    if (cause.message !== '') return cause.message;
    return typeof code === 'string' ? code : cause.name;
  }
  return String(cause);
}

function keyOf(lease: Lease): [string, string, number] {
  return [lease.job, lease.chunk.key, lease.token];
}

function statsOf(stats: ChunkStats): [number, number, number, number] {
  return [whole(stats.rowsRead), whole(stats.rowsWritten), whole(stats.rowsRejected), whole(stats.bytes)];
}

/** bigint columns take whole numbers only; a fractional duration (from performance.now) is rounded. */
function whole(n: number): number {
  return Math.round(n);
}

function leaseLost(lease: Lease, action: string): LedgerError {
  return new LedgerError(
    `lost the lease on chunk ${lease.chunk.key} (token ${lease.token}) before ${action}: another worker took it over`,
    { code: 'LEASE_LOST' },
  );
}

function newerSchema(target: Target, version: number): LedgerError {
  return new LedgerError(
    `the ledger ${target.where} has schema version ${version}, newer than this backfill understands (${POSTGRES_MIGRATIONS.length}); upgrade backfill`,
  );
}

/** `host:port/database` of a PostgreSQL URL, lower-cased, defaults filled in. */
export function databaseIdentity(url: string): string {
  const parsed = new URL(url);
  const host = decodeURIComponent(parsed.hostname || '127.0.0.1').toLowerCase();
  return `${host === 'localhost' ? '127.0.0.1' : host}:${parsed.port || '5432'}/${decodeURIComponent(parsed.pathname.replace(/^\//, ''))}`;
}
