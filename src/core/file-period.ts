// Read the day or month a data file holds from its path (events-2021-03-01.csv, date=2021-03-01/, year=2021/month=03/).

import { DateTime } from 'luxon';

export interface FilePeriod {
  /** Epoch milliseconds, half-open. */
  readonly lo: number;
  readonly hi: number;
  readonly unit: 'day' | 'month';
}

const PATTERNS: readonly { re: RegExp; unit: 'day' | 'month' }[] = [
  { re: /year=(\d{4})\/month=(\d{1,2})\/day=(\d{1,2})(?=\/)/g, unit: 'day' },
  { re: /year=(\d{4})\/month=(\d{1,2})(?=\/)/g, unit: 'month' },
  { re: /(?<!\d)(\d{4})-(\d{2})-(\d{2})(?!\d)/g, unit: 'day' },
  { re: /(?<!\d)(\d{4})(\d{2})(\d{2})(?!\d)/g, unit: 'day' },
  { re: /(?<!\d)(\d{4})-(\d{2})(?![\d-])/g, unit: 'month' },
];

/**
 * The period named by the last date in the path, as wall-clock dates in `timezone`;
 * undefined when the path names no valid date.
 */
export function filePeriod(path: string, timezone: string): FilePeriod | undefined {
  const normalized = path.replace(/\\/g, '/');
  for (const { re, unit } of PATTERNS) {
    const matches = [...normalized.matchAll(re)];
    const last = matches[matches.length - 1];
    if (last === undefined) continue;
    const [year, month, day] = [Number(last[1]), Number(last[2]), unit === 'day' ? Number(last[3]) : 1];
    const start = DateTime.fromObject({ year, month, day }, { zone: timezone });
    if (!start.isValid || year < 1000) continue;
    return { lo: start.toMillis(), hi: start.plus(unit === 'day' ? { days: 1 } : { months: 1 }).toMillis(), unit };
  }
  return undefined;
}
