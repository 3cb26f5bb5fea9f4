// Calendar steps such as "1 day" or "3 months" and lookback durations such as "2 hours".

export type CalendarUnit = 'hour' | 'day' | 'week' | 'month' | 'year';

export interface Step {
  readonly n: number;
  readonly unit: CalendarUnit;
}

const UNIT_ALIASES: Record<string, CalendarUnit> = {
  h: 'hour', hour: 'hour', hours: 'hour', hourly: 'hour',
  d: 'day', day: 'day', days: 'day', daily: 'day',
  w: 'week', week: 'week', weeks: 'week', weekly: 'week',
  mo: 'month', month: 'month', months: 'month', monthly: 'month',
  y: 'year', year: 'year', years: 'year', yearly: 'year',
};

/** Parse "1 day", "3 months", "week", "6h". Returns an error message instead of throwing. */
export function parseStep(text: string): Step | string {
  const match = /^\s*(\d+)?\s*([a-z]+)\s*$/i.exec(text);
  if (match === null) return `expected a count and a unit such as "1 day" or "3 months", got "${text}"`;
  const n = match[1] === undefined ? 1 : Number(match[1]);
  const unit = UNIT_ALIASES[(match[2] ?? '').toLowerCase()];
  if (unit === undefined) return `unknown unit "${match[2]}"; use hour, day, week, month or year`;
  if (!Number.isSafeInteger(n) || n < 1) return `the count must be a whole number of at least 1, got "${match[1]}"`;
  return { n, unit };
}

export function formatStep(step: Step): string {
  return `${step.n} ${step.unit}${step.n === 1 ? '' : 's'}`;
}

const DURATION_UNITS: Record<string, number> = {
  ms: 1, millisecond: 1, milliseconds: 1,
  s: 1000, sec: 1000, secs: 1000, second: 1000, seconds: 1000,
  m: 60_000, min: 60_000, mins: 60_000, minute: 60_000, minutes: 60_000,
  h: 3_600_000, hour: 3_600_000, hours: 3_600_000,
  d: 86_400_000, day: 86_400_000, days: 86_400_000,
};

/** Parse "30s", "10 minutes", "1.5 h" or a bare number of milliseconds. Returns an error message instead of throwing. */
export function parseDuration(value: string | number): number | string {
  if (typeof value === 'number') return value >= 0 && Number.isFinite(value) ? value : `expected a non-negative duration, got ${value}`;
  const match = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(value);
  if (match === null) return `expected a duration such as "30s" or "10 minutes", got "${value}"`;
  const unit = (match[2] ?? '').toLowerCase();
  const factor = unit === '' ? 1 : DURATION_UNITS[unit];
  if (factor === undefined) return `unknown duration unit "${match[2]}"; use ms, s, m, h or d`;
  return Math.round(Number(match[1]) * factor);
}

const SIZE_UNITS: Record<string, number> = { b: 1, kb: 1e3, mb: 1e6, gb: 1e9, kib: 1024, mib: 1024 ** 2, gib: 1024 ** 3 };

/** Parse "128MB", "1 GiB" or a number of bytes. Returns an error message instead of throwing. */
export function parseSize(value: string | number): number | string {
  if (typeof value === 'number') return value > 0 ? value : `expected a positive size, got ${value}`;
  const match = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(value);
  const factor = match === null ? undefined : SIZE_UNITS[(match[2] || 'b').toLowerCase()];
  if (match === null || factor === undefined) return `expected a size such as "128MB" or "1GiB", got "${value}"`;
  return Math.round(Number(match[1]) * factor);
}
