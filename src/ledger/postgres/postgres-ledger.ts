// The shared ledger: tables in a PostgreSQL schema, so workers on several machines can split one backfill.
// Same semantics and record shapes as the embedded SQLite ledger; see ledger.ts for the contract.

import type { Chunk, ChunkStats } from '../../core/chunk.js';
import { systemClock, type Clock } from '../../core/clock.js';
import type { BackupRecord, ChunkRecord, JobPause, Lease, Ledger, LedgerReader, RecordedPlan, RunRecord, RunStatus, WatermarkRecord } from '../ledger.js';
import { leaseLost } from '../ledger-errors.js';
import { PostgresConnection, databaseIdentity, parseLocation } from './postgres-connection.js';
import { checkReadable, migrate } from './postgres-migrate.js';
import { INSERT_BATCH, postgresStatements, type PostgresStatements } from './postgres-statements.js';

export interface PostgresLedgerOptions {
  /** The schema holding the ledger's tables; wins over a `?schema=` parameter of the URL. Default `backfill`. */
  readonly schema?: string;
  /** How long to wait for a connection before failing. Default 10 s. */
  readonly connectTimeoutMs?: number;
  /**
   * Where every stamp and lease expiry comes from. Default: the system clock. Workers sharing one ledger
   * compare each other's lease expiries, so their clocks must roughly agree (the lease is 60 s for that).
   */
  readonly clock?: Clock;
}

export class PostgresLedger implements Ledger {
  private readonly conn: PostgresConnection;
  private readonly sql: PostgresStatements;
  private readonly clock: Clock;
  /** `host:port/database`: a target in the same database can commit a chunk's mark in its own transaction. */
  readonly database: string;

  private constructor(conn: PostgresConnection, clock: Clock) {
    this.conn = conn;
    this.clock = clock;
    this.sql = postgresStatements(conn.location.schema);
    this.database = databaseIdentity(conn.location.connectionString);
  }

  /** The fenced `complete` statement, to run inside a target's transaction (exactly one row must change). */
  completeSql(lease: Lease, stats: ChunkStats, durationMs: number): { text: string; values: unknown[] } {
    return { text: this.sql.complete, values: [...keyOf(lease), this.clock.now(), whole(durationMs), ...statsOf(stats)] };
  }

  /** Connect, create or upgrade the schema (serialised across processes), and return the ledger. */
  static async open(url: string, options: PostgresLedgerOptions = {}): Promise<PostgresLedger> {
    const ledger = PostgresLedger.connect(url, options, false);
    try {
      await migrate(ledger.conn, ledger.sql);
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
    const ledger = PostgresLedger.connect(url, options, true);
    try {
      if (await checkReadable(ledger.conn, ledger.sql)) return ledger;
      await ledger.close();
      return undefined;
    } catch (err) {
      await ledger.close().catch(() => undefined);
      throw err;
    }
  }

  private static connect(url: string, options: PostgresLedgerOptions, readonly: boolean): PostgresLedger {
    const location = parseLocation(url, options.schema);
    const conn = new PostgresConnection(location, { readonly, connectTimeoutMs: options.connectTimeoutMs });
    return new PostgresLedger(conn, options.clock ?? systemClock);
  }

  async listChunks(job: string): Promise<ChunkRecord[]> {
    return (await this.conn.query<ChunkRecord>('list chunks', this.sql.listChunks, [job])).rows;
  }

  async getChunk(job: string, key: string): Promise<ChunkRecord | undefined> {
    return (await this.conn.query<ChunkRecord>('read a chunk', this.sql.getChunk, [job, key])).rows[0];
  }

  async listRuns(job: string, limit = 20): Promise<RunRecord[]> {
    return (await this.conn.query<RunRecord>('list runs', this.sql.listRuns, [job, limit])).rows;
  }

  async listBackups(job: string, runId?: string): Promise<BackupRecord[]> {
    return (await this.conn.query<BackupRecord>('list backups', this.sql.listBackups, [job, runId ?? null])).rows;
  }

  async watermark(job: string): Promise<WatermarkRecord | undefined> {
    return (await this.conn.query<WatermarkRecord>('read the watermark', this.sql.watermark, [job])).rows[0];
  }

  async changeMarker(job: string): Promise<string> {
    return (await this.conn.query<{ marker: string }>('read the change marker', this.sql.changeMarker, [job])).rows[0]?.marker ?? '';
  }

  async initWatermark(w: { job: string; cursor: string; kind: 'time' | 'key'; value: bigint; runId: string }): Promise<WatermarkRecord> {
    await this.conn.query('create the watermark', this.sql.initWatermark, [w.job, w.cursor, w.kind, w.value.toString(), w.runId, this.clock.now()]);
    return (await this.watermark(w.job)) as WatermarkRecord;
  }

  async advanceWatermark(job: string, value: bigint, runId: string): Promise<boolean> {
    return (await this.conn.changes('advance the watermark', this.sql.advanceWatermark, [job, value.toString(), runId, this.clock.now()])) === 1;
  }

  async startWindow(job: string, lo: bigint, hi: bigint, runId: string): Promise<void> {
    await this.conn.query('record the window', this.sql.startWindow, [job, lo.toString(), hi.toString(), runId, this.clock.now()]);
  }

  async rewindWatermark(job: string, value: bigint): Promise<boolean> {
    return (await this.conn.changes('rewind the watermark', this.sql.rewindWatermark, [job, value.toString(), this.clock.now()])) === 1;
  }

  async recordBackup(b: Omit<BackupRecord, 'restoredAt'>): Promise<void> {
    await this.conn.query('record a backup', this.sql.recordBackup, [
      b.job, b.runId, b.chunkKey, b.targetKind, b.location, whole(b.rows), whole(b.bytes), b.checksum, b.detail, whole(b.createdAt),
    ]);
  }

  async markBackupRestored(job: string, runId: string, chunkKey: string, at: number): Promise<boolean> {
    return (await this.conn.changes('mark a backup restored', this.sql.markBackupRestored, [job, runId, chunkKey, whole(at)])) === 1;
  }

  async deleteBackups(job: string, runId: string): Promise<number> {
    return this.conn.changes('delete backups', this.sql.deleteBackups, [job, runId]);
  }

  async syncChunks(job: string, chunks: readonly Chunk[]): Promise<void> {
    const now = this.clock.now();
    await this.conn.transaction('register chunks', async (db) => {
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
    const now = this.clock.now();
    const { rows } = await this.conn.query<{ attempts: number; generation: number; token: number }>('claim a chunk', this.sql.claim, [
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
    const now = this.clock.now();
    const changed = await this.conn.changes('extend a lease', this.sql.heartbeat, [...keyOf(lease), now, now + whole(leaseMs)]);
    if (changed !== 1) throw leaseLost(lease, 'heartbeat');
  }

  async complete(lease: Lease, stats: ChunkStats, durationMs: number): Promise<void> {
    const changed = await this.conn.changes('complete a chunk', this.sql.complete, [
      ...keyOf(lease),
      this.clock.now(),
      whole(durationMs),
      ...statsOf(stats),
    ]);
    if (changed !== 1) throw leaseLost(lease, 'complete');
  }

  async fail(lease: Lease, error: string, durationMs: number): Promise<void> {
    const changed = await this.conn.changes('fail a chunk', this.sql.fail, [...keyOf(lease), this.clock.now(), whole(durationMs), error]);
    if (changed !== 1) throw leaseLost(lease, 'fail');
  }

  async release(lease: Lease, error?: string): Promise<void> {
    await this.conn.changes('release a chunk', this.sql.release, [...keyOf(lease), this.clock.now(), error ?? null]);
  }

  async reset(job: string, keys: readonly string[]): Promise<number> {
    if (keys.length === 0) return 0;
    return this.conn.changes('reset chunks', this.sql.reset, [job, [...keys], this.clock.now()]);
  }

  async forgetChunks(job: string, keys: readonly string[]): Promise<number> {
    if (keys.length === 0) return 0;
    return this.conn.changes('forget chunks', this.sql.forgetChunks, [job, [...keys]]);
  }

  async staleChunks(job: string, now: number, isOwnerAlive: (owner: string) => boolean): Promise<ChunkRecord[]> {
    const running = (await this.conn.query<ChunkRecord>('list running chunks', this.sql.staleChunks, [job])).rows;
    return running.filter((c) => (c.leaseExpiresAt ?? 0) < now || c.leaseOwner === null || !isOwnerAlive(c.leaseOwner));
  }

  async adoptCommitted(job: string, key: string, token: number, stats: ChunkStats): Promise<boolean> {
    return (await this.conn.changes('adopt a committed chunk', this.sql.adoptCommitted, [job, key, token, this.clock.now(), ...statsOf(stats)])) === 1;
  }

  async resetStale(job: string, key: string, token: number): Promise<boolean> {
    return (await this.conn.changes('reset a stale chunk', this.sql.resetStale, [job, key, token, this.clock.now()])) === 1;
  }

  async cachedBounds(job: string, fingerprint: string, column: string): Promise<{ min: string | null; max: string | null } | undefined> {
    const { rows } = await this.conn.query<{ min: string | null; max: string | null }>('read cached bounds', this.sql.cachedBounds, [
      job,
      fingerprint,
      column,
    ]);
    return rows[0];
  }

  async saveBounds(job: string, fingerprint: string, column: string, min: string | null, max: string | null): Promise<void> {
    await this.conn.query('save bounds', this.sql.saveBounds, [job, fingerprint, column, min, max, this.clock.now()]);
  }

  async chunkPlan(job: string): Promise<RecordedPlan | undefined> {
    const row = (await this.conn.query<{ spec: string; chunks: string }>('read the recorded chunks', this.sql.chunkPlan, [job])).rows[0];
    return row === undefined ? undefined : { spec: row.spec, chunks: JSON.parse(row.chunks) as Chunk[] };
  }

  async saveChunkPlan(job: string, plan: RecordedPlan): Promise<void> {
    await this.conn.query('record the chunks', this.sql.saveChunkPlan, [job, plan.spec, JSON.stringify(plan.chunks), this.clock.now()]);
  }

  async sourceSchema(job: string): Promise<string | undefined> {
    return (await this.conn.query<{ columns: string }>('read the source schema', this.sql.sourceSchema, [job])).rows[0]?.columns;
  }

  async saveSourceSchema(job: string, columns: string): Promise<void> {
    await this.conn.query('save the source schema', this.sql.saveSourceSchema, [job, columns, this.clock.now()]);
  }

  async startRun(run: { runId: string; job: string; owner: string; host: string; pid: number; options: string; chunksTotal: number }): Promise<void> {
    await this.conn.query('start a run', this.sql.startRun, [
      run.runId,
      run.job,
      run.owner,
      run.host,
      run.pid,
      this.clock.now(),
      run.options,
      run.chunksTotal,
    ]);
  }

  async heartbeatRun(runId: string): Promise<void> {
    await this.conn.query('heartbeat a run', this.sql.heartbeatRun, [this.clock.now(), runId]);
  }

  async finishRun(
    runId: string,
    result: { status: RunStatus; chunksDone: number; chunksFailed: number; rowsRead: number; rowsWritten: number; bytes: number; bytesUnknown?: number; error?: string },
  ): Promise<void> {
    await this.conn.query('finish a run', this.sql.finishRun, [
      runId,
      result.status,
      this.clock.now(),
      result.chunksDone,
      result.chunksFailed,
      whole(result.rowsRead),
      whole(result.rowsWritten),
      whole(result.bytes),
      result.error ?? null,
      result.bytesUnknown ?? 0,
    ]);
  }

  async setRunThrottle(runId: string, throttle: string): Promise<void> {
    await this.conn.query('note the run throttle', this.sql.setRunThrottle, [throttle, runId]);
  }

  async pauseOf(job: string): Promise<JobPause | undefined> {
    return (await this.conn.query<JobPause>('read the pause', this.sql.pauseOf, [job])).rows[0];
  }

  async pause(job: string, by: string, reason: string | null): Promise<boolean> {
    return (await this.conn.changes('pause the job', this.sql.pause, [job, this.clock.now(), by, reason])) === 1;
  }

  async resume(job: string): Promise<boolean> {
    return (await this.conn.changes('resume the job', this.sql.resume, [job])) === 1;
  }

  async reserveRate(job: string, costMs: number): Promise<number> {
    const { rows } = await this.conn.query<{ startAt: number }>('reserve the rate', this.sql.reserveRate, [job, this.clock.now(), costMs]);
    return Number(rows[0]?.startAt ?? this.clock.now());
  }

  async adjustRate(job: string, deltaMs: number): Promise<void> {
    await this.conn.query('adjust the rate', this.sql.adjustRate, [job, deltaMs]);
  }

  async closeDeadRuns(job: string, isOwnerAlive: (owner: string) => boolean): Promise<number> {
    const runs = (await this.conn.query<{ runId: string; owner: string }>('list running runs', this.sql.runningRuns, [job])).rows;
    const dead = runs.filter((run) => !isOwnerAlive(run.owner)).map((run) => run.runId);
    if (dead.length === 0) return 0;
    return this.conn.changes('close dead runs', this.sql.markRunsInterrupted, [dead]);
  }

  /** Ends the pool; calling it again does nothing. */
  async close(): Promise<void> {
    await this.conn.close();
  }
}

function keyOf(lease: Lease): [string, string, number] {
  return [lease.job, lease.chunk.key, lease.token];
}

function statsOf(stats: ChunkStats): [number, number, number, number | null] {
  return [whole(stats.rowsRead), whole(stats.rowsWritten), whole(stats.rowsRejected), stats.bytes === null ? null : whole(stats.bytes)];
}

/** bigint columns take whole numbers only; a fractional duration (from performance.now) is rounded. */
function whole(n: number): number {
  return Math.round(n);
}
