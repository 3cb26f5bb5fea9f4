// Rows MySQL refuses in a chunk's LOAD DATA, isolated by bisection under savepoints so the chunk keeps exactly the accepted rows.

import { createReadStream, readFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import type { PoolConnection, ResultSetHeader } from 'mysql2/promise';
import { TooManyRejectsError, type RejectedRow } from '../connector.js';
import { csvFields, csvRecords } from '../postgres/postgres-rejects.js';

/** Errors that blame a row: duplicate key, NULL in NOT NULL, too long, bad value, truncated, CHECK, foreign key. */
const DATA_ERRNOS = new Set([1062, 1048, 1406, 1366, 1264, 1265, 1292, 3819, 4025, 1452]);

export interface IsolatedLoad {
  readonly accepted: number;
  readonly offered: number;
  readonly rejected: readonly RejectedRow[];
}

/**
 * `LOAD DATA LOCAL` turns a bad value into a warning and loads the row anyway (coerced, truncated
 * or, for a duplicate key, skipped), so a load is clean only without warnings. The whole file is
 * loaded once under a savepoint; when it warns, it is rolled back and loaded in halves, recursing
 * into the halves that warn, until each refused row stands alone with its warnings as the reason.
 * More than `maxRejects` refused rows throws TooManyRejectsError (the caller rolls the chunk back).
 */
export async function loadDataIsolating(
  conn: PoolConnection, loadSql: string, file: string, maxRejects: number, keyIndexes: readonly number[], signal: AbortSignal,
): Promise<IsolatedLoad> {
  const rejected: RejectedRow[] = [];
  // Returns the warnings of a load of these bytes, or undefined when it loaded cleanly (and counts it).
  let accepted = 0;
  const load = async (bytes: Buffer | undefined): Promise<string | undefined> => {
    await conn.query('SAVEPOINT backfill_rows');
    let result;
    try {
      [result] = await conn.query({
        sql: loadSql,
        values: [file],
        infileStreamFactory: () => (bytes === undefined ? createReadStream(file, { highWaterMark: 1 << 20 }) : Readable.from([bytes])),
      });
    } catch (err) {
      // Some refusals (a CHECK constraint) end the statement instead of warning.
      const e = err as { errno?: number; message?: string };
      if (e.errno === undefined || !DATA_ERRNOS.has(e.errno)) throw err;
      await conn.query('ROLLBACK TO SAVEPOINT backfill_rows');
      return `MySQL ${e.errno}: ${e.message ?? 'refused'}`;
    }
    const header = result as ResultSetHeader;
    if (header.warningStatus === 0) {
      await conn.query('RELEASE SAVEPOINT backfill_rows');
      accepted += header.affectedRows;
      return undefined;
    }
    const [rows] = await conn.query('SHOW WARNINGS LIMIT 3');
    await conn.query('ROLLBACK TO SAVEPOINT backfill_rows');
    return (rows as { Level: string; Code: number; Message: string }[]).map((r) => `MySQL ${r.Code}: ${r.Message}`).join('; ');
  };
  if ((await load(undefined)) === undefined) return { accepted, offered: accepted, rejected };
  const data = readFileSync(file);
  const records = csvRecords(data);
  const attempt = async (lo: number, hi: number): Promise<void> => {
    if (lo >= hi) return;
    signal.throwIfAborted();
    const start = (records[lo] as [number, number])[0];
    const end = (records[hi - 1] as [number, number])[1];
    const warnings = await load(data.subarray(start, end));
    if (warnings === undefined) return;
    if (hi - lo === 1) {
      const raw = data.subarray(start, end).toString('utf8').replace(/\r?\n$/, '');
      const fields = csvFields(raw);
      const key = keyIndexes.length === 0 ? null : keyIndexes.map((i) => fields[i] ?? '').join(',');
      rejected.push({ source: null, line: null, key, raw, reason: warnings });
      if (rejected.length > maxRejects) {
        throw new TooManyRejectsError(`MySQL refused more than maxRejects ${maxRejects} row(s); first: ${(rejected[0] as RejectedRow).reason}`, {
          count: rejected.length,
          rows: rejected,
        });
      }
      return;
    }
    const mid = lo + Math.floor((hi - lo) / 2);
    await attempt(lo, mid);
    await attempt(mid, hi);
  };
  const mid = Math.floor(records.length / 2);
  await attempt(0, mid);
  await attempt(mid, records.length);
  return { accepted, offered: records.length, rejected };
}
