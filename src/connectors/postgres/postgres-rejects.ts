// Rows PostgreSQL refuses in a chunk's COPY, isolated by bisection under savepoints so the chunk keeps exactly the accepted rows.

import { createReadStream, readFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { TooManyRejectsError, type RejectedRow } from '../connector.js';

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
  for (const file of files) {
    // The clean path: the whole file in one COPY, streamed, under a savepoint.
    await client.query('SAVEPOINT backfill_rows');
    try {
      const sink = client.query(copyFrom(copySql));
      await pipeline(createReadStream(file), sink, { signal });
      await client.query('RELEASE SAVEPOINT backfill_rows');
      accepted += sink.rowCount;
      offered += sink.rowCount;
      continue;
    } catch (err) {
      await client.query('ROLLBACK TO SAVEPOINT backfill_rows');
      const code = (err as { code?: string }).code;
      if (code === undefined || !ROW_ERROR.test(code)) throw err;
    }
    // Refused: only now is the file split into records (one pass over its bytes) and bisected.
    const data = readFileSync(file);
    const records = csvRecords(data);
    offered += records.length;
    const attempt = async (lo: number, hi: number): Promise<void> => {
      if (lo >= hi) return;
      signal.throwIfAborted();
      const start = (records[lo] as [number, number])[0];
      const end = (records[hi - 1] as [number, number])[1];
      await client.query('SAVEPOINT backfill_rows');
      try {
        const sink = client.query(copyFrom(copySql));
        await pipeline(Readable.from([data.subarray(start, end)]), sink);
        await client.query('RELEASE SAVEPOINT backfill_rows');
        accepted += hi - lo;
        return;
      } catch (err) {
        await client.query('ROLLBACK TO SAVEPOINT backfill_rows');
        const e = err as { code?: string; message?: string; column?: string };
        if (e.code === undefined || !ROW_ERROR.test(e.code)) throw err;
        if (hi - lo === 1) {
          const raw = data.subarray(start, end).toString('utf8').replace(/\r?\n$/, '');
          const fields = csvFields(raw);
          const key = keyIndexes.length === 0 ? null : keyIndexes.map((i) => fields[i] ?? '').join(',');
          rejected.push({ source: null, line: null, key, raw, reason: `PostgreSQL ${e.code}: ${e.message ?? 'refused'}${e.column === undefined ? '' : ` (column ${e.column})`}` });
          if (rejected.length > maxRejects) {
            throw new TooManyRejectsError(`PostgreSQL refused more than maxRejects ${maxRejects} row(s); first: ${(rejected[0] as RejectedRow).reason}`, {
              count: rejected.length,
              rows: rejected,
            });
          }
          return;
        }
      }
      const mid = lo + Math.floor((hi - lo) / 2);
      await attempt(lo, mid);
      await attempt(mid, hi);
    };
    const mid = Math.floor(records.length / 2);
    await attempt(0, mid);
    await attempt(mid, records.length);
  }
  return { accepted, offered, rejected };
}

/** [start, end) byte offsets of each CSV record; a newline inside double quotes belongs to the field. */
export function csvRecords(data: Buffer): [number, number][] {
  const out: [number, number][] = [];
  let start = 0;
  let quoted = false;
  for (let i = 0; i < data.length; i++) {
    const b = data[i];
    if (b === 0x22) quoted = !quoted;
    else if (b === 0x0a && !quoted) {
      out.push([start, i + 1]);
      start = i + 1;
    }
  }
  if (start < data.length) out.push([start, data.length]);
  return out;
}

/** The fields of one CSV record (quotes removed, doubled quotes undone). */
export function csvFields(record: string): string[] {
  const fields: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < record.length; i++) {
    const c = record[i] as string;
    if (quoted) {
      if (c === '"' && record[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      fields.push(field);
      field = '';
    } else field += c;
  }
  fields.push(field);
  return fields;
}
