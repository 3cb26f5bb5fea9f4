// How one attempt writes its chunk: the route its rows take (one-pass share, in-database, copy-stream, engine) and the bookkeeping every route shares.

import type { Chunk, ChunkStats } from '../../core/chunk.js';
import type { Clock } from '../../core/clock.js';
import { quoteIdent } from '../../core/sql-text.js';
import { inPlace, TooManyRejectsError, type ChunkRead, type ChunkWrite, type OpenedChunk, type Rejects, type Source, type Target, type WriteResult } from '../../connectors/connector.js';
import type { Job } from '../../job/job.js';
import type { Lease, Ledger } from '../../ledger/ledger.js';
import type { DuckConn } from '../../runtime/duckdb-session.js';
import { rangeLiterals } from '../../runtime/duckdb-sql.js';
import { backupRequest, recordBackup } from '../safety/backup-run.js';
import { addRejects, diagnoseRejects, isReadError, NO_REJECTS, relationRejects, type RunRejects } from '../safety/reject-rows.js';
import type { SchemaGuard } from '../safety/schema-drift.js';
import type { OnePass } from './one-pass.js';
import { outputRange, transformQuery, type PreparedPlan } from './prepare.js';
import { chunkColumn, chunkColumns } from '../../core/planner.js';
import { leaseId } from './recovery.js';
import type { StagedChunk } from './stage.js';

/** The way a run's chunks travel when no one-pass share is waiting for them. */
export type WriteRoute = 'engine' | 'copy-stream' | 'in-database';

/**
 * How chunk rows travel: through DuckDB (the engine), as a COPY stream from a PostgreSQL source
 * straight into a PostgreSQL target, or not at all when both are one database (INSERT … SELECT).
 */
export function chooseRoute(job: Job, source: Source, target: Target): WriteRoute {
  if (job.transform !== undefined) return 'engine';
  if (source.copy !== undefined && source.copy.database === target.database && target.capabilities.copyText) return 'in-database';
  if (source.capabilities.copyText && target.capabilities.copyText && source.copy !== undefined) return 'copy-stream';
  return 'engine';
}

/** What every chunk's write needs from the run. */
export interface RouteContext {
  readonly job: Job;
  readonly ledger: Ledger;
  readonly source: Source;
  readonly target: Target;
  readonly plan: PreparedPlan;
  readonly runId: string;
  readonly staged: ReadonlyMap<string, StagedChunk> | undefined;
  readonly onePass: OnePass | undefined;
  /** Takes one of the target's write slots (`maxConcurrentWrites`) for the write itself. */
  readonly writeSlots: <T>(write: () => Promise<T>) => Promise<T>;
  readonly timezone: string;
  readonly route: WriteRoute;
  /** Write the chunk straight from its relation (rows read = rows written); otherwise materialise it first. */
  readonly direct: boolean;
  readonly rejects: RunRejects;
  /** Compares each chunk's output with the recorded schema before it writes. */
  readonly drift: SchemaGuard;
  readonly clock: Clock;
}

export interface ChunkWritten {
  readonly stats: ChunkStats;
  /** The ledger's mark committed with the data (a ledger in the target's database). */
  readonly marked: boolean;
}

/** One attempt's write of one chunk, on the attempt's connection and under its abort signal. */
export class ChunkWriter {
  /** Rows set aside before the write (bad lines, NULL chunk values); the target may refuse more, within the limits. */
  private early: Rejects;
  /** Rows read, when the engine counts them itself (staged or materialised chunks). */
  private rowsRead: number | undefined;
  private read: ChunkRead | undefined;
  private opened: OpenedChunk | undefined;
  private readonly temp: string;
  private readonly chunk: Chunk;

  constructor(
    private readonly ctx: RouteContext,
    private readonly lease: Lease,
    private readonly conn: DuckConn,
    private readonly signal: AbortSignal,
    private readonly t0: number,
  ) {
    this.chunk = lease.chunk;
    this.temp = quoteIdent(`backfill_chunk_${lease.token}`);
    this.early = ctx.rejects.passRejects(this.chunk);
  }

  async write(): Promise<ChunkWritten> {
    const { job, plan, source, target } = this.ctx;
    const chunk = this.chunk;
    await source.attach(this.conn);
    await target.attach(this.conn);
    const request = this.request();
    const share = this.ctx.onePass?.take(chunk);
    const onePass = target.onePass;
    if (share !== undefined && onePass !== undefined) {
      this.ctx.rejects.record(chunk, this.early);
      // One-pass writes are taken only for transforms without filters: every row read reaches the target.
      const write: ChunkWrite = { ...request, maxRejects: this.budget() };
      return this.finish(await this.ctx.writeSlots(() => onePass.publishChunk(write, share.staged)));
    }
    const read: ChunkRead = { chunk, column: chunkColumn(job.chunking), columns: chunkColumns(job.chunking), literals: rangeLiterals(chunk, plan.columnTypes, this.ctx.timezone) };
    this.read = read;
    if (this.ctx.route !== 'engine') return this.writeInDatabase(request, read);
    return this.writeThroughEngine(request, read);
  }

  /** After a failed write: keep the rejects that explain it, so the failure can be looked at. */
  async keepRejectsOf(err: unknown): Promise<void> {
    const { source, rejects } = this.ctx;
    // A strict read that failed on a bad line: find every bad line of the chunk, keep them, and say where.
    if (this.read !== undefined && !this.signal.aborted && source.rejectReader !== undefined && source.capabilities.prunes && isReadError(err)) {
      const found = await diagnoseRejects(this.conn, source.rejectReader, this.read, rejects.keep).catch(() => NO_REJECTS);
      if (found.count > 0) rejects.record(this.chunk, addRejects(this.early, found));
    }
    // The target refused more rows than allowed: keep them too.
    if (err instanceof TooManyRejectsError) rejects.record(this.chunk, addRejects(this.early, err.rejects));
  }

  /** Drop what the engine route made on the connection; the connection itself is the attempt's. */
  async cleanup(): Promise<void> {
    if (!this.ctx.direct) await this.conn.run(`DROP TABLE IF EXISTS ${this.temp}`).catch(() => {});
    await this.opened?.close().catch(() => {});
  }

  /** PostgreSQL to PostgreSQL without an engine transform: the rows never enter DuckDB; in one database they never leave the server. */
  private async writeInDatabase(request: ChunkWrite, read: ChunkRead): Promise<ChunkWritten> {
    const { source, target } = this.ctx;
    // chooseRoute takes these routes only for a source that speaks COPY.
    const copy = source.copy;
    if (copy === undefined) throw new Error(`${source.describe()} has no COPY stream for the ${this.ctx.route} route`);
    this.ctx.rejects.record(this.chunk, this.early);
    const write: ChunkWrite =
      this.ctx.route === 'in-database'
        ? { ...request, pushdown: copy.chunkSql(read) }
        : { ...request, copyIn: (format) => copy.copyOut(read, this.signal, format) };
    return this.finish(await this.ctx.writeSlots(() => target.write(write)));
  }

  /** The chunk's relation in DuckDB, the transform applied there, the target writing the result. */
  private async writeThroughEngine(request: ChunkWrite, read: ChunkRead): Promise<ChunkWritten> {
    const { job, plan, source, target, rejects } = this.ctx;
    const { chunk, conn, signal } = this;
    const stage = this.ctx.staged?.get(chunk.key);
    // A CSV read sets bad lines aside when they are allowed (a source read in one pass had them
    // charged there already); a prunable source's bad lines are then counted before the write.
    const reader = source.rejectReader;
    const keepLines = stage === undefined && reader !== undefined && (!source.capabilities.prunes || this.budget() > 0 || this.early.count > 0);
    this.opened = stage !== undefined ? inPlace(stage.relation) : keepLines ? inPlace(await reader.chunkRelation(read)) : await source.openChunk(read, conn, signal);
    const relation = this.opened.relation;
    const countLines = keepLines && source.capabilities.prunes;
    if (source.capabilities.prunes && !source.capabilities.cheapBounds && chunk.key === plan.chunks[0]?.key && chunk.kind !== 'all') {
      // Rows with NULL in the chunk column fall in no range; the first chunk counts them (cheap where the source prunes).
      const nulls = await source.openChunk({ ...read, nulls: true }, conn, signal);
      try {
        this.early = addRejects(this.early, await relationRejects(conn, nulls.relation, `NULL in the chunk column "${chunkColumn(job.chunking)}"`, rejects.keep));
      } finally {
        await nulls.close().catch(() => {});
      }
    }
    // Row-by-row appends and replaces write exactly what they read; otherwise materialise the
    // chunk once so rows read are counted and the transform sees `source` as just this chunk.
    this.rowsRead = stage?.rows;
    let query: string;
    if (this.ctx.direct && !countLines) {
      query = transformQuery(job, relation);
    } else {
      const created = await conn.all<{ Count: string }>(`CREATE OR REPLACE TEMP TABLE ${this.temp} AS SELECT * FROM ${relation}`, signal);
      this.rowsRead = Number(created[0]?.Count ?? 0);
      query = transformQuery(job, this.temp);
    }
    if (countLines) this.early = addRejects(this.early, await (reader as NonNullable<typeof reader>).take(conn, rejects.keep));
    rejects.record(chunk, this.early);
    query = await this.ctx.drift.conform(conn, query, chunk.key, source.fileSet?.chunkFiles(read));
    const write: ChunkWrite = { ...request, query, maxRejects: this.budget() };
    return this.finish(await this.ctx.writeSlots(() => target.write(write)));
  }

  /** The write request every route starts from. */
  private request(): ChunkWrite {
    const { job, plan, ledger, target } = this.ctx;
    const { chunk, lease } = this;
    const range = outputRange(job, plan, chunk, this.ctx.timezone);
    // A ledger in the target's own database commits the chunk's mark in the data's transaction.
    // (Not with `verify: true`: the mark waits for the check after the commit.)
    const completeSql = ledger.completeSql?.bind(ledger);
    const markDone =
      !job.verify && completeSql !== undefined && ledger.database !== undefined && ledger.database === target.database
        ? (s: { rowsRead: number; rowsWritten: number; bytes: number | null; rowsRejected?: number }) =>
            completeSql(
              lease,
              { ...s, rowsRead: (this.rowsRead ?? s.rowsRead) + this.early.count, rowsRejected: this.early.count + (s.rowsRejected ?? 0) },
              this.ctx.clock.now() - this.t0,
            )
        : undefined;
    return {
      chunk, token: lease.token, lease: leaseId(lease.owner, lease.token), generation: lease.generation, mode: job.write.mode, key: job.write.key,
      query: '', range, conn: this.conn, signal: this.signal, markDone, backup: backupRequest(job, this.ctx.runId),
    };
  }

  private budget(): number {
    return this.ctx.rejects.targetBudget(this.early.count);
  }

  private async finish(result: WriteResult): Promise<ChunkWritten> {
    if (this.signal.aborted && result.marked !== true) throw this.signal.reason;
    const early = this.early;
    const all = addRejects(early, result.rejected ?? NO_REJECTS);
    this.ctx.rejects.commit(this.chunk, all, all !== early);
    await recordBackup(this.ctx.ledger, this.ctx.job, this.ctx.runId, this.chunk, result.backup);
    return {
      stats: { rowsRead: (this.rowsRead ?? result.rowsRead ?? result.rowsWritten) + early.count, rowsWritten: result.rowsWritten, rowsRejected: all.count, bytes: result.bytes },
      marked: result.marked === true,
    };
  }
}
