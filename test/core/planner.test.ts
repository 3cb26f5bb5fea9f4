// Property tests for chunk planning (time and key), DST behaviour, selectChunks and parseInstant.
import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { DateTime } from 'luxon';
import { chunkRange, parseInstant, parseKey, planChunks, selectChunks, type KeyChunking, type TimeChunking } from '../../src/core/planner.js';
import type { Chunk } from '../../src/core/chunk.js';
import type { CalendarUnit } from '../../src/core/duration.js';
import { PlanError } from '../../src/core/errors.js';

const RUNS = { numRuns: 200 };
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

// Zones whose DST shifts are whole hours and never skip local midnight, so calendar alignment is well defined.
const ZONES = ['UTC', 'America/New_York', 'Europe/Berlin', 'Australia/Sydney', 'Asia/Kolkata', 'Pacific/Auckland', 'America/Los_Angeles'] as const;
const UNITS: readonly CalendarUnit[] = ['hour', 'day', 'week', 'month', 'year'];
/** Longest span generated per unit, keeping chunk counts small. */
const SPAN: Record<CalendarUnit, number> = { hour: 8 * DAY, day: 200 * DAY, week: 3 * 365 * DAY, month: 12 * 365 * DAY, year: 80 * 365 * DAY };

const T_MIN = Date.UTC(1995, 0, 1);
const T_MAX = Date.UTC(2035, 0, 1);

function timeRanges(chunks: readonly Chunk[]): { lo: number; hi: number }[] {
  return chunks.map((c) => {
    expect(c.kind).toBe('time');
    return { lo: Date.parse(c.lo), hi: Date.parse(c.hi) };
  });
}

function keyRanges(chunks: readonly Chunk[]): { lo: bigint; hi: bigint }[] {
  return chunks.map((c) => {
    expect(c.kind).toBe('key');
    return { lo: BigInt(c.lo), hi: BigInt(c.hi) };
  });
}

/** Shared invariants: non-empty chunks, consecutive chunks touch, keys and tags unique and consistent. */
function checkStructure<T extends number | bigint>(chunks: readonly Chunk[], ranges: readonly { lo: T; hi: T }[]): void {
  for (const r of ranges) expect(r.lo < r.hi).toBe(true);
  for (let i = 0; i + 1 < ranges.length; i++) expect(ranges[i]!.hi).toBe(ranges[i + 1]!.lo);
  expect(new Set(chunks.map((c) => c.key)).size).toBe(chunks.length);
  expect(new Set(chunks.map((c) => c.tag)).size).toBe(chunks.length);
  for (const c of chunks) {
    expect(c.key).toBe(`${c.lo}/${c.hi}`);
    expect(c.tag).toMatch(/^[A-Za-z0-9_]+$/);
    const r = chunkRange(c);
    expect(String(r.lo)).toBe(String(c.kind === 'time' ? Date.parse(c.lo) : BigInt(c.lo)));
  }
}

function owners<T extends number | bigint>(ranges: readonly { lo: T; hi: T }[], value: T): number[] {
  const out: number[] = [];
  ranges.forEach((r, i) => {
    if (r.lo <= value && value < r.hi) out.push(i);
  });
  return out;
}

/** Every boundary belongs to exactly one chunk: the one that starts there. */
function checkTies<T extends number | bigint>(ranges: readonly { lo: T; hi: T }[]): void {
  ranges.forEach((r, i) => {
    expect(owners(ranges, r.lo)).toEqual([i]);
  });
  const last = ranges[ranges.length - 1];
  if (last !== undefined) expect(owners(ranges, last.hi)).toEqual([]);
}

function isAligned(ms: number, zone: string, unit: CalendarUnit): boolean {
  return DateTime.fromMillis(ms, { zone }).startOf(unit).toMillis() === ms;
}

/** Boundaries that are not the clipped from/to fall on calendar boundaries exactly n units apart. */
function checkTimeAlignment(ranges: readonly { lo: number; hi: number }[], spec: TimeChunking, lastClipped: boolean): void {
  const n = spec.step.n;
  const unitKey = `${spec.step.unit}s`;
  const interior = ranges.slice(0, lastClipped ? -1 : undefined).map((r) => r.hi);
  for (const b of interior) expect(isAligned(b, spec.timezone, spec.step.unit)).toBe(true);
  for (let i = 0; i + 1 < interior.length; i++) {
    const next = DateTime.fromMillis(interior[i]!, { zone: spec.timezone }).plus({ [unitKey]: n }).toMillis();
    expect(interior[i + 1]).toBe(next);
  }
}

const timeCase = fc
  .record({
    unit: fc.constantFrom(...UNITS),
    n: fc.integer({ min: 1, max: 3 }),
    zone: fc.constantFrom(...ZONES),
    start: fc.integer({ min: T_MIN, max: T_MAX }),
    frac: fc.double({ min: 0, max: 1, noNaN: true }),
    probe: fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true }),
  })
  .map(({ unit, n, zone, start, frac, probe }) => ({ unit, n, zone, start, span: Math.floor(frac * SPAN[unit]), probe }));

function timeSpec(unit: CalendarUnit, n: number, zone: string, from?: number, to?: number): TimeChunking {
  return { kind: 'time', column: 'ts', step: { n, unit }, timezone: zone, from, to };
}

describe('planChunks: time chunking (properties)', () => {
  it('with from/to: starts at from, ends at to, contiguous, aligned, ties never straddle', () => {
    fc.assert(
      fc.property(timeCase, ({ unit, n, zone, start, span, probe }) => {
        const from = start;
        const to = start + Math.max(1, span);
        const spec = timeSpec(unit, n, zone, from, to);
        const chunks = planChunks(spec, undefined);
        const ranges = timeRanges(chunks);
        expect(ranges.length).toBeGreaterThan(0);
        expect(ranges[0]!.lo).toBe(from);
        expect(ranges[ranges.length - 1]!.hi).toBe(to);
        checkStructure(chunks, ranges);
        checkTies(ranges);
        checkTimeAlignment(ranges, spec, true);
        const v = from + Math.floor(probe * (to - from));
        expect(owners(ranges, v)).toHaveLength(1);
      }),
      RUNS,
    );
  });

  it('from source bounds only: min in the first chunk, max in the last, contiguous, aligned', () => {
    fc.assert(
      fc.property(timeCase, ({ unit, n, zone, start, span, probe }) => {
        const min = start;
        const max = start + span;
        const spec = timeSpec(unit, n, zone);
        const chunks = planChunks(spec, { min, max });
        const ranges = timeRanges(chunks);
        expect(ranges.length).toBeGreaterThan(0);
        const first = ranges[0]!;
        const last = ranges[ranges.length - 1]!;
        expect(first.lo <= min && min < first.hi).toBe(true);
        expect(last.lo <= max && max < last.hi).toBe(true);
        // without from, the first chunk starts on the calendar boundary at or before min
        expect(first.lo).toBe(DateTime.fromMillis(min, { zone }).startOf(unit).toMillis());
        checkStructure(chunks, ranges);
        checkTies(ranges);
        checkTimeAlignment(ranges, spec, false);
        const v = min + Math.floor(probe * (max - min + 1));
        expect(owners(ranges, v)).toHaveLength(1);
      }),
      RUNS,
    );
  });

  it('from given, to from the source max: starts at from, max in the last chunk', () => {
    fc.assert(
      fc.property(timeCase, fc.integer({ min: 0, max: 10 * DAY }), ({ unit, n, zone, start, span }, before) => {
        const from = start;
        const max = start + span;
        const spec = timeSpec(unit, n, zone, from);
        const ranges = timeRanges(planChunks(spec, { min: from - before, max }));
        expect(ranges[0]!.lo).toBe(from);
        const last = ranges[ranges.length - 1]!;
        expect(last.lo <= max && max < last.hi).toBe(true);
        for (let i = 0; i + 1 < ranges.length; i++) expect(ranges[i]!.hi).toBe(ranges[i + 1]!.lo);
        checkTimeAlignment(ranges, spec, false);
      }),
      RUNS,
    );
  });

  it('to given, from from the source min: min in the first chunk, ends exactly at to', () => {
    fc.assert(
      fc.property(timeCase, ({ unit, n, zone, start, span }) => {
        const min = start;
        const to = start + 1 + span;
        const spec = timeSpec(unit, n, zone, undefined, to);
        const ranges = timeRanges(planChunks(spec, { min, max: to + DAY }));
        const first = ranges[0]!;
        expect(first.lo <= min && min < first.hi).toBe(true);
        expect(isAligned(first.lo, zone, unit)).toBe(true);
        expect(ranges[ranges.length - 1]!.hi).toBe(to);
        for (let i = 0; i + 1 < ranges.length; i++) expect(ranges[i]!.hi).toBe(ranges[i + 1]!.lo);
        checkTimeAlignment(ranges, spec, true);
      }),
      RUNS,
    );
  });

  it('a source whose min equals max yields one chunk containing it', () => {
    fc.assert(
      fc.property(fc.constantFrom(...UNITS), fc.constantFrom(...ZONES), fc.integer({ min: T_MIN, max: T_MAX }), (unit, zone, t) => {
        const ranges = timeRanges(planChunks(timeSpec(unit, 1, zone), { min: t, max: t }));
        expect(ranges).toHaveLength(1);
        expect(ranges[0]!.lo <= t && t < ranges[0]!.hi).toBe(true);
      }),
      RUNS,
    );
  });

  it('a max exactly on a boundary opens a new last chunk starting there', () => {
    const from = Date.UTC(2021, 2, 1);
    const max = Date.UTC(2021, 2, 3);
    const ranges = timeRanges(planChunks(timeSpec('day', 1, 'UTC', from), { min: from, max }));
    expect(ranges).toHaveLength(3);
    expect(ranges[2]).toEqual({ lo: max, hi: max + DAY });
  });
});

describe('planChunks: time chunking edge cases', () => {
  it('returns no chunks for an empty source without from/to', () => {
    expect(planChunks(timeSpec('day', 1, 'UTC'), undefined)).toEqual([]);
    expect(planChunks(timeSpec('day', 1, 'UTC', Date.UTC(2021, 0, 1)), undefined)).toEqual([]);
  });

  it('refuses to <= from and unknown time zones with a PlanError', () => {
    const t = Date.UTC(2021, 0, 1);
    expect(() => planChunks(timeSpec('day', 1, 'UTC', t, t), undefined)).toThrow(PlanError);
    expect(() => planChunks(timeSpec('day', 1, 'UTC', t, t - 1), undefined)).toThrow(/must be after/);
    expect(() => planChunks(timeSpec('day', 1, 'Mars/Olympus_Mons', t, t + DAY), undefined)).toThrow(/unknown time zone/);
  });

  it('without from, the first chunk is calendar-aligned so older data arriving later keeps the keys stable', () => {
    const spec = timeSpec('day', 1, 'UTC');
    const a = planChunks(spec, { min: Date.parse('2021-03-01T05:17:00Z'), max: Date.parse('2021-03-02T10:00:00Z') });
    const b = planChunks(spec, { min: Date.parse('2021-03-01T00:00:01Z'), max: Date.parse('2021-03-02T10:00:00Z') });
    expect(a.map((c) => c.key)).toEqual(['2021-03-01T00:00:00Z/2021-03-02T00:00:00Z', '2021-03-02T00:00:00Z/2021-03-03T00:00:00Z']);
    expect(b).toEqual(a);
  });

  it('accepts bigint source bounds for time chunking', () => {
    const min = Date.UTC(2021, 0, 1, 5);
    const ranges = timeRanges(planChunks(timeSpec('day', 1, 'UTC'), { min: BigInt(min), max: BigInt(min + 2 * DAY) }));
    expect(ranges).toHaveLength(3);
    expect(ranges[2]!.hi).toBe(Date.UTC(2021, 0, 4));
  });
});

describe('planChunks: DST', () => {
  function dailyLengths(zone: string, from: string, to: string): Map<string, number> {
    const chunks = planChunks(timeSpec('day', 1, zone, parseInstant(from, zone), parseInstant(to, zone)), undefined);
    const ranges = timeRanges(chunks);
    for (let i = 0; i + 1 < ranges.length; i++) expect(ranges[i]!.hi).toBe(ranges[i + 1]!.lo);
    for (const c of chunks) {
      const lo = DateTime.fromISO(c.lo).setZone(zone);
      const hi = DateTime.fromISO(c.hi).setZone(zone);
      expect(lo.hour).toBe(0);
      expect(lo.minute).toBe(0);
      expect(hi.hour).toBe(0);
      expect(hi.minute).toBe(0);
    }
    return new Map(chunks.map((c) => [DateTime.fromISO(c.lo).setZone(zone).toISODate() ?? '', Date.parse(c.hi) - Date.parse(c.lo)]));
  }

  const cases = [
    { zone: 'America/New_York', short: '2021-03-14', long: '2021-11-07' },
    { zone: 'Europe/Berlin', short: '2021-03-28', long: '2021-10-31' },
    { zone: 'Australia/Sydney', short: '2021-10-03', long: '2021-04-04' },
  ];

  for (const { zone, short, long } of cases) {
    it(`daily chunks in ${zone}: ${short} is 23h, ${long} is 25h, every boundary local midnight`, () => {
      const lengths = dailyLengths(zone, '2021-01-01', '2022-01-01');
      expect(lengths.size).toBe(365);
      expect(lengths.get(short)).toBe(23 * HOUR);
      expect(lengths.get(long)).toBe(25 * HOUR);
      const others = [...lengths].filter(([day]) => day !== short && day !== long);
      expect(others).toHaveLength(363);
      for (const [, ms] of others) expect(ms).toBe(DAY);
    });

    it(`hourly chunks in ${zone} across both DST changes are exactly one hour`, () => {
      for (const [day, count] of [
        [short, 23],
        [long, 25],
      ] as const) {
        const from = parseInstant(day, zone);
        const to = DateTime.fromMillis(from, { zone }).plus({ days: 1 }).toMillis();
        const ranges = timeRanges(planChunks(timeSpec('hour', 1, zone, from, to), undefined));
        expect(ranges).toHaveLength(count);
        for (const r of ranges) expect(r.hi - r.lo).toBe(HOUR);
      }
    });

    it(`monthly chunks in ${zone} start at local midnight on the 1st`, () => {
      const chunks = planChunks(timeSpec('month', 1, zone, parseInstant('2020-01-01', zone), parseInstant('2023-01-01', zone)), undefined);
      expect(chunks).toHaveLength(36);
      for (const c of chunks) {
        const lo = DateTime.fromISO(c.lo).setZone(zone);
        expect([lo.day, lo.hour, lo.minute, lo.second]).toEqual([1, 0, 0, 0]);
      }
      // from source bounds too: every boundary after the first chunk's start is a local 1st-of-month midnight
      const fromBounds = planChunks(timeSpec('month', 1, zone), { min: Date.UTC(2021, 1, 10, 13), max: Date.UTC(2021, 11, 31, 23, 59) });
      for (const c of fromBounds) {
        const hi = DateTime.fromISO(c.hi).setZone(zone);
        expect([hi.day, hi.hour, hi.minute]).toEqual([1, 0, 0]);
      }
    });
  }

  it('weekly chunks start on Monday local midnight; yearly on 1 January', () => {
    const zone = 'America/New_York';
    const weeks = planChunks(timeSpec('week', 1, zone, parseInstant('2021-03-01', zone), parseInstant('2021-12-27', zone)), undefined);
    for (const c of weeks) {
      const lo = DateTime.fromISO(c.lo).setZone(zone);
      expect([lo.weekday, lo.hour]).toEqual([1, 0]);
    }
    const years = planChunks(timeSpec('year', 2, 'Europe/Berlin', parseInstant('2000-01-01', 'Europe/Berlin'), parseInstant('2010-01-01', 'Europe/Berlin')), undefined);
    expect(years.map((c) => DateTime.fromISO(c.lo).setZone('Europe/Berlin').toISODate())).toEqual(['2000-01-01', '2002-01-01', '2004-01-01', '2006-01-01', '2008-01-01']);
  });
});

// ---------------------------------------------------------------------------------------------- keys

function floorDiv(a: bigint, b: bigint): bigint {
  const q = a / b;
  return a % b !== 0n && a < 0n !== b < 0n ? q - 1n : q;
}

function floorMod(a: bigint, b: bigint): bigint {
  return a - floorDiv(a, b) * b;
}

const keyCase = fc
  .record({
    size: fc.oneof(fc.bigInt({ min: 1n, max: 10n }), fc.bigInt({ min: 1n, max: 1_000_000n }), fc.bigInt({ min: 1n, max: 10n ** 20n })),
    start: fc.oneof(fc.bigInt({ min: -100n, max: 100n }), fc.bigInt({ min: -(10n ** 22n), max: 10n ** 22n })),
    k: fc.integer({ min: 0, max: 120 }),
    r: fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true }),
    probe: fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true }),
  })
  .map(({ size, start, k, r, probe }) => {
    const rest = BigInt(Math.floor(r * 1e9)) % size;
    return { size, start, span: size * BigInt(k) + rest, probe };
  });

function keySpec(size: bigint, from?: bigint, to?: bigint): KeyChunking {
  return { kind: 'key', column: 'id', size, from, to };
}

function probeIn(lo: bigint, hi: bigint, probe: number): bigint {
  return lo + (BigInt(Math.floor(probe * 1e9)) * (hi - lo)) / 1_000_000_000n;
}

describe('planChunks: key chunking (properties)', () => {
  it('from source bounds: aligned to multiples of size, min in the first chunk, max in the last', () => {
    fc.assert(
      fc.property(keyCase, ({ size, start, span, probe }) => {
        const min = start;
        const max = start + span;
        const chunks = planChunks(keySpec(size), { min, max });
        const ranges = keyRanges(chunks);
        const first = ranges[0]!;
        const last = ranges[ranges.length - 1]!;
        expect(first.lo <= min && min < first.hi).toBe(true);
        expect(last.lo <= max && max < last.hi).toBe(true);
        checkStructure(chunks, ranges);
        checkTies(ranges);
        for (const r of ranges) {
          expect(floorMod(r.lo, size)).toBe(0n);
          expect(r.hi - r.lo).toBe(size);
        }
        expect(owners(ranges, probeIn(min, max + 1n, probe))).toHaveLength(1);
      }),
      RUNS,
    );
  });

  it('with from/to: starts at from, ends at to, inner boundaries multiples of size', () => {
    fc.assert(
      fc.property(keyCase, ({ size, start, span, probe }) => {
        const from = start;
        const to = start + span + 1n;
        const chunks = planChunks(keySpec(size, from, to), undefined);
        const ranges = keyRanges(chunks);
        expect(ranges[0]!.lo).toBe(from);
        expect(ranges[ranges.length - 1]!.hi).toBe(to);
        checkStructure(chunks, ranges);
        checkTies(ranges);
        for (const r of ranges.slice(0, -1)) expect(floorMod(r.hi, size)).toBe(0n);
        for (const r of ranges) expect(r.hi - r.lo <= size).toBe(true);
        expect(owners(ranges, probeIn(from, to, probe))).toHaveLength(1);
      }),
      RUNS,
    );
  });

  it('from given and max from the source; to given and min from the source', () => {
    fc.assert(
      fc.property(keyCase, ({ size, start, span }) => {
        const max = start + span;
        const a = keyRanges(planChunks(keySpec(size, start), { min: start - 5n, max }));
        expect(a[0]!.lo).toBe(start);
        expect(a[a.length - 1]!.lo <= max && max < a[a.length - 1]!.hi).toBe(true);
        for (let i = 0; i + 1 < a.length; i++) expect(a[i]!.hi).toBe(a[i + 1]!.lo);

        const to = max + 1n;
        const b = keyRanges(planChunks(keySpec(size, undefined, to), { min: start, max: max + 1000n }));
        expect(b[0]!.lo <= start && start < b[0]!.hi).toBe(true);
        expect(b[b.length - 1]!.hi).toBe(to);
        for (let i = 0; i + 1 < b.length; i++) expect(b[i]!.hi).toBe(b[i + 1]!.lo);
      }),
      RUNS,
    );
  });

  it('negative keys align with floor division', () => {
    const chunks = planChunks(keySpec(10n), { min: -15n, max: 3n });
    expect(chunks.map((c) => c.key)).toEqual(['-20/-10', '-10/0', '0/10']);
    expect(chunks.map((c) => c.tag)).toEqual(['km20_m10', 'km10_0', 'k0_10']);
  });

  it('accepts number bounds and refuses bad sizes or to <= from', () => {
    expect(keyRanges(planChunks(keySpec(100n), { min: 150, max: 250 }))).toEqual([
      { lo: 100n, hi: 200n },
      { lo: 200n, hi: 300n },
    ]);
    expect(() => planChunks(keySpec(0n), { min: 0n, max: 1n })).toThrow(PlanError);
    expect(() => planChunks(keySpec(-5n), { min: 0n, max: 1n })).toThrow(/at least 1/);
    expect(() => planChunks(keySpec(10n, 5n, 5n), undefined)).toThrow(/must be greater/);
    expect(planChunks(keySpec(10n), undefined)).toEqual([]);
  });

  it('stops at MAX_CHUNKS with a PlanError', () => {
    expect(() => planChunks(keySpec(1n, 0n, 2_000_000n), undefined)).toThrow(/more than 1000000 chunks/);
  });
});

// ---------------------------------------------------------------------------------------------- selection

describe('selectChunks', () => {
  const utcMonths = planChunks(timeSpec('month', 1, 'UTC', Date.UTC(2021, 0, 1), Date.UTC(2021, 6, 1)), undefined);

  it('--from 2021-03-01 --to 2021-04-01 with monthly chunks selects exactly March', () => {
    const sel = selectChunks(utcMonths, '2021-03-01', '2021-04-01', 'UTC');
    expect(sel.map((c) => c.key)).toEqual(['2021-03-01T00:00:00Z/2021-04-01T00:00:00Z']);
  });

  it('selects exactly March in a time zone too', () => {
    const zone = 'Europe/Berlin';
    const months = planChunks(timeSpec('month', 1, zone, parseInstant('2021-01-01', zone), parseInstant('2021-07-01', zone)), undefined);
    const sel = selectChunks(months, '2021-03-01', '2021-04-01', zone);
    expect(sel).toHaveLength(1);
    expect(sel[0]!.lo).toBe('2021-02-28T23:00:00Z');
    expect(sel[0]!.hi).toBe('2021-03-31T22:00:00Z');
  });

  it('uses overlap semantics: a partial overlap selects the chunk, touching does not', () => {
    expect(selectChunks(utcMonths, '2021-03-15', '2021-04-02', 'UTC').map((c) => c.lo)).toEqual(['2021-03-01T00:00:00Z', '2021-04-01T00:00:00Z']);
    expect(selectChunks(utcMonths, '2021-03-31T23:59:59Z', '2021-04-01', 'UTC').map((c) => c.lo)).toEqual(['2021-03-01T00:00:00Z']);
    expect(selectChunks(utcMonths, '2021-04-01', '2021-04-01T00:00:01Z', 'UTC').map((c) => c.lo)).toEqual(['2021-04-01T00:00:00Z']);
  });

  it('open ends: only from, only to, neither', () => {
    expect(selectChunks(utcMonths, '2021-05-01', undefined, 'UTC')).toHaveLength(2);
    expect(selectChunks(utcMonths, undefined, '2021-02-01', 'UTC')).toHaveLength(1);
    expect(selectChunks(utcMonths, undefined, undefined, 'UTC')).toEqual(utcMonths);
  });

  it('property: selected = chunks overlapping [from, to) in order, for random windows', () => {
    const chunks = planChunks(timeSpec('day', 1, 'America/New_York', Date.UTC(2021, 0, 1, 5), Date.UTC(2021, 11, 31, 5)), undefined);
    const ranges = timeRanges(chunks);
    const t0 = ranges[0]!.lo - 3 * DAY;
    const t1 = ranges[ranges.length - 1]!.hi + 3 * DAY;
    fc.assert(
      fc.property(fc.integer({ min: t0, max: t1 }), fc.integer({ min: 1, max: 60 * DAY }), (f, len) => {
        const t = f + len;
        const sel = selectChunks(chunks, new Date(f).toISOString(), new Date(t).toISOString(), 'America/New_York');
        const expected = chunks.filter((_, i) => ranges[i]!.lo < t && f < ranges[i]!.hi);
        expect(sel).toEqual(expected);
      }),
      { numRuns: 100 },
    );
  });

  it('key chunks select by integer overlap', () => {
    const chunks = planChunks(keySpec(10n, -30n, 30n), undefined);
    expect(selectChunks(chunks, '-10', '10', 'UTC').map((c) => c.key)).toEqual(['-10/0', '0/10']);
    expect(selectChunks(chunks, '-11', '0', 'UTC').map((c) => c.key)).toEqual(['-20/-10', '-10/0']);
    expect(selectChunks(chunks, '25', undefined, 'UTC').map((c) => c.key)).toEqual(['20/30']);
    expect(() => selectChunks(chunks, 'abc', undefined, 'UTC')).toThrow(PlanError);
  });
});

describe('parseInstant / parseKey', () => {
  it('a date alone is local midnight in the zone', () => {
    expect(parseInstant('2021-03-01', 'UTC')).toBe(Date.UTC(2021, 2, 1));
    expect(parseInstant('2021-03-01', 'Europe/Berlin')).toBe(Date.UTC(2021, 1, 28, 23));
    expect(parseInstant('2021-07-01', 'Europe/Berlin')).toBe(Date.UTC(2021, 5, 30, 22));
    expect(parseInstant('2021-03-01', 'America/New_York')).toBe(Date.UTC(2021, 2, 1, 5));
    expect(parseInstant('2021-03-01', 'Australia/Sydney')).toBe(Date.UTC(2021, 1, 28, 13));
  });

  it('a date-time without offset is wall-clock time in the zone; a space works like T', () => {
    expect(parseInstant('2021-03-01T12:30:00', 'Europe/Berlin')).toBe(Date.UTC(2021, 2, 1, 11, 30));
    expect(parseInstant('2021-03-01 12:30', 'Europe/Berlin')).toBe(Date.UTC(2021, 2, 1, 11, 30));
    expect(parseInstant('  2021-03-01  ', 'UTC')).toBe(Date.UTC(2021, 2, 1));
  });

  it('an explicit offset wins over the zone', () => {
    expect(parseInstant('2021-03-01T12:00:00Z', 'Europe/Berlin')).toBe(Date.UTC(2021, 2, 1, 12));
    expect(parseInstant('2021-03-01T12:00:00Z', 'America/New_York')).toBe(Date.UTC(2021, 2, 1, 12));
    expect(parseInstant('2021-03-01T12:00:00+05:30', 'UTC')).toBe(Date.UTC(2021, 2, 1, 6, 30));
  });

  it('property: any instant printed as ISO with Z parses back to itself in any zone', () => {
    fc.assert(
      fc.property(fc.integer({ min: T_MIN, max: T_MAX }), fc.constantFrom(...ZONES), (ms, zone) => {
        expect(parseInstant(new Date(ms).toISOString(), zone)).toBe(ms);
      }),
      RUNS,
    );
  });

  it('rejects non-dates with a PlanError', () => {
    expect(() => parseInstant('yesterday', 'UTC')).toThrow(PlanError);
    expect(() => parseInstant('2021-13-01', 'UTC')).toThrow(/not an ISO date/);
  });

  it('parseKey accepts integers (also beyond 2^53) and rejects the rest', () => {
    expect(parseKey(' -42 ')).toBe(-42n);
    expect(parseKey('123456789012345678901234567890')).toBe(123456789012345678901234567890n);
    expect(() => parseKey('1.5')).toThrow(PlanError);
    expect(() => parseKey('1e3')).toThrow(/not an integer key/);
  });
});
