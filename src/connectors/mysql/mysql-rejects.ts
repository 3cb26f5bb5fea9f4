// Rows MySQL refuses in a chunk's LOAD DATA, isolated by bisection under savepoints so the chunk keeps exactly the accepted rows.

import { createReadStream, readFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import type { PoolConnection, ResultSetHeader } from 'mysql2/promise';
import type { RejectedRow } from '../connector.js';
import { bisectRecords } from '../refused-rows.js';

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
  const load = async (bytes?: Buffer): Promise<string | undefined> => {
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
  if ((await load()) === undefined) return { accepted, offered: accepted, rejected };
  const offered = await bisectRecords(readFileSync(file), load, { system: 'MySQL', maxRejects, keyIndexes, signal }, rejected);
  return { accepted, offered, rejected };
}
