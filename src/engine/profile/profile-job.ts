// `backfill profile`: what the job's source holds before a backfill — rows, bytes, bounds, rows per chunk, skew, NULLs, key uniqueness, problems, an estimated duration and the chunking to use. Changes nothing outside scratch.

import { availableParallelism } from 'node:os';
import { parseSize } from '../../core/duration.js';
import { PlanError } from '../../core/errors.js';
import type { Job } from '../../job/job.js';
import { createSource, createTarget, isCdcJob } from '../../connectors/open-connectors.js';
import type { SourceProfile } from '../../connectors/source-profile.js';
import { DuckSession } from '../../runtime/duckdb-session.js';
import { describeJob, finishPlan } from '../run/prepare.js';
import { chunkTimezone } from '../../core/planner.js';
import { openLedgerReader } from '../../ledger/open-ledger.js';
import { profileCut } from './profile-cut.js';
import type { ProfileOptions, ProfileReport } from './profile-report.js';
import { indexWarnings } from '../run/index-advice.js';
import { countOverRelation, duplicatesOverRelation } from './profile-measure.js';
import { rowsPerChunk } from './profile-spread.js';
import { skewOf } from './profile-skew.js';
import { findProblems } from './profile-problems.js';
import { adviseChunking } from './profile-recommend.js';
import { estimateDuration, type DurationEstimate } from './profile-estimate.js';

export type { ProfileOptions, ProfileReport } from './profile-report.js';

export async function profileJob(job: Job, options: ProfileOptions = {}): Promise<ProfileReport> {
  if (isCdcJob(job)) throw new PlanError(`job ${job.name} captures changes (source.cdc): profile the table with a job without cdc:`);
  const t0 = performance.now();
  const exact = options.exact === true;
  const session = await DuckSession.create(job.duckdb);
  const conn = await session.connect();
  const source = await createSource(job);
  const target = await createTarget(job);
  const chunking = job.chunking;
  const timezone = chunkTimezone(chunking);
  try {
    const describing = performance.now();
    const described = await describeJob(job, source, conn);
    const describeSeconds = (performance.now() - describing) / 1000;
    const ledger = chunking.kind === 'rows' ? await openLedgerReader(job).catch(() => undefined) : undefined;
    const plan = await finishPlan(job, source, conn, undefined, described, ledger).finally(() => ledger?.close());
    if (chunking.kind !== 'time' && chunking.kind !== 'key') return await profileCut(job, source, target, conn, plan, t0);
    const bounds = plan.bounds === undefined ? undefined : { min: Number(plan.bounds.min), max: Number(plan.bounds.max) };
    const own: SourceProfile =
      source.profile === undefined
        ? {}
        : await source.profile({ column: chunking.column, kind: chunking.kind, columnType: described.sourceColumnType, chunks: plan.chunks, exact, key: job.write.key, bounds, timezone, conn });
    // What the source left out is measured with DuckDB over its relation (sources DuckDB reads).
    let spread = own.spread;
    let nullRows = own.nullRows;
    let rows = own.rows;
    if (spread === undefined || (exact && spread.kind !== 'counts')) {
      const counted = await countOverRelation(conn, source.relation(), chunking.column, described.sourceColumnType, plan.chunks, timezone);
      spread = { kind: 'counts', counts: counted.counts, source: 'exact count (one grouped DuckDB query)' };
      nullRows = { value: counted.nullRows, source: 'exact count' };
      rows = { value: counted.rows, source: 'exact count' };
    }
    // The source's columns are asked for only when a merge key may have duplicates to look for.
    const merges = job.write.mode === 'merge' && job.write.key.length > 0;
    const sourceColumns = !merges ? new Set<string>() : new Set((await conn.all<{ column_name: string }>(`SELECT column_name FROM (DESCRIBE SELECT * FROM ${source.relation()})`)).map((c) => c.column_name));
    const checkKeys = merges && job.write.key.every((k) => sourceColumns.has(k));
    const duplicates = !checkKeys ? undefined : (own.duplicates ?? (await duplicatesOverRelation(conn, source.relation(), job.write.key)));
    const counts = rowsPerChunk(spread, plan.chunks);
    const skew = skewOf(plan.chunks, counts);
    const bytesPerRow = own.bytes !== undefined && rows !== undefined && rows.value > 0 ? own.bytes.value / rows.value : undefined;
    const memory = job.duckdb.memoryLimit === undefined ? undefined : parseSize(job.duckdb.memoryLimit);
    const cores = availableParallelism();
    const recommended = adviseChunking({
      chunking: chunking, chunks: plan.chunks, rows: counts, bytesPerRow, memoryLimitBytes: typeof memory === 'number' ? memory : undefined, cores,
    });
    const problems = findProblems({
      column: chunking.column, timezone: chunking.kind === 'time' ? timezone : undefined, key: job.write.key, source: own,
      nullRows: nullRows?.value, skew, targetAdvice: await indexWarnings(target, conn), recommended: recommended?.setting,
    });
    const estimate: DurationEstimate =
      options.estimate === false
        ? { seconds: undefined, source: 'not measured (--no-estimate)' }
        : await estimateDuration(job, {
            chunks: plan.chunks, rowsPerChunk: counts, cores, edges: own.wholeReads, light: own.lightPieces,
            // The sample runs on this session and source, which the profile prepared and described
            // already; the run will describe the source too.
            lent: { session, source, described }, describeSeconds,
          });
    const render = (v: number | undefined): string | undefined =>
      v === undefined ? undefined : chunking.kind === 'key' ? String(v) : new Date(v).toISOString();
    return {
      job: job.name,
      source: source.describe(),
      column: chunking.column,
      chunking: chunking.kind === 'time' ? `${chunking.step.n} ${chunking.step.unit}${chunking.step.n === 1 ? '' : 's'}` : `${chunking.size} keys`,
      rows, bytes: own.bytes, min: render(bounds?.min), max: render(bounds?.max),
      perChunk: { source: spread.source, chunks: plan.chunks.map((c, i) => ({ lo: c.lo, hi: c.hi, rows: counts[i] ?? 0 })) },
      skew, nullRows,
      duplicates: duplicates === undefined ? undefined : { value: duplicates.keys, source: duplicates.source, examples: duplicates.examples },
      problems, estimate, recommended,
      profileSeconds: (performance.now() - t0) / 1000,
    };
  } finally {
    conn.close();
    session.close();
    await source.close().catch(() => {});
    await target.close().catch(() => {});
  }
}
