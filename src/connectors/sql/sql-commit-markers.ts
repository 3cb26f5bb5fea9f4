// Commit markers of SQL targets: one row per chunk naming the claim whose write committed, read back at recovery and forgotten with finished windows.

import { quoteLiteral } from '../../core/sql-text.js';

/** A statement with its parameter values. */
export interface Statement {
  readonly text: string;
  readonly values: unknown[];
}

/** How a database takes a value in a statement: a placeholder with the value passed beside it, or a literal in the text. */
export type Bind = (value: string, values: unknown[]) => string;

export const dollarParams: Bind = (value, values) => `$${values.push(value)}`;
export const questionParams: Bind = (value, values) => {
  values.push(value);
  return '?';
};
/** For a connection without parameters (DuckDB here): the value as an escaped literal. */
export const inlineLiterals: Bind = (value) => quoteLiteral(value);

export interface MarkerTable {
  /** The markers table, quoted and qualified. */
  readonly table: string;
  /** Its column of rows written (`rows`, or `rows_written` where ROWS is a reserved word). */
  readonly rows: string;
  readonly bind: Bind;
}

/** Keys per DELETE when forgetting markers, so no statement grows without bound. */
const FORGET_BATCH = 500;

/** The marker of one chunk of a job. */
export function readMarker(m: MarkerTable, job: string, chunkKey: string): Statement {
  const values: unknown[] = [];
  return { text: `SELECT lease, ${m.rows} FROM ${m.table} WHERE job = ${m.bind(job, values)} AND chunk_key = ${m.bind(chunkKey, values)}`, values };
}

/** The row `readMarker` returned, as `Target.committedLease` reports it. */
export function markerOf(m: MarkerTable, row: Record<string, unknown> | undefined): { lease: string; rows: number } | undefined {
  return row === undefined ? undefined : { lease: String(row.lease), rows: Number(row[m.rows]) };
}

/** DELETEs of the markers of these chunks of a job, in batches. */
export function forgetMarkers(m: MarkerTable, job: string, keys: readonly string[]): Statement[] {
  const out: Statement[] = [];
  for (let i = 0; i < keys.length; i += FORGET_BATCH) {
    const values: unknown[] = [];
    const jobValue = m.bind(job, values);
    const list = keys.slice(i, i + FORGET_BATCH).map((k) => m.bind(k, values));
    out.push({ text: `DELETE FROM ${m.table} WHERE job = ${jobValue} AND chunk_key IN (${list.join(', ')})`, values });
  }
  return out;
}
