// Property tests for chunks cut by rows: no gaps, no overlaps, max included, ties kept, ≤ 2× the target unless one value alone is heavier.
import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { DateTime } from 'luxon';
import { cutEnds, cutKeys, cutRanges, cutTime, grainOf, type CumPoint } from '../../src/core/row-cut.js';
import { rangeValues } from '../../src/core/chunk.js';

const RUNS = { numRuns: 300 };

/** What a source reports for these values: the running count at every value where it crosses a grain, and at the first and last values. */
function report<V>(values: readonly V[], target: number, less: (a: V, b: V) => boolean): CumPoint<V>[] {
  const sorted = [...values].sort((a, b) => (less(a, b) ? -1 : less(b, a) ? 1 : 0));
  const groups: { value: V; n: number }[] = [];
  for (const v of sorted) {
    const last = groups[groups.length - 1];
    if (last !== undefined && !less(last.value, v)) last.n++;
    else groups.push({ value: v, n: 1 });
  }
  const g = grainOf(target);
  const out: CumPoint<V>[] = [];
  let cum = 0;
  groups.forEach((grp, i) => {
    const before = cum;
    cum += grp.n;
    if (Math.floor(before / g) < Math.floor(cum / g) || i === 0 || i === groups.length - 1) out.push({ value: grp.value, cum });
  });
  return out;
}

/** Values with a heavy tail: most in a few hot spots, some spread out. */
const skewed = fc.tuple(
  fc.array(fc.integer({ min: -2000, max: 2000 }), { minLength: 1, maxLength: 300 }),
  fc.array(fc.tuple(fc.integer({ min: -2000, max: 2000 }), fc.integer({ min: 1, max: 400 })), { maxLength: 4 }),
).map(([spread, hot]) => [...spread, ...hot.flatMap(([v, n]) => Array<number>(n).fill(v))]);

function heaviest(values: readonly number[], inChunk: (v: number) => boolean): number {
  const counts = new Map<number, number>();
  for (const v of values) if (inChunk(v)) counts.set(v, (counts.get(v) ?? 0) + 1);
  return Math.max(0, ...counts.values());
}

describe('cutKeys', () => {
  it('covers every value once, contiguously, within 2× the target unless one value alone is heavier', () => {
    fc.assert(
      fc.property(skewed, fc.integer({ min: 1, max: 200 }), (values, target) => {
        const cut = cutKeys(report(values.map(BigInt), target, (a, b) => a < b), target);
        const chunks = cut.map((c) => ({ lo: Number(c.chunk.lo), hi: Number(c.chunk.hi) }));
        for (let i = 1; i < chunks.length; i++) expect(chunks[i]?.lo).toBe(chunks[i - 1]?.hi);
        for (const c of chunks) expect(c.hi).toBeGreaterThan(c.lo);
        expect(chunks[0]?.lo).toBeLessThanOrEqual(Math.min(...values));
        expect(chunks[chunks.length - 1]?.hi).toBeGreaterThan(Math.max(...values));
        for (const c of chunks) {
          const rows = values.filter((v) => v >= c.lo && v < c.hi).length;
          if (rows > 2 * target) expect(heaviest(values, (v) => v >= c.lo && v < c.hi)).toBeGreaterThan(target);
        }
      }),
      RUNS,
    );
  });

  it('rounds boundaries to multiples of a power of ten where one fits', () => {
    const values = Array.from({ length: 1000 }, (_, i) => BigInt(1_000_000 + i * 7));
    const cut = cutKeys(report(values, 100, (a, b) => a < b), 100);
    expect(cut.slice(0, -1).every((c) => BigInt(c.chunk.hi) % 10n === 0n)).toBe(true);
  });

  it('continues after a recorded end without moving it', () => {
    const cut = cutKeys(report([50n, 51n, 52n, 90n], 2, (a, b) => a < b), 2, 40n);
    expect(cut[0]?.chunk.lo).toBe('40');
  });
});

describe('cutRanges', () => {
  it('puts every value in exactly one (lo, hi] chunk, ties together, the maximum in the last', () => {
    const words = fc.array(fc.constantFrom('a', 'b', 'c', 'd', 'e'), { minLength: 1, maxLength: 3 }).map((a) => a.join(''));
    fc.assert(
      fc.property(fc.array(words, { minLength: 1, maxLength: 300 }), fc.integer({ min: 1, max: 60 }), (values, target) => {
        const points = report(values, target, (a, b) => a < b).map((p) => ({ value: [p.value], cum: p.cum }));
        const cut = cutRanges(points, target, 0);
        const bounds = cut.map((c) => ({ lo: rangeValues(c.chunk.lo)?.[0] as string | undefined, hi: rangeValues(c.chunk.hi)?.[0] as string }));
        expect(bounds[0]?.lo).toBeUndefined();
        expect(bounds[bounds.length - 1]?.hi).toBe([...values].sort().pop());
        for (let i = 1; i < bounds.length; i++) expect(bounds[i]?.lo).toBe(bounds[i - 1]?.hi);
        for (const v of values) expect(bounds.filter((b) => (b.lo === undefined || v > b.lo) && v <= b.hi).length).toBe(1);
        for (const b of bounds) {
          const inIt = (v: string): boolean => (b.lo === undefined || v > b.lo) && v <= b.hi;
          const rows = values.filter(inIt).length;
          if (rows > 2 * target) {
            const counts = new Map<string, number>();
            for (const v of values.filter(inIt)) counts.set(v, (counts.get(v) ?? 0) + 1);
            expect(Math.max(...counts.values())).toBeGreaterThan(target);
          }
        }
        expect(cut.map((c) => c.rows).reduce((a, b) => a + b, 0)).toBe(values.length);
      }),
      RUNS,
    );
  });
});

describe('cutTime', () => {
  it('cuts contiguous chunks on calendar boundaries of the zone, the largest within 2× the target', () => {
    const zone = 'Europe/Berlin';
    // 12 months; the last holds 100× the rows of the first.
    const values: number[] = [];
    for (let m = 0; m < 12; m++) {
      const start = DateTime.fromObject({ year: 2023, month: m + 1, day: 1 }, { zone });
      const n = Math.round(10 * Math.pow(100, m / 11));
      for (let i = 0; i < n; i++) values.push(start.plus({ minutes: Math.floor((i * 43_000) / n) }).toMillis());
    }
    const target = 100;
    const cut = cutTime(report(values, target, (a, b) => a < b), target, zone, false);
    for (let i = 1; i < cut.length; i++) expect(cut[i]?.chunk.lo).toBe(cut[i - 1]?.chunk.hi);
    const counts = cut.map((c) => values.filter((v) => v >= Date.parse(c.chunk.lo) && v < Date.parse(c.chunk.hi)).length);
    expect(counts.reduce((a, b) => a + b, 0)).toBe(values.length);
    expect(Math.max(...counts)).toBeLessThanOrEqual(2 * target);
    // Most boundaries fall on a whole hour or coarser in the zone.
    const whole = cut.filter((c) => DateTime.fromISO(c.chunk.hi, { zone }).minute === 0).length;
    expect(whole / cut.length).toBeGreaterThan(0.8);
  });

  it('keeps date boundaries on local midnights', () => {
    const zone = 'America/New_York';
    const days = Array.from({ length: 200 }, (_, i) => DateTime.fromObject({ year: 2024, month: 1, day: 1 }, { zone }).plus({ days: i % 90 }).toMillis());
    const cut = cutTime(report(days, 10, (a, b) => a < b), 10, zone, true);
    for (const c of cut) expect(DateTime.fromISO(c.chunk.hi, { zone }).toFormat('HH:mm')).toBe('00:00');
  });
});

describe('cutEnds', () => {
  it('makes one chunk of a value heavier than the target', () => {
    const ends = cutEnds([{ value: 1, cum: 2 }, { value: 2, cum: 50 }, { value: 3, cum: 52 }], 10);
    expect(ends).toEqual([0, 1, 2]);
  });

  it('refuses a target below one row', () => {
    expect(() => cutEnds([], 0)).toThrow(/at least 1/);
  });
});
