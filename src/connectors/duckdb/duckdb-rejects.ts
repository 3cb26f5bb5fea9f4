// Rows a DuckDB target table refuses (a constraint, a value that does not fit), found by bisection in
// transactions that are always rolled back, so the chunk's one real transaction takes exactly the rest.

import { quoteIdent } from '../../core/sql-text.js';
import { TooManyRejectsError, type ChunkWrite, type RejectedRow } from '../connector.js';

/** DuckDB's errors that blame the data rather than the statement or the system. */
const ROW_ERROR = /Constraint Error|Conversion Error|Out of Range Error|Invalid Input Error/i;

const ROW_COLUMN = '__backfill_row';

/**
 * The chunk's output, numbered, in a temporary table; each probe inserts a prefix of it (after the
 * replace's DELETE) in a transaction that is rolled back. DuckDB has no savepoints, so this finds
 * the refused rows first and the caller then writes the others in one transaction. Returns the
 * refused rows' numbers, or throws past `maxRejects`.
 */
export async function findRefusedRows(
  w: ChunkWrite, table: string, rows: string, prepare: () => Promise<void>, maxRejects: number,
): Promise<{ bad: number[]; rejected: RejectedRow[] }> {
  const count = Number((await w.conn.all<{ n: bigint }>(`SELECT count(*) AS n FROM ${rows}`, w.signal))[0]?.n ?? 0);
  const bad: number[] = [];
  const rejected: RejectedRow[] = [];
  const col = quoteIdent(ROW_COLUMN);
  // Inserts rows [0, upTo) but the refused ones found so far; undefined when the table takes them.
  const probe = async (upTo: number): Promise<string | undefined> => {
    await w.conn.run('BEGIN TRANSACTION', w.signal);
    try {
      await prepare();
      await w.conn.run(
        `INSERT INTO ${table} BY NAME SELECT * EXCLUDE (${col}) FROM ${rows} WHERE ${col} < ${upTo}${bad.length === 0 ? '' : ` AND ${col} NOT IN (${bad.join(', ')})`}`,
        w.signal,
      );
      return undefined;
    } catch (err) {
      const message = (err as { cause?: { message?: string } }).cause?.message ?? (err as Error).message;
      if (!ROW_ERROR.test(message)) throw err;
      return message.split('\n')[0];
    } finally {
      await w.conn.run('ROLLBACK').catch(() => {});
    }
  };
  // Prefixes, not halves: a row that clashes with an earlier one (a key twice in the chunk) is
  // found too. Each refused row costs about log2(n) probes; a clean chunk one.
  let settled = 0;
  let reason = await probe(count);
  while (reason !== undefined) {
    let ok = settled;
    let failing = count;
    while (failing - ok > 1) {
      const mid = ok + Math.floor((failing - ok) / 2);
      const r = await probe(mid);
      if (r === undefined) ok = mid;
      else {
        failing = mid;
        reason = r;
      }
    }
    const index = failing - 1;
    const [row] = await w.conn.all<{ raw: string; key: string | null }>(
      `SELECT to_json(r)::VARCHAR AS raw, ${w.key.length === 0 ? 'NULL' : `concat_ws(',', ${w.key.map((k) => `CAST(${quoteIdent(k)} AS VARCHAR)`).join(', ')})`} AS key
       FROM (SELECT * EXCLUDE (${col}) FROM ${rows} WHERE ${col} = ${index}) AS r`,
    );
    bad.push(index);
    rejected.push({ source: null, line: null, key: row?.key ?? null, raw: row?.raw ?? '', reason: `DuckDB: ${reason}` });
    if (rejected.length > maxRejects) {
      throw new TooManyRejectsError(`the DuckDB table refused more than maxRejects ${maxRejects} row(s); first: ${(rejected[0] as RejectedRow).reason}`, {
        count: rejected.length,
        rows: rejected,
      });
    }
    settled = failing;
    reason = await probe(count);
  }
  return { bad, rejected };
}

/** The chunk's output numbered 0…n-1 in a temporary table, for probes and the final insert. */
export async function numberRows(w: ChunkWrite, temp: string): Promise<string> {
  await w.conn.run(`CREATE OR REPLACE TEMP TABLE ${temp} AS SELECT (row_number() OVER ()) - 1 AS ${quoteIdent(ROW_COLUMN)}, * FROM (${w.query})`, w.signal);
  return temp;
}

export function acceptedRows(rows: string, bad: readonly number[]): string {
  const col = quoteIdent(ROW_COLUMN);
  return `(SELECT * EXCLUDE (${col}) FROM ${rows}${bad.length === 0 ? '' : ` WHERE ${col} NOT IN (${bad.join(', ')})`})`;
}
