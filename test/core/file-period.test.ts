// Table-driven tests for reading a file's day or month from its path.
import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { DateTime } from 'luxon';
import { filePeriod } from '../../src/core/file-period.js';

const DAY = 86_400_000;
const utc = (y: number, m: number, d: number): number => Date.UTC(y, m - 1, d);

describe('filePeriod (UTC)', () => {
  const cases: { path: string; lo: number; hi: number; unit: 'day' | 'month' }[] = [
    { path: 'data/events-2021-03-01.csv', lo: utc(2021, 3, 1), hi: utc(2021, 3, 2), unit: 'day' },
    { path: 'data/events-20210301.csv.gz', lo: utc(2021, 3, 1), hi: utc(2021, 3, 2), unit: 'day' },
    { path: 'sales-2021-03.parquet', lo: utc(2021, 3, 1), hi: utc(2021, 4, 1), unit: 'month' },
    { path: 'lake/date=2021-03-01/part.parquet', lo: utc(2021, 3, 1), hi: utc(2021, 3, 2), unit: 'day' },
    { path: 'lake/year=2021/month=03/day=07/x.parquet', lo: utc(2021, 3, 7), hi: utc(2021, 3, 8), unit: 'day' },
    { path: 'lake/year=2021/month=3/x.parquet', lo: utc(2021, 3, 1), hi: utc(2021, 4, 1), unit: 'month' },
    { path: 'lake/year=2021/month=12/x.parquet', lo: utc(2021, 12, 1), hi: utc(2022, 1, 1), unit: 'month' },
    { path: 'events-2024-02-29.csv', lo: utc(2024, 2, 29), hi: utc(2024, 3, 1), unit: 'day' },
    { path: 'sales-2024-02.csv', lo: utc(2024, 2, 1), hi: utc(2024, 3, 1), unit: 'month' },
    { path: 'C:\\data\\events-2021-03-01.csv', lo: utc(2021, 3, 1), hi: utc(2021, 3, 2), unit: 'day' },
    // a malformed day folder falls back to the month folder around it
    { path: 'lake/year=2021/month=03/day=123/x.parquet', lo: utc(2021, 3, 1), hi: utc(2021, 4, 1), unit: 'month' },
    { path: 'archive/2020/events-2021-03-01.csv', lo: utc(2021, 3, 1), hi: utc(2021, 3, 2), unit: 'day' },
  ];

  for (const { path, lo, hi, unit } of cases) {
    it(`${path} → ${new Date(lo).toISOString().slice(0, 10)} (${unit})`, () => {
      expect(filePeriod(path, 'UTC')).toEqual({ lo, hi, unit });
    });
  }

  const none = [
    'data/events.csv',
    'data/events-latest.parquet',
    'events-2021-13-45.csv',
    'events-2021-02-30.csv',
    'events-20211345.csv',
    'year=2021/month=13/x.parquet',
    'id-123456789.csv',
    'year=2021/month=123/x.parquet',
  ];
  for (const path of none) {
    it(`${path} → undefined`, () => {
      expect(filePeriod(path, 'UTC')).toBeUndefined();
    });
  }
});

describe('filePeriod in a time zone', () => {
  it('Europe/Berlin midnight in winter is 23:00Z of the previous day', () => {
    expect(filePeriod('events-2021-03-01.csv', 'Europe/Berlin')).toEqual({
      lo: Date.UTC(2021, 1, 28, 23),
      hi: Date.UTC(2021, 2, 1, 23),
      unit: 'day',
    });
  });

  it('Europe/Berlin summer midnight is 22:00Z; the DST day is 23 hours long', () => {
    const summer = filePeriod('date=2021-07-01/part.parquet', 'Europe/Berlin');
    expect(summer?.lo).toBe(Date.UTC(2021, 5, 30, 22));
    const dst = filePeriod('events-2021-03-28.csv', 'Europe/Berlin');
    expect(dst === undefined ? undefined : dst.hi - dst.lo).toBe(23 * 3_600_000);
  });

  it('a month in America/New_York runs from local midnight on the 1st to the next 1st', () => {
    expect(filePeriod('year=2021/month=03/x.parquet', 'America/New_York')).toEqual({
      lo: Date.UTC(2021, 2, 1, 5),
      hi: Date.UTC(2021, 3, 1, 4),
      unit: 'month',
    });
  });

  it('property: any valid day in any zone maps to that local day', () => {
    const zones = ['UTC', 'Europe/Berlin', 'America/New_York', 'Australia/Sydney', 'Asia/Kolkata'];
    fc.assert(
      fc.property(fc.integer({ min: Date.UTC(1990, 0, 1), max: Date.UTC(2040, 0, 1) }), fc.constantFrom(...zones), fc.boolean(), (ms, zone, compact) => {
        const iso = new Date(ms).toISOString().slice(0, 10);
        const name = `part-${compact ? iso.replace(/-/g, '') : iso}.csv`;
        const p = filePeriod(name, zone);
        const start = DateTime.fromISO(iso, { zone });
        expect(p).toEqual({ lo: start.toMillis(), hi: start.plus({ days: 1 }).toMillis(), unit: 'day' });
        expect(p === undefined ? 0 : Math.abs(p.hi - p.lo - DAY)).toBeLessThanOrEqual(3_600_000);
      }),
      { numRuns: 200 },
    );
  });
});

describe('filePeriod in UTC (read without luxon) agrees with the same zone read by luxon', () => {
  it('property: any digits, valid dates or not, days and months', () => {
    fc.assert(
      fc.property(fc.integer({ min: 900, max: 2100 }), fc.integer({ min: 0, max: 13 }), fc.integer({ min: 0, max: 32 }), fc.boolean(), (y, m, d, monthly) => {
        const two = (n: number): string => String(n).padStart(2, '0');
        const name = monthly ? `sales-${y}-${two(m)}.csv` : `events-${y}-${two(m)}-${two(d)}.csv`;
        expect(filePeriod(name, 'UTC')).toEqual(filePeriod(name, 'Etc/UTC'));
      }),
      { numRuns: 500 },
    );
  });
});

describe('filePeriod takes the last date in the path', () => {
  it.each([
    ['backup-2022-01-15/events-20210301.csv', '2021-03-01T00:00:00.000Z', 'day'],
    ['2021-03-01/events-20210302.csv', '2021-03-02T00:00:00.000Z', 'day'],
    ['year=2021/month=03/events-2021-03-05.csv', '2021-03-05T00:00:00.000Z', 'day'],
    ['2020-12-31/sales-2021-03.parquet', '2021-03-01T00:00:00.000Z', 'month'],
  ])('%s', (path, lo, unit) => {
    const p = filePeriod(path, 'UTC');
    expect(p === undefined ? undefined : { lo: new Date(p.lo).toISOString(), unit: p.unit }).toEqual({ lo, unit });
  });
});
