// Rows PostgreSQL refuses in a chunk's COPY, isolated by bisection under savepoints so the chunk keeps exactly the accepted rows.

import { createReadStream, readFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import type { RejectedRow } from '../connector.js';
import { bisectRecords } from '../refused-rows.js';

/** SQLSTATE classes that blame the data (22 data exception, 23 integrity constraint): only those are worth isolating. */
const ROW_ERROR = /^2[23]/;

export interface IsolatedLoad {
  /** Rows loaded (accepted) and rows offered. */
  readonly accepted: number;
  readonly offered: number;
  readonly rejected: readonly RejectedRow[];
}

/**
 * COPY the CSV files into `into`; when PostgreSQL refuses the data, roll back to a savepoint and
 * COPY halves, recursing into the halves that fail, until each refused row stands alone. A clean
 * chunk costs one savepoint more than a plain COPY; k bad rows among n cost about 2·k·log2(n/k)
 * COPYs. More than `maxRejects` refused rows throws TooManyRejectsError, and the caller's
 * transaction is rolled back, so no row of the chunk is written.
 */
export async function copyIsolating(
  client: pg.PoolClient, copySql: string, files: readonly string[], maxRejects: number, keyIndexes: readonly number[], signal: AbortSignal,
): Promise<IsolatedLoad> {
  let accepted = 0;
  let offered = 0;
  const rejected: RejectedRow[] = [];
  // Loads records under a savepoint; undefined when PostgreSQL took them, else its reason (rolled back).
  const load = async (input: Readable): Promise<string | undefined> => {
    await client.query('SAVEPOINT backfill_rows');
    try {
      const sink = client.query(copyFrom(copySql));
      await pipeline(input, sink, { signal });
      await client.query('RELEASE SAVEPOINT backfill_rows');
      accepted += sink.rowCount;
      return undefined;
    } catch (err) {
      await client.query('ROLLBACK TO SAVEPOINT backfill_rows');
      const e = err as { code?: string; message?: string; column?: string };
      if (e.code === undefined || !ROW_ERROR.test(e.code)) throw err;
      return `PostgreSQL ${e.code}: ${e.message ?? 'refused'}${e.column === undefined ? '' : ` (column ${e.column})`}`;
    }
  };
  for (const file of files) {
    // The clean path: the whole file in one COPY, streamed, under a savepoint.
    const before = accepted;
    if ((await load(createReadStream(file))) === undefined) {
      offered += accepted - before;
      continue;
    }
    // Refused: only now is the file split into records (one pass over its bytes) and bisected.
    const bytes = (part: Buffer): Promise<string | undefined> => load(Readable.from([part]));
    offered += await bisectRecords(readFileSync(file), bytes, { system: 'PostgreSQL', maxRejects, keyIndexes, signal }, rejected);
  }
  return { accepted, offered, rejected };
}
