// The steps plan and run share: open the source, check the chunk column, find bounds, plan chunks.

import { DateTime } from 'luxon';
import type { Chunk } from '../../core/chunk.js';
import type { ChunkRange } from '../../connectors/connector.js';
import { chunkColumn, chunkColumns, planChunks, type SourceBounds } from '../../core/planner.js';
import { PlanError } from '../../core/errors.js';
import { quoteIdent } from '../../core/sql-text.js';
import type { ColumnInfo, Source } from '../../connectors/connector.js';
import type { DuckConn } from '../../runtime/duckdb-session.js';
import { checkChunkColumn, describeQuery, rangeLiterals } from '../../runtime/duckdb-sql.js';
import { planByRows } from './rows-plan.js';
import type { Job } from '../../job/job.js';
import type { Ledger, LedgerReader } from '../../ledger/ledger.js';

export interface PreparedPlan extends DescribedJob {
  readonly chunks: Chunk[];
  readonly bounds: SourceBounds | undefined;
  /** Rows of each chunk where planning counted them (chunks cut by `chunk.rows`). */
  readonly chunkRows?: readonly number[] | undefined;
}

/**
 * A chunk's scope in the output (and so in the target): the chunk column with its bounds' literals;
 * the whole table for a job without chunk column; undefined when the output lost the chunk column.
 */
export function outputRange(job: Job, plan: Pick<DescribedJob, 'outputColumnType' | 'outputColumns'>, chunk: Chunk, timezone: string): ChunkRange | undefined {
  if (chunk.kind === 'all') return { column: '' };
  if (plan.outputColumnType === undefined) return undefined;
  const columns = chunkColumns(job.chunking);
  const bytewise = chunk.kind !== 'range' ? undefined : columns.filter((c) => /^(VARCHAR|TEXT|STRING)/i.test(plan.outputColumns.find((o) => o.name === c)?.type ?? ''));
  if (columns.length > 1) {
    // A tuple: every chunk column must reach the output, each typed as it is there.
    const types = columns.map((c) => plan.outputColumns.find((o) => o.name === c)?.type);
    if (types.some((t) => t === undefined)) return undefined;
    return { column: columns[0] as string, columns, bytewise, ...rangeLiterals(chunk, types as string[], timezone) };
  }
  return { column: chunkColumn(job.chunking), bytewise, ...rangeLiterals(chunk, plan.outputColumnType, timezone) };
}

/** The transform's query over a relation named `source`; identity when the job has none. */
export function transformQuery(job: Job, relation: string): string {
  if (job.transform === undefined) return `SELECT * FROM ${relation}`;
  return `WITH source AS (SELECT * FROM ${relation}) SELECT * FROM (${job.transform}) AS backfill_transform`;
}

/** What planning learns before any bounds: the chunk column's type and the transform's output columns. */
export interface DescribedJob {
  /** Type of the chunk column in the source ('' without chunk:) and (when present) in the transform's output. */
  readonly sourceColumnType: string;
  /** Types of every chunk column in the source (several for a tuple of columns; none without chunk:). */
  readonly columnTypes: readonly string[];
  readonly outputColumnType: string | undefined;
  readonly outputColumns: readonly ColumnInfo[];
}

export async function preparePlan(job: Job, source: Source, conn: DuckConn, ledger: Ledger | undefined, reader: LedgerReader | undefined = ledger): Promise<PreparedPlan> {
  const described = await describeJob(job, source, conn);
  return finishPlan(job, source, conn, ledger, described, reader);
}

export async function describeJob(job: Job, source: Source, conn: DuckConn): Promise<DescribedJob> {
  await source.prepare(conn);
  const where = source.describe();
  const sourceColumns = await describeQuery(conn, `SELECT * FROM ${source.relation()}`);
  const column = job.chunking.column;
  const chunkColumns = job.chunking.kind === 'rows' ? job.chunking.columns : column === undefined ? [] : [column];
  const columnTypes = chunkColumns.map((c) => checkChunkColumn(sourceColumns, c, job.chunking.kind, where));
  const sourceColumnType = columnTypes[0] ?? '';
  if (job.chunking.kind === 'time' && job.chunking.step.unit === 'hour' && sourceColumnType.toUpperCase() === 'DATE') {
    throw new PlanError(`chunk.column "${column}" is a DATE; hourly chunks need a timestamp`);
  }
  let outputColumns: ColumnInfo[];
  try {
    outputColumns = await describeQuery(conn, transformQuery(job, `(SELECT * FROM ${source.relation()} LIMIT 0)`));
  } catch (cause) {
    throw new PlanError(`transform: ${(cause as Error).message}`, { cause });
  }
  if (job.transform === undefined && source.nativeColumns !== undefined) {
    // Unchanged source columns keep their native types (for creating a target of the same kind).
    const native = new Map(source.nativeColumns().map((c) => [c.name, c]));
    outputColumns = outputColumns.map((c) => ({ ...native.get(c.name), ...c, ...(native.get(c.name)?.pgType === undefined ? {} : { pgType: native.get(c.name)?.pgType }) }));
  }
  const outputColumnType = outputColumns.find((c) => c.name === column)?.type;
  for (const key of job.write.key) {
    if (!outputColumns.some((c) => c.name === key)) {
      throw new PlanError(`write.key: "${key}" is not a column of the transform's output (${outputColumns.map((c) => c.name).join(', ')})`);
    }
  }
  return { sourceColumnType, outputColumnType, outputColumns, columnTypes };
}

/**
 * `ledger`: a run's ledger, which records what planning measures (bounds, chunks cut by rows);
 * `reader` (plan, verify, profile, which change nothing): only the recorded chunks are read.
 */
export async function finishPlan(
  job: Job, source: Source, conn: DuckConn, ledger: Ledger | undefined, described: DescribedJob, reader: LedgerReader | undefined = ledger,
): Promise<PreparedPlan> {
  const chunking = job.chunking;
  if (chunking.kind === 'all') return { ...described, chunks: planChunks(chunking, undefined), bounds: undefined };
  if (chunking.kind === 'rows') return { ...described, ...(await planByRows(job, chunking, source, conn, { reader, ledger }, described)), bounds: undefined };
  const needBounds = chunking.from === undefined || chunking.to === undefined;
  const bounds = needBounds ? await findBounds(job, source, conn, ledger, described.sourceColumnType) : undefined;
  return { ...described, chunks: planChunks(chunking, bounds), bounds };
}

/** Whether planning would have to scan the source for its bounds (nothing cheaper is known). */
export async function boundsNeedScan(job: Job, source: Source, ledger: Ledger): Promise<boolean> {
  if (job.chunking.from !== undefined && job.chunking.to !== undefined) return false;
  if (job.chunking.column === undefined) return false;
  if (source.capabilities.cheapBounds || source.measureBounds !== undefined) return false;
  const fingerprint = source.fingerprint();
  return fingerprint === undefined || (await ledger.cachedBounds(job.name, fingerprint, job.chunking.column)) === undefined;
}

/** The chunk column's smallest and largest value in the source (cached in the ledger by source fingerprint when one is given). */
export async function findBounds(job: Job, source: Source, conn: DuckConn, ledger: Ledger | undefined, type: string): Promise<SourceBounds | undefined> {
  const chunking = job.chunking;
  if (chunking.kind !== 'time' && chunking.kind !== 'key') return undefined;
  if (source.capabilities.cheapBounds) return source.knownBounds();
  const column = chunking.column;
  const fingerprint = source.fingerprint();
  const cached = fingerprint === undefined ? undefined : await ledger?.cachedBounds(job.name, fingerprint, column);
  let min: string | null;
  let max: string | null;
  if (cached !== undefined) {
    ({ min, max } = cached);
  } else if (source.measureBounds !== undefined) {
    ({ min, max } = await source.measureBounds(column, chunking.kind, type));
    if (fingerprint !== undefined) await ledger?.saveBounds(job.name, fingerprint, column, min, max);
  } else {
    const col = quoteIdent(column);
    const isDate = type.toUpperCase() === 'DATE';
    const expr = (agg: string): string =>
      chunking.kind === 'key' ? `CAST(${agg}(${col}) AS VARCHAR)` : isDate ? `CAST(${agg}(${col}) AS VARCHAR)` : `CAST(epoch_ms(${agg}(${col})) AS VARCHAR)`;
    const rows = await conn.all<{ lo: string | null; hi: string | null }>(`SELECT ${expr('min')} AS lo, ${expr('max')} AS hi FROM ${source.relation()}`);
    min = rows[0]?.lo ?? null;
    max = rows[0]?.hi ?? null;
    if (fingerprint !== undefined) await ledger?.saveBounds(job.name, fingerprint, column, min, max);
  }
  if (min === null || max === null) return undefined;
  if (chunking.kind === 'key') return { min: BigInt(min), max: BigInt(max) };
  if (type.toUpperCase() === 'DATE') {
    // A date is the whole local day in the job's zone.
    const zone = chunking.kind === 'time' ? chunking.timezone : 'UTC';
    const lo = DateTime.fromISO(min, { zone }).toMillis();
    const hi = DateTime.fromISO(max, { zone }).plus({ days: 1 }).toMillis() - 1;
    return { min: lo, max: hi };
  }
  return { min: Number(min), max: Number(max) };
}
