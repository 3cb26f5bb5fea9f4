// Whether a transform maps each source row to exactly one output row, read from DuckDB's plan of it.

import type { Source } from '../../connectors/connector.js';
import type { Job } from '../../job/job.js';
import type { DuckConn } from '../../runtime/duckdb-session.js';
import { transformQuery } from './prepare.js';

/** Plan operators that make a transform's output depend on more than one row at a time, or drop rows. */
const NOT_ROW_LOCAL = /\b(HASH_GROUP_BY|PERFECT_HASH_GROUP_BY|UNGROUPED_AGGREGATE|STREAMING_WINDOW|WINDOW|ORDER_BY|TOP_N|LIMIT|STREAMING_LIMIT|LIMIT_PERCENT|HASH_JOIN|NESTED_LOOP_JOIN|PIECEWISE_MERGE_JOIN|IE_JOIN|ASOF_JOIN|CROSS_PRODUCT|UNION|DISTINCT|SAMPLE|UNNEST|CTE|CTE_SCAN|RECURSIVE_CTE|DELIM_JOIN|LEFT_DELIM_JOIN|RIGHT_DELIM_JOIN|FILTER)\b/;

/** No aggregate, window, join, limit or filter: rows written are the rows read, and chunks can be written in one pass. */
export async function isRowLocal(job: Job, source: Source, conn: DuckConn): Promise<boolean> {
  if (job.transform === undefined) return true;
  const explain = await conn.all<{ explain_value: string }>(`EXPLAIN ${transformQuery(job, source.relation())}`);
  return !NOT_ROW_LOCAL.test(explain.map((r) => r.explain_value).join('\n'));
}
