// Proves a target holds what the source gives: per chunk, row counts and an order-independent checksum on both sides.

import { rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Chunk } from '../../core/chunk.js';
import { PlanError, VerifyMismatchError } from '../../core/errors.js';
import { chunkColumn, chunkColumns, chunkTimezone, selectChunks } from '../../core/planner.js';
import { quoteIdent } from '../../core/sql-text.js';
import { inPlace, type ColumnInfo, type OpenedChunk, type Source, type Target } from '../../connectors/connector.js';
import { createSource, createTarget } from '../../connectors/open-connectors.js';
import { DuckSession, type DuckConn } from '../../runtime/duckdb-session.js';
import { describeQuery, rangeLiterals } from '../../runtime/duckdb-sql.js';
import type { Job } from '../../job/job.js';
import { openLedgerReader } from '../../ledger/open-ledger.js';
import { describeJob, finishPlan, outputRange, transformQuery, type PreparedPlan } from '../run/prepare.js';
import { checkTargetRanges } from '../run/rows-plan.js';
import { stageChunks } from '../run/stage.js';

/** What reading both sides of a chunk needs: the job, its connectors and the output's shape. */
export interface ChunkSides {
  readonly job: Job;
  readonly source: Source;
  readonly target: Target;
  readonly plan: Pick<PreparedPlan, 'outputColumns' | 'outputColumnType' | 'sourceColumnType' | 'columnTypes'>;
  readonly timezone: string;
}

/** Rows and checksum of one side of a chunk. */
export interface Fingerprint {
  readonly rows: number;
  /** Sum of DuckDB's 64-bit `hash` of each row's canonical text, modulo 2^64, as 16 hex digits. */
  readonly checksum: string;
}

export interface ChunkVerdict {
  readonly key: string;
  readonly lo: string;
  readonly hi: string;
  readonly match: boolean;
  readonly source: Fingerprint;
  readonly target: Fingerprint;
}

export interface VerifyReport {
  readonly job: string;
  readonly target: string;
  /** Which chunks were checked: those the ledger records as done, or every planned chunk (`all`). */
  readonly selection: 'done' | 'all';
  readonly chunks: readonly ChunkVerdict[];
  readonly counts: { readonly total: number; readonly matched: number; readonly mismatched: number };
  readonly ok: boolean;
}

export interface VerifyOptions {
  /** Only chunks overlapping [from, to). */
  readonly from?: string | undefined;
  readonly to?: string | undefined;
  /** Every planned chunk, not only those the ledger records as done. */
  readonly all?: boolean | undefined;
  readonly signal?: AbortSignal | undefined;
}

/** Compare source and target chunk by chunk; changes nothing in either. */
export async function verifyBackfill(job: Job, options: VerifyOptions = {}): Promise<VerifyReport> {
  const signal = options.signal ?? new AbortController().signal;
  const all = options.all === true;
  return withChunkSides(job, options, all ? 'all' : 'done', async (sides, conn, chunks, staged) => {
    const verdicts: ChunkVerdict[] = [];
    for (const chunk of chunks) verdicts.push(await compareChunk(sides, conn, chunk, staged?.get(chunk.key)?.relation, signal));
    const matched = verdicts.filter((v) => v.match).length;
    return {
      job: job.name,
      target: sides.target.describe(),
      selection: all ? 'all' : 'done',
      chunks: verdicts,
      counts: { total: verdicts.length, matched, mismatched: verdicts.length - matched },
      ok: matched === verdicts.length,
    };
  });
}

/**
 * The gate of `verify: true`: after a chunk's write, compare both sides; a mismatch throws an
 * error that is not retried, so the chunk ends failed instead of done.
 */
export async function verifyWrittenChunk(
  ctx: ChunkSides & { readonly session: DuckSession; readonly staged: ReadonlyMap<string, { readonly relation: string }> | undefined; readonly hard: AbortSignal },
  chunk: Chunk,
): Promise<void> {
  const conn = await ctx.session.connect();
  try {
    await ctx.source.attach(conn);
    await ctx.target.attach(conn);
    const v = await compareChunk(ctx, conn, chunk, ctx.staged?.get(chunk.key)?.relation, ctx.hard);
    if (!v.match) {
      throw new VerifyMismatchError(
        `verify: chunk ${chunk.key} differs after its write: source ${v.source.rows} rows (checksum ${v.source.checksum}), ` +
          `target ${v.target.rows} rows (checksum ${v.target.checksum})`,
      );
    }
  } finally {
    conn.close();
  }
}

/** Both sides of one chunk: counts and checksums over the output columns, normalised to the target's types. */
export async function compareChunk(sides: ChunkSides, conn: DuckConn, chunk: Chunk, staged: string | undefined, signal: AbortSignal): Promise<ChunkVerdict> {
  const target = await openTargetRows(sides, conn, chunk, signal);
  let source: OpenedChunk | undefined;
  try {
    const types = await targetTypes(conn, target.relation, sides.plan.outputColumns);
    source = await openSourceOutput(sides, conn, chunk, staged, signal);
    const s = await fingerprint(conn, source.relation, canonicalRow(types, sides.plan.outputColumns), signal);
    const t = await fingerprint(conn, target.relation, canonicalRow(types), signal);
    return { key: chunk.key, lo: chunk.lo, hi: chunk.hi, match: s.rows === t.rows && s.checksum === t.checksum, source: s, target: t };
  } finally {
    await source?.close().catch(() => {});
    await target.close().catch(() => {});
  }
}

/** The chunk's rows after the transform, as the run computes them: from the source (or its staged share). */
export async function openSourceOutput(sides: ChunkSides, conn: DuckConn, chunk: Chunk, staged: string | undefined, signal: AbortSignal): Promise<OpenedChunk> {
  const { job, source, plan, timezone } = sides;
  const opened =
    staged !== undefined
      ? inPlace(staged)
      : await source.openChunk({ chunk, column: chunkColumn(job.chunking), columns: chunkColumns(job.chunking), literals: rangeLiterals(chunk, plan.columnTypes, timezone) }, conn, signal);
  const columns = plan.outputColumns.map((c) => quoteIdent(c.name)).join(', ');
  return { relation: `(SELECT ${columns} FROM (${transformQuery(job, opened.relation)}))`, close: () => opened.close() };
}

/** The target's rows of the chunk, through the target's own read-back. */
export async function openTargetRows(sides: ChunkSides, conn: DuckConn, chunk: Chunk, signal: AbortSignal): Promise<OpenedChunk> {
  const { job, target, plan, timezone } = sides;
  const range = outputRange(job, plan, chunk, timezone);
  return target.readChunk(conn, { chunk, columns: plan.outputColumns, range }, signal);
}

/** The output columns with the types the target read-back gives them. */
export async function targetTypes(conn: DuckConn, relation: string, columns: readonly ColumnInfo[]): Promise<ColumnInfo[]> {
  const described = new Map((await describeQuery(conn, `SELECT * FROM ${relation}`)).map((c) => [c.name, c.type]));
  return columns.map((c) => {
    const type = described.get(c.name);
    if (type === undefined) throw new PlanError(`the target has no column "${c.name}" of the transform's output`);
    return { name: c.name, type };
  });
}

const FLOATING = /^(FLOAT|REAL|DOUBLE|FLOAT4|FLOAT8)$/i;

/**
 * One column as canonical text: the value cast to the target's type (when the source side has
 * another), then to VARCHAR. Floating-point values headed for DECIMAL go through their shortest
 * text first, as the database targets receive them.
 */
export function canonicalValue(name: string, targetType: string, sourceType?: string): string {
  const col = quoteIdent(name);
  if (sourceType === undefined || sourceType === targetType) return `CAST(${col} AS VARCHAR)`;
  const from = FLOATING.test(sourceType) && /^DECIMAL/i.test(targetType) ? `CAST(${col} AS VARCHAR)` : col;
  return `CAST(TRY_CAST(${from} AS ${targetType}) AS VARCHAR)`;
}

/** A row's canonical text: a JSON array of its values' canonical text (NULL stays null), in output order. */
export function canonicalRow(types: readonly ColumnInfo[], sourceColumns?: readonly ColumnInfo[], only?: readonly string[]): string {
  const sourceType = new Map((sourceColumns ?? []).map((c) => [c.name, c.type]));
  const values = types.filter((c) => only === undefined || only.includes(c.name)).map((c) => canonicalValue(c.name, c.type, sourceColumns === undefined ? undefined : sourceType.get(c.name)));
  return `CAST(to_json([${values.join(', ')}]) AS VARCHAR)`;
}

/** Count and sum of a 64-bit hash per row, modulo 2^64: independent of order, and a duplicated row changes it. */
export async function fingerprint(conn: DuckConn, relation: string, rowText: string, signal: AbortSignal): Promise<Fingerprint> {
  // Materialised first: hashing straight off a CSV scan runs about ten times slower than off a table.
  const temp = quoteIdent(`backfill_fingerprint`);
  try {
    await conn.run(`CREATE OR REPLACE TEMP TABLE ${temp} AS SELECT * FROM ${relation}`, signal);
    const rows = await conn.all<{ n: string; s: string }>(
      `SELECT count(*) AS n, lpad(lower(hex(CAST(coalesce(sum(hash(${rowText})), 0) % 18446744073709551616 AS UBIGINT))), 16, '0') AS s FROM ${temp}`,
      signal,
    );
    return { rows: Number(rows[0]?.n ?? 0), checksum: rows[0]?.s ?? '0000000000000000' };
  } finally {
    await conn.run(`DROP TABLE IF EXISTS ${temp}`).catch(() => {});
  }
}

/**
 * Open the job's source and target, plan its chunks and pick the selected ones (all, or the done
 * ones); a source that cannot prune is split into per-chunk files in one pass first.
 */
export async function withChunkSides<T>(
  job: Job,
  options: { readonly from?: string | undefined; readonly to?: string | undefined; readonly signal?: AbortSignal | undefined },
  selection: 'done' | 'all',
  work: (sides: ChunkSides, conn: DuckConn, chunks: readonly Chunk[], staged: ReadonlyMap<string, { readonly relation: string }> | undefined) => Promise<T>,
): Promise<T> {
  const signal = options.signal ?? new AbortController().signal;
  const session = await DuckSession.create(job.duckdb);
  const conn = await session.connect();
  const source = await createSource(job);
  const target = await createTarget(job);
  // Chunks cut by rows are the recorded ones, whichever are checked.
  const ledger = selection === 'done' || job.chunking.kind === 'rows' ? await openLedgerReader(job) : undefined;
  const stageDir = join(job.stateDir, 'stage', `${process.pid}-check-${Math.random().toString(36).slice(2, 8)}`);
  try {
    const described = await describeJob(job, source, conn);
    const plan = await finishPlan(job, source, conn, undefined, described, ledger);
    if (target.capabilities.replaceBy === 'range') await checkTargetRanges(job, source, plan.chunks, 'verify');
    // The target is not attached for writing: its read-back attaches what it needs, read-only.
    await source.attach(conn);
    const timezone = chunkTimezone(job.chunking);
    let chunks = selectChunks(plan.chunks, options.from, options.to, timezone);
    if (selection === 'done') {
      const done = new Set(((await ledger?.listChunks(job.name)) ?? []).filter((r) => r.status === 'done').map((r) => r.key));
      chunks = chunks.filter((c) => done.has(c.key));
    }
    const staged =
      chunks.length > 0 && !source.capabilities.prunes && chunks[0]?.kind !== 'all'
        ? await stageChunks(conn, source, chunks, { column: chunkColumn(job.chunking), columns: chunkColumns(job.chunking) }, plan.columnTypes, timezone, stageDir, signal)
        : undefined;
    return await work({ job, source, target, plan, timezone }, conn, chunks, staged);
  } finally {
    await ledger?.close();
    rmSync(stageDir, { recursive: true, force: true });
    conn.close();
    session.close();
    await source.close().catch(() => {});
    await target.close().catch(() => {});
  }
}
