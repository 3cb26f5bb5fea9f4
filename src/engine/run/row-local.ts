// Whether a transform maps each source row to exactly one output row, read from DuckDB's plan of it.

import type { Source } from '../../connectors/connector.js';
import type { Job } from '../../job/job.js';
import type { DuckConn } from '../../runtime/duckdb-session.js';
import { transformQuery } from './prepare.js';

/** Plan operators that make a transform's output depend on more than one row at a time, or drop rows. */
const NOT_ROW_LOCAL = /\b(HASH_GROUP_BY|PERFECT_HASH_GROUP_BY|UNGROUPED_AGGREGATE|STREAMING_WINDOW|WINDOW|ORDER_BY|TOP_N|LIMIT|STREAMING_LIMIT|LIMIT_PERCENT|HASH_JOIN|NESTED_LOOP_JOIN|PIECEWISE_MERGE_JOIN|IE_JOIN|ASOF_JOIN|CROSS_PRODUCT|UNION|DISTINCT|SAMPLE|UNNEST|CTE|CTE_SCAN|RECURSIVE_CTE|DELIM_JOIN|LEFT_DELIM_JOIN|RIGHT_DELIM_JOIN|FILTER)\b/;

/** Answers already read from a plan, per job and query: the one pass and the chunk routes both ask. */
const answers = new WeakMap<Job, Map<string, boolean>>();

/** No aggregate, window, join, limit or filter: rows written are the rows read, and chunks can be written in one pass. */
export async function isRowLocal(job: Job, source: Source, conn: DuckConn): Promise<boolean> {
  if (job.transform === undefined) return true;
  const query = transformQuery(job, source.relation());
  const known = answers.get(job)?.get(query);
  if (known !== undefined) return known;
  const explain = await conn.all<{ explain_value: string }>(`EXPLAIN ${query}`);
  const local = !NOT_ROW_LOCAL.test(explain.map((r) => r.explain_value).join('\n'));
  const perJob = answers.get(job) ?? new Map<string, boolean>();
  perJob.set(query, local);
  answers.set(job, perJob);
  return local;
}
