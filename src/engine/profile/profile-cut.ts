// `backfill profile` for jobs whose chunks are not calendar steps or key sizes: one chunk (no chunk:), or chunks cut by rows.

import type { Job } from '../../job/job.js';
import type { Source } from '../../connectors/connector.js';
import type { DuckConn } from '../../runtime/duckdb-session.js';
import type { PreparedPlan } from '../run/prepare.js';
import { indexWarnings } from '../run/index-advice.js';
import type { Target } from '../../connectors/connector.js';
import { skewOf } from './profile-skew.js';
import { findProblems, type Problem } from './profile-problems.js';
import type { ProfileReport } from './profile-report.js';

/**
 * Above this many rows a job without chunk: is worth chunking: one chunk has no parallelism, holds
 * the whole source in one write, and a failure at its end redoes all of it. At the rates measured
 * here (files → PostgreSQL about 300k rows/s, docs/benchmarks.md) 5M rows is some 15–20 s of work,
 * still cheap to redo; past it, chunks pay for themselves.
 */
export const ONE_CHUNK_MAX_ROWS = 5_000_000;

/** The report of a one-chunk or rows-cut job: rows per chunk as the cut counted them (or one count), problems, no sampled estimate. */
export async function profileCut(job: Job, source: Source, target: Target, conn: DuckConn, plan: PreparedPlan, t0: number): Promise<ProfileReport> {
  const chunking = job.chunking;
  const total = plan.chunkRows !== undefined ? plan.chunkRows.reduce((a, b) => a + b, 0) : await countRows(source, conn);
  const counts = plan.chunkRows ?? [total];
  const skew = skewOf(plan.chunks, counts);
  const problems: Problem[] = findProblems({
    column: chunking.column ?? '', timezone: undefined, key: job.write.key, source: {}, nullRows: undefined, skew,
    targetAdvice: await indexWarnings(target, conn), recommended: chunking.kind === 'rows' ? `a smaller chunk.rows than ${chunking.rows}` : undefined,
  });
  if (chunking.kind === 'all' && total > ONE_CHUNK_MAX_ROWS) {
    problems.push({
      code: 'one-chunk',
      message: `the job has no chunk: and so runs as one chunk of ${total.toLocaleString('en-US')} rows (over ${ONE_CHUNK_MAX_ROWS.toLocaleString('en-US')}): no parallelism, and a failure near the end redoes all of it`,
      fix: `chunk: { column: <its primary key or a time column>, rows: 1000000 }`,
    });
  }
  return {
    job: job.name,
    source: source.describe(),
    column: chunking.kind === 'rows' ? chunking.columns.join(', ') : '(none)',
    chunking: chunking.kind === 'rows' ? `about ${chunking.rows.toLocaleString('en-US')} rows` : 'one chunk, the whole source',
    rows: { value: total, source: 'exact count' },
    bytes: undefined, min: undefined, max: undefined,
    perChunk: { source: chunking.kind === 'rows' && plan.chunkRows !== undefined ? 'exact counts of the cut' : 'exact count', chunks: plan.chunks.map((c, i) => ({ lo: c.lo, hi: c.hi, rows: counts[i] ?? 0 })) },
    skew, nullRows: undefined, duplicates: undefined, problems,
    estimate: { seconds: undefined, source: 'not measured: sampled estimates need chunk.every or chunk.size' },
    recommended: undefined,
    profileSeconds: (performance.now() - t0) / 1000,
  };
}

async function countRows(source: Source, conn: DuckConn): Promise<number> {
  if (source.countRows !== undefined) return source.countRows();
  const rows = await conn.all<{ n: string }>(`SELECT count(*) AS n FROM ${source.relation()}`);
  return Number(rows[0]?.n ?? 0);
}
