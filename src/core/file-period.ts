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
  // Candidates from every pattern; the one ending last in the path wins (the file name over its
  // folders), and at equal ends the earlier, more specific pattern.
  let best: { end: number; period: FilePeriod } | undefined;
  for (const { re, unit } of PATTERNS) {
    for (const match of normalized.matchAll(re)) {
      const [year, month, day] = [Number(match[1]), Number(match[2]), unit === 'day' ? Number(match[3]) : 1];
      const end = (match.index ?? 0) + match[0].length;
      if (year < 1000 || (best !== undefined && end <= best.end)) continue;
      const period = periodOf(year, month, day, unit, timezone);
      if (period !== undefined) best = { end, period };
    }
  }
  return best?.period;
}

/** The day or month as epoch milliseconds in `timezone`; UTC without luxon (a source of thousands of files pays it per file). */
function periodOf(year: number, month: number, day: number, unit: 'day' | 'month', timezone: string): FilePeriod | undefined {
  if (timezone === 'UTC') {
    const lo = Date.UTC(year, month - 1, day);
    const d = new Date(lo);
    if (d.getUTCFullYear() !== year || d.getUTCMonth() !== month - 1 || d.getUTCDate() !== day) return undefined;
    return { lo, hi: unit === 'day' ? Date.UTC(year, month - 1, day + 1) : Date.UTC(year, month, 1), unit };
  }
  const start = DateTime.fromObject({ year, month, day }, { zone: timezone });
  if (!start.isValid) return undefined;
  return { lo: start.toMillis(), hi: start.plus(unit === 'day' ? { days: 1 } : { months: 1 }).toMillis(), unit };
}
