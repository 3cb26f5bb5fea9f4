// The embedded ledger: one SQLite file in WAL mode, so `status` can read while a run writes.

import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import type { Chunk, ChunkStats } from '../../core/chunk.js';
import { systemClock, type Clock } from '../../core/clock.js';
import { LedgerError } from '../../core/errors.js';
import type { BackupRecord, ChunkRecord, JobPause, Lease, Ledger, LedgerReader, RecordedPlan, RunRecord, RunStatus, WatermarkRecord } from '../ledger.js';
import { leaseLost } from '../ledger-errors.js';
import { checkVersion, migrate } from './sqlite-migrate.js';
import { SQL } from './sqlite-statements.js';

export interface SqliteLedgerOptions {
  /** Open without writing: no migrations, no locks taken (for `status`). */
  readonly readonly?: boolean;
  /** Where every stamp and lease expiry comes from. Default: the system clock. */
  readonly clock?: Clock;
}

export class SqliteLedger implements Ledger {
  private readonly db: Database.Database;
  private readonly clock: Clock;

  private constructor(db: Database.Database, clock: Clock) {
    this.db = db;
    this.clock = clock;
  }

  static open(path: string, options: SqliteLedgerOptions = {}): SqliteLedger {
    let db: Database.Database;
    try {
      if (options.readonly !== true) mkdirSync(dirname(path), { recursive: true });
      db = new Database(path, { readonly: options.readonly === true, fileMustExist: options.readonly === true });
    } catch (cause) {
      throw new LedgerError(`cannot open the ledger ${path}: ${(cause as Error).message}`, { cause });
    }
    try {
      db.pragma('busy_timeout = 10000');
      if (options.readonly !== true) {
        checkVersion(db, path, { allowOlder: true });
        db.pragma('journal_mode = WAL');
        // WAL + NORMAL is durable across process crashes (SIGKILL); only an OS crash may lose the last commits.
        db.pragma('synchronous = NORMAL');
        migrate(db, path);
      } else {
        checkVersion(db, path, { allowOlder: false });
      }
    } catch (err) {
      db.close();
      throw err;
    }
    return new SqliteLedger(db, options.clock ?? systemClock);
  }

  /** Open for reading only, e.g. for `status`; undefined when the ledger does not exist yet. */
  static openReader(path: string): LedgerReader | undefined {
    try {
      return SqliteLedger.open(path, { readonly: true });
    } catch (err) {
      if (err instanceof LedgerError && /unable to open|does not exist|SQLITE_CANTOPEN/i.test(String((err.cause as Error)?.message ?? err.message))) return undefined;
      throw err;
    }
  }

  async listChunks(job: string): Promise<ChunkRecord[]> {
    return this.db.prepare(SQL.listChunks).all(job) as ChunkRecord[];
  }

  async getChunk(job: string, key: string): Promise<ChunkRecord | undefined> {
    return this.db.prepare(SQL.getChunk).get(job, key) as ChunkRecord | undefined;
  }

  async listRuns(job: string, limit = 20): Promise<RunRecord[]> {
    return this.db.prepare(SQL.listRuns).all(job, limit) as RunRecord[];
  }

  async listBackups(job: string, runId?: string): Promise<BackupRecord[]> {
    return this.db.prepare(SQL.listBackups).all({ job, runId: runId ?? null }) as BackupRecord[];
  }

  async watermark(job: string): Promise<WatermarkRecord | undefined> {
    return this.db.prepare(SQL.watermark).get(job) as WatermarkRecord | undefined;
  }

  async changeMarker(job: string): Promise<string> {
    return (this.db.prepare(SQL.changeMarker).get({ job }) as { marker: string }).marker;
  }

  async initWatermark(w: { job: string; cursor: string; kind: 'time' | 'key'; value: bigint; runId: string }): Promise<WatermarkRecord> {
    this.db.prepare(SQL.initWatermark).run({ ...w, now: this.clock.now() });
    return (await this.watermark(w.job)) as WatermarkRecord;
  }

  async advanceWatermark(job: string, value: bigint, runId: string): Promise<boolean> {
    return this.db.prepare(SQL.advanceWatermark).run({ job, value, runId, now: this.clock.now() }).changes === 1;
  }

  async startWindow(job: string, lo: bigint, hi: bigint, runId: string): Promise<void> {
    this.db.prepare(SQL.startWindow).run({ job, lo, hi, runId, now: this.clock.now() });
  }

  async rewindWatermark(job: string, value: bigint): Promise<boolean> {
    return this.db.prepare(SQL.rewindWatermark).run({ job, value, now: this.clock.now() }).changes === 1;
  }

  async recordBackup(backup: Omit<BackupRecord, 'restoredAt'>): Promise<void> {
    this.db.prepare(SQL.recordBackup).run({ ...backup });
  }

  async markBackupRestored(job: string, runId: string, chunkKey: string, at: number): Promise<boolean> {
    return this.db.prepare(SQL.markBackupRestored).run({ job, runId, chunkKey, at }).changes === 1;
  }

  async deleteBackups(job: string, runId: string): Promise<number> {
    return this.db.prepare(SQL.deleteBackups).run({ job, runId }).changes;
  }

  async syncChunks(job: string, chunks: readonly Chunk[]): Promise<void> {
    const insert = this.db.prepare(SQL.insertChunk);
    const now = this.clock.now();
    this.db.transaction(() => {
      this.db.prepare(SQL.ensureTokenRow).run(job);
      for (const c of chunks) insert.run({ job, key: c.key, kind: c.kind, lo: c.lo, hi: c.hi, tag: c.tag, now });
    }).immediate();
  }

  async claim(job: string, chunk: Chunk, owner: string, runId: string, leaseMs: number): Promise<Lease | undefined> {
    return this.db.transaction((): Lease | undefined => {
      this.db.prepare(SQL.ensureTokenRow).run(job);
      const { token } = this.db.prepare(SQL.nextToken).get(job) as { token: number };
      const now = this.clock.now();
      const row = this.db.prepare(SQL.claim).get({ job, key: chunk.key, owner, runId, token, now, expires: now + leaseMs }) as
        | { attempts: number; generation: number }
        | undefined;
      if (row === undefined) return undefined;
      return { job, chunk, token, owner, attempt: row.attempts, generation: row.generation };
    }).immediate();
  }

  async heartbeat(lease: Lease, leaseMs: number): Promise<void> {
    const now = this.clock.now();
    const changed = this.db.prepare(SQL.heartbeat).run({ ...keyOf(lease), now, expires: now + leaseMs }).changes;
    if (changed !== 1) throw leaseLost(lease, 'heartbeat');
  }

  async complete(lease: Lease, stats: ChunkStats, durationMs: number): Promise<void> {
    const changed = this.db.prepare(SQL.complete).run({ ...keyOf(lease), ...stats, durationMs, now: this.clock.now() }).changes;
    if (changed !== 1) throw leaseLost(lease, 'complete');
  }

  async fail(lease: Lease, error: string, durationMs: number): Promise<void> {
    const changed = this.db.prepare(SQL.fail).run({ ...keyOf(lease), error, durationMs, now: this.clock.now() }).changes;
    if (changed !== 1) throw leaseLost(lease, 'fail');
  }

  async release(lease: Lease, error?: string): Promise<void> {
    this.db.prepare(SQL.release).run({ ...keyOf(lease), error: error ?? null, now: this.clock.now() });
  }

  async reset(job: string, keys: readonly string[]): Promise<number> {
    const stmt = this.db.prepare(SQL.reset);
    const now = this.clock.now();
    return this.db.transaction(() => keys.reduce((n, key) => n + stmt.run({ job, key, now }).changes, 0)).immediate();
  }

  async forgetChunks(job: string, keys: readonly string[]): Promise<number> {
    const stmt = this.db.prepare(SQL.forgetChunk);
    return this.db.transaction(() => keys.reduce((n, key) => n + stmt.run({ job, key }).changes, 0)).immediate();
  }

  async staleChunks(job: string, now: number, isOwnerAlive: (owner: string) => boolean): Promise<ChunkRecord[]> {
    const running = this.db.prepare(SQL.staleChunks).all(job) as ChunkRecord[];
    return running.filter((c) => (c.leaseExpiresAt ?? 0) < now || c.leaseOwner === null || !isOwnerAlive(c.leaseOwner));
  }

  async adoptCommitted(job: string, key: string, token: number, stats: ChunkStats): Promise<boolean> {
    return this.db.prepare(SQL.adoptCommitted).run({ job, key, token, ...stats, now: this.clock.now() }).changes === 1;
  }

  async resetStale(job: string, key: string, token: number): Promise<boolean> {
    return this.db.prepare(SQL.resetStale).run({ job, key, token, now: this.clock.now() }).changes === 1;
  }

  async cachedBounds(job: string, fingerprint: string, column: string): Promise<{ min: string | null; max: string | null } | undefined> {
    return this.db.prepare(SQL.cachedBounds).get(job, fingerprint, column) as { min: string | null; max: string | null } | undefined;
  }

  async chunkPlan(job: string): Promise<RecordedPlan | undefined> {
    // A reader may open a ledger older than the table (schema 5): nothing was recorded there.
    if (this.db.prepare(SQL.hasChunkPlans).get() === undefined) return undefined;
    const row = this.db.prepare(SQL.chunkPlan).get(job) as { spec: string; chunks: string } | undefined;
    return row === undefined ? undefined : { spec: row.spec, chunks: JSON.parse(row.chunks) as Chunk[] };
  }

  async saveChunkPlan(job: string, plan: RecordedPlan): Promise<void> {
    this.db.prepare(SQL.saveChunkPlan).run({ job, spec: plan.spec, chunks: JSON.stringify(plan.chunks), now: this.clock.now() });
  }

  async saveBounds(job: string, fingerprint: string, column: string, min: string | null, max: string | null): Promise<void> {
    this.db.prepare(SQL.saveBounds).run({ job, fingerprint, column, min, max, now: this.clock.now() });
  }

  async sourceSchema(job: string): Promise<string | undefined> {
    return (this.db.prepare(SQL.sourceSchema).get(job) as { columns: string } | undefined)?.columns;
  }

  async saveSourceSchema(job: string, columns: string): Promise<void> {
    this.db.prepare(SQL.saveSourceSchema).run({ job, columns, now: this.clock.now() });
  }

  async startRun(run: { runId: string; job: string; owner: string; host: string; pid: number; options: string; chunksTotal: number }): Promise<void> {
    this.db.prepare(SQL.startRun).run({ ...run, now: this.clock.now() });
  }

  async heartbeatRun(runId: string): Promise<void> {
    this.db.prepare(SQL.heartbeatRun).run(this.clock.now(), runId);
  }

  async finishRun(
    runId: string,
    result: { status: RunStatus; chunksDone: number; chunksFailed: number; rowsRead: number; rowsWritten: number; bytes: number; bytesUnknown?: number; error?: string },
  ): Promise<void> {
    this.db.prepare(SQL.finishRun).run({ runId, ...result, bytesUnknown: result.bytesUnknown ?? 0, error: result.error ?? null, now: this.clock.now() });
  }

  async setRunThrottle(runId: string, throttle: string): Promise<void> {
    this.db.prepare(SQL.setRunThrottle).run(throttle, runId);
  }

  async pauseOf(job: string): Promise<JobPause | undefined> {
    return this.db.prepare(SQL.pauseOf).get(job) as JobPause | undefined;
  }

  async pause(job: string, by: string, reason: string | null): Promise<boolean> {
    return this.db.prepare(SQL.pause).run({ job, by, reason, now: this.clock.now() }).changes === 1;
  }

  async resume(job: string): Promise<boolean> {
    return this.db.prepare(SQL.resume).run(job).changes === 1;
  }

  async reserveRate(job: string, costMs: number): Promise<number> {
    return (this.db.prepare(SQL.reserveRate).get({ job, cost: costMs, now: this.clock.now() }) as { startAt: number }).startAt;
  }

  async adjustRate(job: string, deltaMs: number): Promise<void> {
    this.db.prepare(SQL.adjustRate).run({ job, delta: deltaMs });
  }

  async closeDeadRuns(job: string, isOwnerAlive: (owner: string) => boolean): Promise<number> {
    const runs = this.db.prepare(SQL.runningRuns).all(job) as { runId: string; owner: string }[];
    let closed = 0;
    for (const run of runs) {
      if (!isOwnerAlive(run.owner)) closed += this.db.prepare(SQL.markRunInterrupted).run(run.runId).changes;
    }
    return closed;
  }

  async close(): Promise<void> {
    this.db.close();
  }
}

function keyOf(lease: Lease): { job: string; key: string; token: number } {
  return { job: lease.job, key: lease.chunk.key, token: lease.token };
}
