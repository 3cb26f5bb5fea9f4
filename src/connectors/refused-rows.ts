// Rows a database target refuses, isolated by bisection: the records of the chunk's CSV file are
// loaded in halves, recursing into the halves refused, until each refused record stands alone.

import { TooManyRejectsError, type RejectedRow } from './connector.js';

/**
 * Bisect `data`'s CSV records. `load(bytes)` loads some records under a savepoint and returns
 * undefined when the target took them, or the target's reason after rolling back. A record
 * refused alone becomes a rejected row (its key from `keyIndexes`); more than `maxRejects` throws
 * TooManyRejectsError. k refused rows among n cost about 2·k·log2(n/k) loads. Returns the records offered.
 */
export async function bisectRecords(
  data: Buffer,
  load: (bytes: Buffer) => Promise<string | undefined>,
  options: { readonly system: string; readonly maxRejects: number; readonly keyIndexes: readonly number[]; readonly signal: AbortSignal },
  rejected: RejectedRow[],
): Promise<number> {
  const records = csvRecords(data);
  const attempt = async (lo: number, hi: number): Promise<void> => {
    if (lo >= hi) return;
    options.signal.throwIfAborted();
    const start = (records[lo] as [number, number])[0];
    const end = (records[hi - 1] as [number, number])[1];
    const reason = await load(data.subarray(start, end));
    if (reason === undefined) return;
    if (hi - lo === 1) {
      const raw = data.subarray(start, end).toString('utf8').replace(/\r?\n$/, '');
      const fields = csvFields(raw);
      const key = options.keyIndexes.length === 0 ? null : options.keyIndexes.map((i) => fields[i] ?? '').join(',');
      rejected.push({ source: null, line: null, key, raw, reason });
      if (rejected.length > options.maxRejects) {
        throw new TooManyRejectsError(`${options.system} refused more than maxRejects ${options.maxRejects} row(s); first: ${(rejected[0] as RejectedRow).reason}`, {
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
  return records.length;
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
