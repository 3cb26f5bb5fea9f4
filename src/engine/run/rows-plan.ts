// Chunks sized by the data (`chunk.rows`): cut once from the column's running counts, recorded in the ledger, extended past the end.

import { DateTime } from 'luxon';
import type { Chunk } from '../../core/chunk.js';
import { PlanError } from '../../core/errors.js';
import type { RowsChunking } from '../../core/planner.js';
import { cumulativeCountSql, cutKeys, cutRanges, cutTime, grainOf, type CutChunk } from '../../core/row-cut.js';
import { quoteIdent } from '../../core/sql-text.js';
import type { CumulativeRequest, CumulativeRow, Source } from '../../connectors/connector.js';
import type { Job } from '../../job/job.js';
import type { LedgerReader, Ledger, RecordedPlan } from '../../ledger/ledger.js';
import type { DuckConn } from '../../runtime/duckdb-session.js';
import { columnKind, rangeLiterals } from '../../runtime/duckdb-sql.js';

/** What planning learnt of the chunk columns before cutting. */
interface ColumnTypes {
  readonly sourceColumnType: string;
  readonly columnTypes: readonly string[];
}

/** The kind of chunk `chunk.rows` cuts on these column types: time and integer columns keep their own kinds, anything else (or a tuple) value ranges. */
export function rowsKind(columnTypes: readonly string[]): 'time' | 'key' | 'range' {
  const [only, ...rest] = columnTypes;
  if (only === undefined || rest.length > 0) return 'range';
  return columnKind(only) ?? 'range';
}

/**
 * The job's chunks: the recorded ones, then new ones cut from the rows past their end (all of
 * them on the first run) by one query to the source. A run's `ledger` records the new ones; plan,
 * verify and profile give only a `reader`. A recorded plan cut for another column or
 * size is refused: its chunks would move under data already written.
 */
export async function planByRows(
  job: Job, chunking: RowsChunking, source: Source, conn: DuckConn, ledgers: { readonly reader: LedgerReader | undefined; readonly ledger: Ledger | undefined }, described: ColumnTypes,
): Promise<{ chunks: Chunk[]; chunkRows: readonly number[] | undefined }> {
  const { reader, ledger } = ledgers;
  const kind = rowsKind(described.columnTypes);
  const spec = JSON.stringify({ columns: chunking.columns, rows: chunking.rows, ...(kind === 'time' ? { timezone: chunking.timezone } : {}) });
  const recorded = await reader?.chunkPlan(job.name);
  if (recorded !== undefined && recorded.spec !== spec) throw changedChunking(job, recorded, spec);
  const old = recorded?.chunks ?? [];
  const after = old[old.length - 1];
  const request: CumulativeRequest = { columns: chunking.columns, kind, grain: grainOf(chunking.rows), after };
  const rows = source.cumulativeCounts !== undefined ? await source.cumulativeCounts(request) : await countInDuckdb(conn, source, request, described, chunking.timezone);
  const cut = cutChunks(rows, kind, chunking, described.sourceColumnType, after, old.length);
  const chunks = [...old, ...cut.map((c) => c.chunk)];
  if (cut.length > 0 && ledger !== undefined) await ledger.saveChunkPlan(job.name, { spec, chunks });
  return { chunks, chunkRows: old.length === 0 ? cut.map((c) => c.rows) : undefined };
}

function cutChunks(rows: readonly CumulativeRow[], kind: 'time' | 'key' | 'range', chunking: RowsChunking, type: string, after: Chunk | undefined, index0: number): CutChunk[] {
  const zone = chunking.timezone;
  const first = (r: CumulativeRow): string => r.values[0] as string;
  if (kind === 'key') return cutKeys(rows.map((r) => ({ value: BigInt(first(r)), cum: r.cum })), chunking.rows, after === undefined ? undefined : BigInt(after.hi));
  if (kind === 'time') {
    const dates = type.toUpperCase() === 'DATE';
    const ms = (text: string): number => (dates ? DateTime.fromISO(text, { zone }).toMillis() : Number(text));
    return cutTime(rows.map((r) => ({ value: ms(first(r)), cum: r.cum })), chunking.rows, zone, dates, after === undefined ? undefined : Date.parse(after.hi));
  }
  return cutRanges(rows.map((r) => ({ value: r.values, cum: r.cum })), chunking.rows, index0, after === undefined ? undefined : (JSON.parse(after.hi) as string[]));
}

/** Sources DuckDB reads (files, DuckDB tables): the same query over the source's relation, text ordered as DuckDB orders it. */
async function countInDuckdb(conn: DuckConn, source: Source, request: CumulativeRequest, described: ColumnTypes, timezone: string): Promise<CumulativeRow[]> {
  const cols = request.columns.map(quoteIdent);
  const type = described.sourceColumnType.toUpperCase();
  const text = (k: string): string => (request.kind === 'time' && type !== 'DATE' ? `CAST(epoch_ms(${k}) AS VARCHAR)` : `CAST(${k} AS VARCHAR)`);
  let where = 'TRUE';
  if (request.after !== undefined) {
    const hi = rangeLiterals(request.after, described.columnTypes, timezone).hi as string;
    where = `${cols.length === 1 ? (cols[0] as string) : `(${cols.join(', ')})`} ${request.after.kind === 'range' ? '>' : '>='} ${hi}`;
  }
  const sql = cumulativeCountSql(source.relation(), cols, text, where, request.grain);
  const rows = await conn.all<Record<string, unknown>>(sql);
  return rows.map((r) => ({ values: request.columns.map((_, i) => String(r[`v${i}`])), cum: Number(r.cum) }));
}

function changedChunking(job: Job, recorded: RecordedPlan, spec: string): PlanError {
  const was = JSON.parse(recorded.spec) as { columns: string[]; rows: number; timezone?: string };
  const now = JSON.parse(spec) as { columns: string[]; rows: number; timezone?: string };
  const say = (s: typeof was): string => `column ${s.columns.join(', ')}, rows ${s.rows}${s.timezone === undefined ? '' : `, timezone ${s.timezone}`}`;
  return new PlanError(
    `chunk: job ${job.name} recorded ${recorded.chunks.length} chunks cut for ${say(was)}, and the job now says ${say(now)}. ` +
      'Recorded chunks never move (data was written by them): put chunk back as it was, or cut history again under a new job name into a fresh target',
  );
}

/**
 * Range chunks are cut in the source's own order. A target finds a chunk's rows again by the same
 * range (replace deletes it, verify reads it) comparing text byte by byte: where the source orders
 * text by a collation, those ranges hold other rows, so that use is refused with the way out.
 */
export async function checkTargetRanges(job: Job, source: Source, chunks: readonly Chunk[], use: 'replace' | 'verify' | undefined): Promise<void> {
  if (use === undefined || chunks[0]?.kind !== 'range' || job.chunking.kind !== 'rows' || source.textCollation === undefined) return;
  for (const column of job.chunking.columns) {
    const collation = await source.textCollation(column);
    if (collation === undefined) continue;
    const what = use === 'replace' ? "write.mode replace deletes each chunk's range in the target" : "verify reads each chunk's rows back by its range in the target";
    throw new PlanError(
      `chunk.column "${column}" is text ordered by the collation ${collation} in ${source.describe()}, and chunks are ranges in that order; ${what}, ` +
        'which compares text byte by byte, so the ranges would hold other rows there. Use write.mode merge with write.key (and verify: false), ' +
        'or chunk on a column whose order is the same everywhere (a time, an integer, a decimal, a UUID, or text in a C / _bin collation)',
    );
  }
}
